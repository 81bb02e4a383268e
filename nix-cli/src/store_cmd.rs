//! `pkg store …`, `pkg pin …`, `pkg gc`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cid::Cid;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use store_ipfs::blocks::verify;
use store_ipfs::dag::{DagReader, Kind};
use store_ipfs::fuse::{View, mount};
use store_ipfs::gc;

use nix_formats::content_address::{ContentAddress, FileIngestionMethod};
use nix_formats::store_path::StoreDir;
use store_ipfs::store::{NewPath, Store, StoreError};
use store_ipfs::unixfs::{Discard, LeafError, SharedSink, add_path_parallel};

/// The program name pins made by this command are filed under.
const PROG: &str = "pkg";

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Add a file or directory tree; prints its root CID and pins it.
    Add {
        path: std::path::PathBuf,
        /// Compute the CID without writing anything.
        #[arg(long)]
        only_hash: bool,
    },
    /// Print a file's contents: CID or CID/sub/path.
    Cat { target: String },
    /// Write a DAG out as a file system tree.
    Get {
        target: String,
        dest: std::path::PathBuf,
    },
    /// Check every block against its CID; exits 1 if any is corrupt.
    Verify,
    /// Register a store path from a NAR on stdin, named as `nix-store
    /// --add` names it (recursive SHA-256 source path); prints the path and
    /// its root CID.
    AddNar {
        /// The store path's name (the part after the hash).
        name: String,
    },
    /// Show what the catalogue records for a valid store path.
    PathInfo { path: String },
    /// Mount a read-only view until interrupted: `<cid>/<path>` for any
    /// DAG, or with --store-dir the valid store paths by name.
    Mount {
        mountpoint: std::path::PathBuf,
        #[arg(long)]
        store_dir: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PinCmd {
    /// Pin a CID (its blocks must be in the store).
    Add { cid: Cid },
    /// Remove a pin.
    Rm { cid: Cid },
    /// List pins.
    Ls,
}

/// The user pins are filed under.
fn user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && !u.contains('/'))
        .unwrap_or_else(|| "root".into())
}

fn split_target(target: &str) -> Result<(Cid, &str)> {
    let target = target.strip_prefix("/ipfs/").unwrap_or(target);
    let (cid, rest) = target.split_once('/').unwrap_or((target, ""));
    Ok((
        cid.parse()
            .with_context(|| format!("'{cid}' is not a CID"))?,
        rest,
    ))
}

fn spinner(what: &str) -> Option<ProgressBar> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} {binary_bytes} ({binary_bytes_per_sec}) {elapsed}",
        )
        .expect("valid template"),
    );
    pb.set_message(what.to_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(pb)
}

/// Counts bytes into a progress bar while passing blocks on.
struct Progress<'a, S> {
    inner: S,
    bar: Option<&'a ProgressBar>,
}

impl<S: SharedSink> SharedSink for Progress<'_, S> {
    type Error = S::Error;
    fn put(&self, cid: &Cid, block: &[u8]) -> Result<(), S::Error> {
        if let Some(b) = self.bar {
            b.inc(block.len() as u64);
        }
        self.inner.put(cid, block)
    }

    fn put_leaf(
        &self,
        src: &std::fs::File,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Option<(Cid, usize)>, LeafError<S::Error>> {
        let r = self.inner.put_leaf(src, offset, buf)?;
        if let (Some(b), Some((_, n))) = (self.bar, &r) {
            b.inc(*n as u64);
        }
        Ok(r)
    }
}

/// Threads reading, hashing and storing files in `pkg store add`.
fn add_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8)
}

