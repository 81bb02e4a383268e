//! Garbage collection of blocks.
//!
//! Live = reachable (through recorded block links) from a pin, from the root
//! of a valid store path or of a leftover, or named by a temp pin. Under the exclusive
//! `gc.lock` (so no registration interleaves), GC forgets dead blocks in
//! the catalogue, moves their files to `blocks/.trash`, re-reads the temp
//! pins, puts back any block a writer claimed meanwhile, and deletes the
//! rest. A writer claims a block in its temp pin before it checks the
//! catalogue, so it either sees the block forgotten (and writes it again)
//! or GC sees its claim (and restores the file).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use cid::Cid;

use crate::store::{Store, StoreError, io_err};

/// What a collection did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Blocks removed (or that would be).
    pub removed: Vec<Cid>,
    pub bytes_freed: u64,
    /// Pin links removed because they no longer resolve.
    pub dangling_pins: Vec<PathBuf>,
    /// Blocks a writer claimed while GC ran, put back.
    pub restored: usize,
    /// Temp files of dead writers removed.
    pub stale_tmp: usize,
}

/// Extra roots from above (the daemon's Nix roots plug in here).
pub trait RootSource {
    fn roots(&self) -> Result<Vec<Cid>, StoreError>;
}

impl RootSource for () {
    fn roots(&self) -> Result<Vec<Cid>, StoreError> {
        Ok(Vec::new())
    }
}

/// Computes the live block set.
pub fn live_blocks(store: &Store, extra: &dyn RootSource) -> Result<HashSet<Cid>, StoreError> {
    let (pins, _) = store.pins.list().map_err(io_err("pins", store.state()))?;
    let mut stack: Vec<Cid> = pins.into_iter().map(|p| p.cid).collect();
    stack.extend(
        store
            .catalogue
            .all_paths()?
            .into_iter()
            .map(|(_, root)| root),
    );
    stack.extend(
        store
            .catalogue
            .leftovers()?
            .into_iter()
            .map(|(_, root)| root),
    );
    stack.extend(extra.roots()?);
    let links: HashMap<Cid, Vec<Cid>> = store.catalogue.all_links()?;
    let mut live = HashSet::new();
    while let Some(c) = stack.pop() {
        if live.insert(c) {
            if let Some(children) = links.get(&c) {
                stack.extend(children.iter().copied());
            }
        }
    }
    Ok(live)
}

/// Runs a collection (or only reports, with `dry_run`).
pub fn collect(
    store: &mut Store,
    extra: &dyn RootSource,
    dry_run: bool,
) -> Result<GcReport, StoreError> {
    let _lock = store.lock(true)?;
    collect_locked(store, extra, dry_run)
}

/// [`collect`], under the exclusive lock the caller holds.
fn collect_locked(
    store: &mut Store,
    extra: &dyn RootSource,
    dry_run: bool,
) -> Result<GcReport, StoreError> {
    let mut trace = Trace::new();
    let (report, _) = begin(store, dry_run)?;
    if !dry_run {
        // Where earlier versions left their trash: among the blocks, which
        // only a full collection lists anyway.
        remove_stale_trash(store.blocks.dir(), ".trash-");
    }
    trace.mark("start");
    let live = live_blocks(store, extra)?;
    trace.mark("live blocks");
    let claimed = store
        .pins
        .temp_cids()
        .map_err(io_err("temp pins", store.state()))?;
    let dir = store.blocks.dir().to_owned();
    let files: HashSet<Cid> = store
        .blocks
        .list()
        .map_err(io_err("block directory", &dir))?
        .into_iter()
        .collect();
    trace.mark("block files listed");
    let rows: HashSet<Cid> = store.catalogue.all_blocks()?.into_iter().collect();
    trace.mark("block rows listed");
    let dead_files: Vec<Cid> = files
        .iter()
        .filter(|c| !live.contains(c) && !claimed.contains(c))
        .copied()
        .collect();
    let dead_rows: Vec<Cid> = rows
        .iter()
        .filter(|c| !live.contains(c) && !claimed.contains(c))
        .copied()
        .collect();
    remove(store, dead_files, dead_rows, report, dry_run, trace)
}

