//! `pkg hash …`, `pkg nar …`, `pkg drv …`: Nix's formats from the command
//! line, computed by `nix-formats` (the main job compares them with Nix).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use nix_formats::derivation::{Derivation, DrvHashMemo, drv_name_from_path};
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::nar;
use nix_formats::store_path::{StoreDir, StorePath};

#[derive(Debug, Subcommand)]
pub enum HashCmd {
    /// Hash of a path's NAR serialisation (like `nix-hash`).
    Path {
        path: PathBuf,
        #[arg(long = "type", default_value = "sha256")]
        algo: HashAlgo,
        /// Print nix32 instead of base16.
        #[arg(long)]
        base32: bool,
        /// Print the SRI form.
        #[arg(long, conflicts_with = "base32")]
        sri: bool,
    },
    /// Hash of a file's bytes (like `nix-hash --flat`).
    File {
        path: PathBuf,
        #[arg(long = "type", default_value = "sha256")]
        algo: HashAlgo,
        #[arg(long)]
        base32: bool,
        #[arg(long, conflicts_with = "base32")]
        sri: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NarCmd {
    /// Write a path's NAR to stdout (like `nix-store --dump`).
    Dump { path: PathBuf },
    /// Unpack a NAR from stdin to a new path (like `nix-store --restore`).
    Restore { dest: PathBuf },
    /// List a NAR's contents from stdin.
    Ls,
}

#[derive(Debug, Subcommand)]
pub enum DrvCmd {
    /// Parse a `.drv` file from a store (`--root` for a chroot store), check
    /// its output paths as Nix's store does, and print them.
    Show {
        drv: String,
        /// Directory that holds `nix/store` (a `local?root=` store).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
}

fn show(h: &Hash, base32: bool, sri: bool) -> String {
    if sri {
        h.to_sri()
    } else if base32 {
        h.to_nix32()
    } else {
        h.to_base16()
    }
}

pub fn hash(cmd: HashCmd) -> Result<ExitCode> {
    match cmd {
        HashCmd::Path {
            path,
            algo,
            base32,
            sri,
        } => {
            let (h, _) = nar::hash_path(algo, &path)
                .with_context(|| format!("hashing '{}'", path.display()))?;
            println!("{}", show(&h, base32, sri));
        }
        HashCmd::File {
            path,
            algo,
            base32,
            sri,
        } => {
            let mut hasher = nix_formats::hash::Hasher::new(algo);
            let mut f = std::fs::File::open(&path)
                .with_context(|| format!("opening '{}'", path.display()))?;
            std::io::copy(&mut f, &mut hasher)?;
            println!("{}", show(&hasher.finish(), base32, sri));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn nar(cmd: NarCmd) -> Result<ExitCode> {
    match cmd {
        NarCmd::Dump { path } => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            nar::dump(&path, &mut out).with_context(|| format!("dumping '{}'", path.display()))?;
            out.flush()?;
        }
        NarCmd::Restore { dest } => {
            let input = std::io::BufReader::with_capacity(1 << 18, std::io::stdin().lock());
            nar::restore(input, &dest)
                .with_context(|| format!("restoring to '{}'", dest.display()))?;
        }
        NarCmd::Ls => {
            let input = std::io::BufReader::with_capacity(1 << 18, std::io::stdin().lock());
            let mut r = nar::NarReader::new(input);
            let mut path: Vec<Vec<u8>> = Vec::new();
            let shown = |p: &[Vec<u8>]| -> String {
                let s: Vec<String> = p
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                format!("/{}", s.join("/"))
            };
            loop {
                match r.next_event()? {
                    nar::Event::Directory => println!("dr-xr-xr-x {:>12} {}", 0, shown(&path)),
                    nar::Event::Regular { executable, size } => {
                        println!(
                            "{} {size:>12} {}",
                            if executable {
                                "-r-xr-xr-x"
                            } else {
                                "-r--r--r--"
                            },
                            shown(&path)
                        )
                    }
                    nar::Event::Symlink { target } => {
                        println!(
                            "lrwxrwxrwx {:>12} {} -> {}",
                            0,
                            shown(&path),
                            String::from_utf8_lossy(target)
                        )
                    }
                    nar::Event::Entry { name } => path.push(name.to_vec()),
                    nar::Event::EntryEnd => {
                        path.pop();
                    }
                    nar::Event::End => break,
                    nar::Event::Contents(_) | nar::Event::NodeEnd => {}
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_drv(root: &Path, sd: &StoreDir, p: &StorePath) -> std::io::Result<Derivation> {
    let file = root.join(sd.display(p).trim_start_matches('/'));
    let bytes = std::fs::read(&file)?;
    Derivation::from_aterm(&bytes, sd)
        .map_err(|e| std::io::Error::other(format!("parsing '{}': {e}", sd.display(p))))
}

pub fn drv(cmd: DrvCmd) -> Result<ExitCode> {
    let DrvCmd::Show { drv, root } = cmd;
    let sd = StoreDir::default();
    let path = sd.parse_path(&drv)?;
    let Some(name) = drv_name_from_path(&path).map(str::to_owned) else {
        bail!("'{drv}' is not a .drv path")
    };
    let d = read_drv(&root, &sd, &path).with_context(|| format!("reading '{drv}'"))?;
    let mut memo = DrvHashMemo::new(sd.clone(), |p: &StorePath| read_drv(&root, &sd, p));
    d.validate(&sd, &path, &mut memo)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let masked = d
        .hash_modulo(&sd, true, &mut memo)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let outs: BTreeMap<String, Option<StorePath>> = d.output_paths(&sd, &name, &masked)?;
    println!("derivation {} is valid", sd.display(&path));
    for (o, p) in outs {
        println!(
            "  {o}\t{}",
            p.map(|p| sd.display(&p))
                .unwrap_or_else(|| "(content-addressed, known after build)".into())
        );
    }
    Ok(ExitCode::SUCCESS)
}