pub fn store(state: &Path, cmd: StoreCmd) -> Result<ExitCode> {
    match cmd {
        StoreCmd::Add { path, only_hash } => {
            let bar = spinner("adding");
            if only_hash {
                let sink = Progress {
                    inner: Discard,
                    bar: bar.as_ref(),
                };
                let e = add_path_parallel(&path, &sink, add_threads())
                    .with_context(|| format!("adding '{}'", path.display()))?;
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                println!("{}", e.cid);
                return Ok(ExitCode::SUCCESS);
            }
            let mut store = Store::open(state)?;
            let sink = Progress {
                inner: store.shared_writer()?,
                bar: bar.as_ref(),
            };
            let e = add_path_parallel(&path, &sink, add_threads())
                .with_context(|| format!("adding '{}'", path.display()))?;
            let written = sink.inner.finish();
            store.commit_pin(written, &user(), PROG, &e.cid)?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            println!("{}", e.cid);
        }
        StoreCmd::Cat { target } => {
            let store = Store::open(state)?;
            let (root, sub) = split_target(&target)?;
            let r = DagReader::new(&store.blocks);
            let cid = r.resolve(&root, sub.as_bytes())?;
            match r.kind(&cid)? {
                Kind::File { .. } => {
                    let mut out = std::io::stdout().lock();
                    r.write_file(&cid, &mut out)?;
                    out.flush()?;
                }
                Kind::Directory => bail!("'{target}' is a directory"),
                Kind::Symlink { target: t } => bail!(
                    "'{target}' is a symlink to '{}'",
                    String::from_utf8_lossy(&t)
                ),
            }
        }
        StoreCmd::Get { target, dest } => {
            let store = Store::open(state)?;
            let (root, sub) = split_target(&target)?;
            let r = DagReader::new(&store.blocks);
            let cid = r.resolve(&root, sub.as_bytes())?;
            r.restore(&cid, &dest)
                .with_context(|| format!("writing '{}'", dest.display()))?;
        }
        StoreCmd::Verify => return verify_all(state),
        StoreCmd::AddNar { name } => {
            let mut store = Store::open(state)?;
            let sd = StoreDir::default();
            let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
            let rec = store.add_nar_with(input, &name, |imp| {
                let path = sd
                    .make_fixed_output_path(
                        &name,
                        FileIngestionMethod::Recursive,
                        &imp.nar_hash,
                        &BTreeSet::new(),
                        false,
                    )
                    .map_err(|e| StoreError::Nar {
                        path: name.clone(),
                        source: Box::new(e),
                    })?;
                Ok(NewPath {
                    path,
                    references: BTreeSet::new(),
                    deriver: None,
                    ultimate: true,
                    sigs: BTreeSet::new(),
                    ca: Some(ContentAddress::Fixed {
                        method: FileIngestionMethod::Recursive,
                        hash: imp.nar_hash,
                    }),
                    nar_hash: None,
                    nar_size: None,
                })
            })?;
            println!("{}\t{}", sd.display(&rec.path), rec.root);
        }
        StoreCmd::PathInfo { path } => {
            let store = Store::open(state)?;
            let sd = StoreDir::default();
            let p = sd.parse_path(&path)?;
            let Some(rec) = store.catalogue.path_info(&p)? else {
                bail!("path '{path}' is not valid");
            };
            println!("path\t{}", sd.display(&rec.path));
            println!("root\t{}", rec.root);
            println!("narHash\t{}", rec.nar_hash.to_prefixed_nix32());
            println!("narSize\t{}", rec.nar_size);
            for r in &rec.references {
                println!("reference\t{}", sd.display(r));
            }
            if let Some(ca) = &rec.ca {
                println!("ca\t{ca}");
            }
        }
        StoreCmd::Mount {
            mountpoint,
            store_dir,
        } => {
            let view = if store_dir {
                View::StoreDir
            } else {
                View::Cids
            };
            let session = mount(state, view, &mountpoint)
                .with_context(|| format!("mounting at '{}'", mountpoint.display()))?;
            eprintln!("mounted at {} (interrupt to unmount)", mountpoint.display());
            let mut signals = signal_hook::iterator::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])?;
            signals.forever().next();
            session.umount_and_join().context("unmounting")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify_all(state: &Path) -> Result<ExitCode> {
    let store = Store::open(state)?;
    let cids = store.blocks.list()?;
    let bar = std::io::stdout().is_terminal().then(|| {
        let b = ProgressBar::new(cids.len() as u64);
        b.set_style(
            ProgressStyle::with_template("verifying {bar:40} {pos}/{len} blocks {eta}")
                .expect("valid template"),
        );
        b
    });
    let mut bad = 0;
    // Which valid store paths each block belongs to, to name them.
    let owners = block_owners(&store)?;
    let named = |c: &Cid| -> String {
        owners
            .get(c)
            .map(|ps| {
                let sd = StoreDir::default();
                let ps: Vec<String> = ps.iter().map(|p| format!("'{}'", sd.display(p))).collect();
                format!(" (in store path {})", ps.join(", "))
            })
            .unwrap_or_default()
    };
    for c in &cids {
        let path = store.blocks.path_of(c);
        let ok = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|d| verify(c, &d).map_err(|e| e.to_string()));
        if let Err(why) = ok {
            eprintln!("corrupt block {c}{}: {why}", named(c));
            bad += 1;
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let missing: Vec<Cid> = store
        .catalogue
        .all_blocks()?
        .into_iter()
        .filter(|c| !store.blocks.has(c))
        .collect();
    for c in &missing {
        eprintln!("missing block {c} (recorded in the catalogue){}", named(c));
    }
    println!(
        "checked {} blocks: {} corrupt, {} missing",
        cids.len(),
        bad,
        missing.len()
    );
    Ok(if bad == 0 && missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// For each block, the valid store paths whose DAGs contain it (through
/// the block links the catalogue records).
fn block_owners(
    store: &Store,
) -> Result<std::collections::HashMap<Cid, BTreeSet<nix_formats::store_path::StorePath>>> {
    let links = store.catalogue.all_links()?;
    let mut owners: std::collections::HashMap<Cid, BTreeSet<_>> = Default::default();
    for (p, root) in store.catalogue.all_paths()? {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![root];
        while let Some(c) = stack.pop() {
            if seen.insert(c) {
                owners.entry(c).or_default().insert(p.clone());
                stack.extend(links.get(&c).into_iter().flatten().copied());
            }
        }
    }
    Ok(owners)
}

pub fn pin(state: &Path, cmd: PinCmd) -> Result<ExitCode> {
    let mut store = Store::open(state)?;
    match cmd {
        PinCmd::Add { cid } => {
            // Every block of the DAG must be present and valid before it is pinned.
            let link = store
                .pin_existing(&cid, &user(), PROG)
                .with_context(|| format!("cannot pin {cid}"))?;
            println!("pinned {cid} ({})", link.display());
        }
        PinCmd::Rm { cid } => {
            if !store.pins.remove(&user(), PROG, &cid)? {
                bail!("{cid} is not pinned by {}/{PROG}", user());
            }
            println!("unpinned {cid}");
        }
        PinCmd::Ls => {
            let (live, dangling) = store.pins.list()?;
            for p in live {
                println!("{}\t{}", p.cid, p.link.display());
            }
            for d in dangling {
                println!("dangling\t{}", d.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(state: &Path, dry_run: bool) -> Result<ExitCode> {
    let mut store = Store::open(state)?;
    let report = gc::collect(&mut store, &(), dry_run)?;
    for p in &report.dangling_pins {
        println!(
            "{} dangling pin {}",
            if dry_run { "would remove" } else { "removed" },
            p.display()
        );
    }
    for c in &report.removed {
        println!("{} {c}", if dry_run { "would remove" } else { "removed" });
    }
    println!(
        "{} blocks, {} bytes {}",
        report.removed.len(),
        report.bytes_freed,
        if dry_run { "would be freed" } else { "freed" }
    );
    Ok(ExitCode::SUCCESS)
}