/// Collects what deleting the paths whose roots were `deleted` left
/// unreachable, without walking the whole store: the candidates are the
/// recorded blocks reachable from those roots; of them, a block stays if
/// it is the root of a valid path or of a leftover, pinned, one of
/// `extra`'s roots, claimed by a writer, linked from a recorded block that
/// is not a candidate (taken to be live: at worst something dead is kept
/// until a full collection), or reachable from such a block through
/// candidates. Files no block row names (what a killed writer left) are
/// not looked for: [`collect`] finds those. When the candidates are half
/// the store or more, this is [`collect`] (the faster walk then).
pub fn collect_after_delete(
    store: &mut Store,
    deleted: &[Cid],
    extra: &dyn RootSource,
    dry_run: bool,
) -> Result<GcReport, StoreError> {
    let _lock = store.lock(true)?;
    let mut trace = Trace::new();
    let total = store.catalogue.block_count()?;
    // Each candidate with its recorded children (asked once, here).
    let mut candidates: HashMap<Cid, Vec<Cid>> = HashMap::new();
    let mut stack: Vec<Cid> = deleted.to_vec();
    while let Some(c) = stack.pop() {
        if candidates.len() as u64 * 2 >= total {
            return collect_locked(store, extra, dry_run);
        }
        if !candidates.contains_key(&c) && store.catalogue.has_block(&c)? {
            let children = store.catalogue.links_of(&c)?;
            stack.extend(children.iter().copied());
            candidates.insert(c, children);
        }
    }
    trace.mark("candidates");
    let (report, pins) = begin(store, dry_run)?;
    let mut kept: HashSet<Cid> = pins.into_iter().map(|p| p.cid).collect();
    kept.extend(extra.roots()?);
    let mut stack = Vec::new();
    for c in candidates.keys() {
        let live = kept.contains(c)
            || store.catalogue.is_root(c)?
            || store
                .catalogue
                .any_parent(c, |p| !candidates.contains_key(p))?;
        if live {
            stack.push(*c);
        }
    }
    let mut live = HashSet::new();
    while let Some(c) = stack.pop() {
        if live.insert(c) {
            let children = candidates.get(&c).map_or(&[][..], Vec::as_slice);
            stack.extend(children.iter().filter(|ch| candidates.contains_key(*ch)));
        }
    }
    trace.mark("live candidates");
    let claimed = store
        .pins
        .temp_cids()
        .map_err(io_err("temp pins", store.state()))?;
    let dead: Vec<Cid> = candidates
        .into_keys()
        .filter(|c| !live.contains(c) && !claimed.contains(c))
        .collect();
    remove(store, dead.clone(), dead, report, dry_run, trace)
}

/// The start of a collection, under the exclusive lock: removes writers'
/// stale temp files and earlier collections' trash (unless `dry_run`);
/// returns the report so far (with the pin links that no longer resolve)
/// and the pins.
fn begin(
    store: &mut Store,
    dry_run: bool,
) -> Result<(GcReport, Vec<crate::pins::PinEntry>), StoreError> {
    let dir = store.blocks.dir().to_owned();
    let mut report = GcReport::default();
    if !dry_run {
        report.stale_tmp = store
            .blocks
            .clean_tmp()
            .map_err(io_err("block temp dir", &dir))?;
        remove_stale_trash(&dir.join(TRASHED), "");
        restore_interrupted_trash(&dir).map_err(io_err("trash", &dir))?;
    }
    let (pins, dangling) = store.pins.list().map_err(io_err("pins", store.state()))?;
    report.dangling_pins = dangling;
    Ok((report, pins))
}

/// Where removed blocks wait, one directory per collection
/// (`<pid>-<n>`), for the thread that unlinks them: a directory of its
/// own, so that finding those a dead process left does not mean listing
/// every block.
const TRASHED: &str = ".trashed";

/// Removes dead blocks: forgets `dead_rows`, moves `dead_files` to the
/// trash, puts back any a writer claimed meanwhile and deletes the rest
/// (on another thread); removes the dangling pin links `report` names.
/// With `dry_run`, only reports.
fn remove(
    store: &mut Store,
    dead_files: Vec<Cid>,
    dead_rows: Vec<Cid>,
    mut report: GcReport,
    dry_run: bool,
    mut trace: Trace,
) -> Result<GcReport, StoreError> {
    let dir = store.blocks.dir().to_owned();
    for c in &dead_files {
        report.bytes_freed += fs::symlink_metadata(store.blocks.path_of(c))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    trace.mark("sizes");
    if dry_run {
        report.removed = dead_files;
        return Ok(report);
    }
    for p in &report.dangling_pins {
        fs::remove_file(p).map_err(io_err("dangling pin", p))?;
    }
    store.catalogue.forget_blocks(&dead_rows)?;
    trace.mark("rows forgotten");
    let trash = dir.join(".trash");
    fs::create_dir_all(&trash).map_err(io_err("trash", &trash))?;
    for c in &dead_files {
        let name = c.to_string();
        match fs::rename(dir.join(&name), trash.join(&name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("block", &dir)(e));
            }
            _ => {}
        }
    }
    trace.mark("moved to trash");
    let claimed_now = store
        .pins
        .temp_cids()
        .map_err(io_err("temp pins", store.state()))?;
    for c in dead_files {
        let name = c.to_string();
        let t = trash.join(&name);
        if claimed_now.contains(&c) && !dir.join(&name).exists() {
            fs::rename(&t, dir.join(&name)).map_err(io_err("block", &t))?;
            report.restored += 1;
        } else {
            report.removed.push(c);
        }
    }
    trace.mark("claims checked");
    // What is left in the trash is gone from the store; unlinking it takes
    // a while (about a millisecond a file on a busy disk), so it happens
    // on another thread under a name of its own, after the caller returns.
    let n = TRASH_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let trashed = dir.join(TRASHED);
    fs::create_dir_all(&trashed).map_err(io_err("trash", &trashed))?;
    let doomed = trashed.join(format!("{}-{n}", std::process::id()));
    fs::rename(&trash, &doomed).map_err(io_err("trash", &trash))?;
    std::thread::spawn(move || {
        let _ = fs::remove_dir_all(&doomed);
    });
    Ok(report)
}

/// `PKGCHAIN_GC_TRACE=1`: each step of a collection and its time, on
/// stderr.
struct Trace(Option<std::time::Instant>);

impl Trace {
    fn new() -> Self {
        Trace(std::env::var_os("PKGCHAIN_GC_TRACE").map(|_| std::time::Instant::now()))
    }

    fn mark(&mut self, step: &str) {
        if let Some(t) = &mut self.0 {
            eprintln!("gc: {step}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            *t = std::time::Instant::now();
        }
    }
}

static TRASH_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Puts back what a collection that was killed while it moved blocks to
/// `.trash` left there (one runs at a time, under the store's lock): the
/// claims on those blocks were never checked, so a block added again
/// meanwhile could be among them. Back in place they are swept again, or
/// kept if something needs them now.
fn restore_interrupted_trash(dir: &std::path::Path) -> std::io::Result<()> {
    let trash = dir.join(".trash");
    let rd = match fs::read_dir(&trash) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let back = dir.join(e.file_name());
        if back.exists() {
            fs::remove_file(e.path())?;
        } else {
            fs::rename(e.path(), back)?;
        }
    }
    Ok(())
}

/// Removes the trash directories (named `<prefix><pid>-<n>` in `dir`) of
/// collections in processes that are gone (they died before their
/// removal thread finished).
fn remove_stale_trash(dir: &std::path::Path, prefix: &str) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| !crate::pins::pid_alive(p)) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
