//! The store as a whole: blocks, catalogue and pins under one state dir, and
//! the writer through which every DAG enters it.
//!
//! Protocol with GC (see [`crate::gc`]): a writer appends each CID to its
//! temp pin *before* it looks the block up or writes it, and it registers
//! (path or pin) under a shared lock on `<state>/gc.lock` after one
//! `syncfs`. GC holds that lock exclusively, so registrations never
//! interleave with a collection, while block writing goes on unhindered.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cid::Cid;
use rustix::fs::FlockOperation;
use thiserror::Error;

use crate::blocks::BlockStore;
use crate::catalogue::{BlockRecord, Catalogue, CatalogueError, PathRecord};
use crate::pins::{Pins, TempPin};
use crate::unixfs::{BlockSink, CHUNK_SIZE, DAG_PB, LeafError, SharedSink, node, read_leaf};

/// Errors of store operations.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("I/O error on {what} '{path}'")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("block {cid} is not valid dag-pb")]
    BadNode { cid: Cid },
    #[error(transparent)]
    Dag(#[from] crate::dag::DagError),
    #[error("cannot add '{path}': {source}")]
    Nar {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("hash mismatch importing path '{path}';\n  specified: {expected}\n  got:       {got}")]
    HashMismatch {
        path: String,
        expected: String,
        got: String,
    },
    #[error("size mismatch importing path '{path}': specified {expected} bytes, got {got}")]
    SizeMismatch {
        path: String,
        expected: u64,
        got: u64,
    },
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    state: PathBuf,
    pub blocks: BlockStore,
    pub catalogue: Catalogue,
    pub pins: Pins,
    /// Flushes the small paths registered before their blocks were durable
    /// ([`crate::deferred`]); started with the first one, `None` inside if
    /// nothing can be deferred.
    flusher: std::sync::OnceLock<Option<std::sync::Arc<crate::deferred::Flusher>>>,
    /// Paths made invalid when this store was opened: registered before
    /// their blocks were durable, in a boot that ended before they were.
    lost: Vec<nix_formats::store_path::StorePath>,
}

/// Up to this many fresh blocks are made durable by fsyncing each (a
/// trivial build's output or a `.drv` is one or two); more take a `syncfs`.
const FSYNC_EACH_MAX: usize = 64;

/// A held `gc.lock` (shared for writers, exclusive for GC).
#[derive(Debug)]
pub struct GcLock {
    _file: fs::File,
}

impl Store {
    /// Opens (creating if needed) the store under `state`, and recovers
    /// from a machine crash: small paths registered in an earlier boot
    /// before their blocks were durable are checked, and those whose
    /// blocks did not survive are made invalid, with their referrers
    /// ([`Store::lost_on_open`]).
    pub fn open(state: &Path) -> Result<Self, StoreError> {
        let mut store = Self::open_another(state)?;
        store.lost = store.recover_undurable(crate::deferred::boot_id())?;
        Ok(store)
    }

    /// Opens one more handle on a store that this process opened (and so
    /// recovered) with [`Store::open`] already.
    pub fn open_another(state: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(state).map_err(io_err("state directory", state))?;
        let blocks = BlockStore::open(state).map_err(io_err("block directory", state))?;
        Ok(Store {
            state: state.to_owned(),
            blocks,
            catalogue: Catalogue::open(state)?,
            pins: Pins::new(state),
            flusher: std::sync::OnceLock::new(),
            lost: Vec::new(),
        })
    }

    /// The paths [`Store::open`] made invalid.
    pub fn lost_on_open(&self) -> &[nix_formats::store_path::StorePath] {
        &self.lost
    }

    /// Checks the paths registered before their blocks were durable in a
    /// boot other than `boot` (all of them if `boot` is unknown): each one's
    /// blocks are read and hashed, and one that fails is made invalid with
    /// every path that refers to it. Then a `syncfs` makes the rest durable
    /// and their rows go. Returns the paths made invalid.
    pub(crate) fn recover_undurable(
        &mut self,
        boot: Option<&str>,
    ) -> Result<Vec<nix_formats::store_path::StorePath>, StoreError> {
        let rows = self.catalogue.undurable()?;
        let suspect: Vec<_> = rows
            .iter()
            .filter(|r| boot != Some(r.boot.as_str()))
            .collect();
        let Some(last) = suspect.iter().map(|r| r.seq).max() else {
            return Ok(Vec::new());
        };
        let reader = crate::dag::DagReader::new(&self.blocks);
        let mut stack: Vec<_> = suspect
            .iter()
            .filter(|r| reader.check(&r.root).is_err())
            .map(|r| r.path.clone())
            .collect();
        let mut gone = std::collections::BTreeSet::new();
        if !stack.is_empty() {
            let _lock = self.lock(true)?;
            // The blocks that did not survive are forgotten too: a block
            // the catalogue records is trusted to exist, and the next add
            // of the same data would not write it again.
            let mut lost_blocks = Vec::new();
            let mut walk: Vec<Cid> = suspect
                .iter()
                .filter(|r| stack.contains(&r.path))
                .map(|r| r.root)
                .collect();
            let mut seen = HashSet::new();
            while let Some(c) = walk.pop() {
                if !seen.insert(c) {
                    continue;
                }
                if self.blocks.get(&c).is_err() {
                    lost_blocks.push(c);
                }
                walk.extend(self.catalogue.links_of(&c)?);
            }
            while let Some(p) = stack.pop() {
                if gone.insert(p.clone()) {
                    stack.extend(self.catalogue.referrers(&p)?);
                }
            }
            let gone: Vec<_> = gone.iter().cloned().collect();
            self.catalogue.delete_paths(&gone)?;
            self.catalogue.forget_blocks(&lost_blocks)?;
        }
        self.blocks
            .sync()
            .map_err(io_err("block store", self.blocks.dir()))?;
        self.catalogue.forget_undurable(last)?;
        Ok(gone.into_iter().collect())
    }

    /// Makes every path registered so far durable now (a daemon that
    /// stops calls this: its flusher thread would not get the chance).
    pub fn flush_undurable(&self) -> Result<(), StoreError> {
        crate::deferred::flush(&self.blocks, &self.catalogue).map(drop)
    }

    pub fn state(&self) -> &Path {
        &self.state
    }

    /// Takes `gc.lock`.
    pub fn lock(&self, exclusive: bool) -> Result<GcLock, StoreError> {
        let path = self.state.join("gc.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("lock file", &path))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        rustix::fs::flock(&file, op).map_err(|e| StoreError::Io {
            what: "lock file",
            path,
            source: e.into(),
        })?;
        Ok(GcLock { _file: file })
    }

    /// A writer for one DAG (or several) on its way in.
    pub fn writer(&self) -> Result<DagWriter<'_>, StoreError> {
        let temp = self.pins.temp().map_err(io_err("temp pin", self.state()))?;
        Ok(DagWriter {
            store: self,
            claims: Claims::new(temp),
            inline: 0,
            pool: None,
        })
    }

    /// A writer several threads put blocks through at once
    /// ([`crate::unixfs::add_path_parallel`]). It has a catalogue
    /// connection of its own.
    pub fn shared_writer(&self) -> Result<SharedWriter, StoreError> {
        let temp = self.pins.temp().map_err(io_err("temp pin", self.state()))?;
        Ok(SharedWriter {
            blocks: self.blocks.clone(),
            catalogue: std::sync::Mutex::new(Catalogue::open(&self.state)?),
            claims: std::sync::Mutex::new(Claims::new(temp)),
            flush: EarlyFlush::new(&self.blocks),
        })
    }

    /// Makes blocks this process wrote (and did not find registered)
    /// durable before anything that needs them is registered: a few are
    /// fsynced one by one, with their directory; many take one `syncfs`,
    /// which is cheaper than that but flushes the whole file system
    /// (everything other processes have written too).
    ///
    /// While small paths registered before their blocks were durable
    /// exist, a flush of them all takes the place of that: blocks that
    /// were registered when the writer looked (not fresh) may be theirs.
    pub fn make_durable(&self, fresh: &[Cid]) -> Result<(), StoreError> {
        if crate::deferred::flush(&self.blocks, &self.catalogue)? {
            return Ok(());
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let r = if fresh.len() <= FSYNC_EACH_MAX {
            self.blocks.sync_each(fresh)
        } else {
            self.blocks.sync()
        };
        r.map_err(io_err("block store", self.blocks.dir()))
    }

    /// Makes the writer's blocks durable and registers a path that needs them.
    /// Returns false if the path was valid already.
    pub fn commit_path(&mut self, w: Written, rec: &PathRecord) -> Result<bool, StoreError> {
        self.make_durable(&w.fresh)?;
        let _lock = self.lock(false)?;
        let r = self.catalogue.register(rec, &w.records)?;
        drop(w.temp);
        Ok(r)
    }

    /// Pins a DAG whose blocks are already in the block store (put there by
    /// an earlier add or fetched from a peer): claims and verifies every
    /// block, records them, then pins.
    pub fn pin_existing(
        &mut self,
        root: &Cid,
        user: &str,
        prog: &str,
    ) -> Result<PathBuf, StoreError> {
        crate::dag::DagReader::new(&self.blocks).check(root)?;
        let mut temp = self.pins.temp().map_err(io_err("temp pin", self.state()))?;
        let mut records = Vec::new();
        let mut stack = vec![*root];
        let mut seen = HashSet::new();
        while let Some(c) = stack.pop() {
            if !seen.insert(c) {
                continue;
            }
            temp.add(&c).map_err(io_err("temp pin", self.state()))?;
            let block = self.blocks.get(&c).map_err(crate::dag::DagError::from)?;
            let links = links_of(&c, &block)?;
            stack.extend(links.iter().copied());
            records.push(BlockRecord {
                cid: c,
                size: block.len() as u64,
                links,
            });
        }
        // Blocks put there by others: no telling which are durable yet.
        self.blocks
            .sync()
            .map_err(io_err("block store", self.blocks.dir()))?;
        let fresh = Vec::new();
        self.commit_pin(
            Written {
                temp,
                records,
                fresh,
            },
            user,
            prog,
            root,
        )
    }

    /// Makes the writer's blocks durable and pins `root` for `user`/`prog`.
    pub fn commit_pin(
        &mut self,
        w: Written,
        user: &str,
        prog: &str,
        root: &Cid,
    ) -> Result<PathBuf, StoreError> {
        self.make_durable(&w.fresh)?;
        let _lock = self.lock(false)?;
        self.catalogue.register_blocks(&w.records)?;
        let link = self
            .pins
            .add(user, prog, root)
            .map_err(io_err("pin", self.state()))?;
        drop(w.temp);
        Ok(link)
    }
}

/// What is known about a path before its NAR arrives.
#[derive(Debug, Clone)]
pub struct NewPath {
    pub path: nix_formats::store_path::StorePath,
    pub references: std::collections::BTreeSet<nix_formats::store_path::StorePath>,
    pub deriver: Option<nix_formats::store_path::StorePath>,
    pub ultimate: bool,
    pub sigs: std::collections::BTreeSet<String>,
    pub ca: Option<nix_formats::content_address::ContentAddress>,
    /// If given, the NAR must hash to this (else nothing is registered).
    pub nar_hash: Option<nix_formats::hash::Hash>,
    pub nar_size: Option<u64>,
}

impl NewPath {
    /// A content-addressed path made here from data in hand: no deriver or
    /// signatures, its hash and size those of the data itself.
    pub fn content_addressed(
        path: nix_formats::store_path::StorePath,
        references: std::collections::BTreeSet<nix_formats::store_path::StorePath>,
        ca: nix_formats::content_address::ContentAddress,
    ) -> Self {
        NewPath {
            path,
            references,
            deriver: None,
            ultimate: false,
            sigs: std::collections::BTreeSet::new(),
            ca: Some(ca),
            nar_hash: None,
            nar_size: None,
        }
    }
}

impl Store {
    /// Imports a path's NAR from `input` (reading exactly its bytes) and
    /// registers it. Returns the record, or the existing one if the path
    /// was valid already (the NAR is still consumed).
    pub fn add_nar(
        &mut self,
        input: impl std::io::BufRead,
        meta: NewPath,
    ) -> Result<PathRecord, StoreError> {
        let shown = meta.path.to_string();
        self.add_nar_with(input, &shown, |_| Ok(meta))
    }

    /// Like [`Store::add_nar`], for paths whose name depends on the NAR
    /// (content-addressed adds): `describe` sees the import's hash and size.
    pub fn add_nar_with(
        &mut self,
        input: impl std::io::BufRead,
        what: &str,
        describe: impl FnOnce(&crate::nar_dag::Imported) -> Result<NewPath, StoreError>,
    ) -> Result<PathRecord, StoreError> {
        let p = self.prepare_nar(input, what, describe)?;
        Ok(self.commit_prepared(vec![p])?.remove(0))
    }

    /// Imports the NAR of what a failed build left at `path` and shows it in
    /// the store directory as a leftover: listed and readable, but not
    /// valid (Nix 2.8 leaves such outputs in its store for inspection).
    /// Returns false (and records nothing) if `path` is valid.
    pub fn add_leftover(
        &mut self,
        path: &nix_formats::store_path::StorePath,
        input: impl std::io::BufRead,
    ) -> Result<bool, StoreError> {
        let mut w = self.writer()?;
        let imported = crate::nar_dag::import_nar(input, &mut w).map_err(|e| match e {
            crate::nar_dag::ImportError::Sink(s) => s,
            other => StoreError::Nar {
                path: path.to_string(),
                source: Box::new(other),
            },
        })?;
        let written = w.finish()?;
        self.make_durable(&written.fresh)?;
        let _lock = self.lock(false)?;
        let added = self
            .catalogue
            .add_leftover(path, &imported.root.cid, &written.records)?;
        drop(written.temp);
        Ok(added)
    }

    /// Imports a NAR into blocks (temp-pinned) and works out the record,
    /// without registering anything yet: several such paths that refer to
    /// each other can then be registered together, in dependency order.
    pub fn prepare_nar(
        &self,
        input: impl std::io::BufRead,
        what: &str,
        describe: impl FnOnce(&crate::nar_dag::Imported) -> Result<NewPath, StoreError>,
    ) -> Result<Prepared, StoreError> {
        let nar = self.import_blocks(input).map_err(|e| match e {
            crate::nar_dag::ImportError::Sink(s) => s,
            other => StoreError::Nar {
                path: what.to_owned(),
                source: Box::new(other),
            },
        })?;
        let meta = describe(&nar.imported)?;
        self.describe(nar, meta)
    }

    /// Imports a NAR into blocks (temp-pinned) before anything about the
    /// path is known: its blocks do not depend on it. For streams that name
    /// the path after its NAR (`nix-store --export`'s); [`Store::describe`]
    /// then makes it a [`Prepared`] path.
    pub fn import_blocks(
        &self,
        input: impl std::io::BufRead,
    ) -> Result<ImportedNar, crate::nar_dag::ImportError<StoreError>> {
        let mut w = self.writer().map_err(crate::nar_dag::ImportError::Sink)?;
        let imported = crate::nar_dag::import_nar(input, &mut w)?;
        let written = w.finish().map_err(crate::nar_dag::ImportError::Sink)?;
        Ok(ImportedNar { written, imported })
    }

    /// The record of an imported NAR's path: `meta`'s hash and size, if
    /// it gives them, must be the NAR's.
    pub fn describe(&self, nar: ImportedNar, meta: NewPath) -> Result<Prepared, StoreError> {
        let ImportedNar { written, imported } = nar;
        let shown = meta.path.to_string();
        if let Some(h) = meta.nar_hash {
            if h != imported.nar_hash {
                return Err(StoreError::HashMismatch {
                    path: shown,
                    expected: h.to_prefixed_nix32(),
                    got: imported.nar_hash.to_prefixed_nix32(),
                });
            }
        }
        if let Some(n) = meta.nar_size {
            if n != imported.nar_size {
                return Err(StoreError::SizeMismatch {
                    path: shown,
                    expected: n,
                    got: imported.nar_size,
                });
            }
        }
        let rec = PathRecord {
            path: meta.path,
            root: imported.root.cid,
            nar_hash: imported.nar_hash,
            nar_size: imported.nar_size,
            references: meta.references,
            deriver: meta.deriver,
            ultimate: meta.ultimate,
            sigs: meta.sigs,
            ca: meta.ca,
            registration_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        Ok(Prepared {
            written,
            rec,
            durability: Durability::Pending,
        })
    }

    /// Makes the blocks of `paths` durable now, so that
    /// [`Store::commit_prepared`] finds nothing left to sync — or, if they
    /// are small, leaves that to the flusher and has them registered as
    /// undurable ([`crate::deferred`]).
    pub fn make_prepared_durable(&self, paths: &mut [Prepared]) -> Result<(), StoreError> {
        // Settled by an earlier call (a caller that times this step apart
        // from `commit_prepared`): nothing to do again.
        if paths.iter().all(|p| p.durability != Durability::Pending) {
            return Ok(());
        }
        let bytes: u64 = paths
            .iter()
            .flat_map(|p| &p.written.records)
            .map(|b| b.size)
            .sum();
        let fresh: Vec<Cid> = paths
            .iter()
            .flat_map(|p| p.written.fresh.iter().copied())
            .collect();
        let defer = bytes <= crate::deferred::DEFER_MAX_BYTES
            && fresh.len() <= FSYNC_EACH_MAX
            && crate::deferred::boot_id().is_some()
            && self.flusher().is_some();
        let durability = if defer {
            Durability::Deferred
        } else {
            self.make_durable(&fresh)?;
            Durability::Durable
        };
        for p in paths {
            p.durability = durability;
            p.written.fresh.clear();
        }
        Ok(())
    }

    fn flusher(&self) -> Option<&std::sync::Arc<crate::deferred::Flusher>> {
        self.flusher
            .get_or_init(|| crate::deferred::flusher_for(&self.state, &self.blocks))
            .as_ref()
    }

    /// Registers prepared paths in the given order (references first), after
    /// one `syncfs`, in one transaction. Paths that were valid already keep
    /// their record. Returns the records as registered.
    pub fn commit_prepared(
        &mut self,
        mut paths: Vec<Prepared>,
    ) -> Result<Vec<PathRecord>, StoreError> {
        self.make_prepared_durable(&mut paths)?;
        let _lock = self.lock(false)?;
        let items: Vec<(&PathRecord, &[BlockRecord])> = paths
            .iter()
            .map(|p| (&p.rec, p.written.records.as_slice()))
            .collect();
        let undurable = paths.iter().any(|p| p.durability == Durability::Deferred);
        match crate::deferred::boot_id() {
            Some(boot) if undurable => {
                self.catalogue.register_many_undurable(&items, boot)?;
                if let Some(f) = self.flusher() {
                    f.kick();
                }
            }
            _ => {
                self.catalogue.register_many(&items)?;
            }
        }
        let mut out = Vec::with_capacity(paths.len());
        for p in &paths {
            out.push(
                self.catalogue
                    .path_info(&p.rec.path)?
                    .unwrap_or_else(|| p.rec.clone()),
            );
        }
        drop(paths);
        Ok(out)
    }
}

/// A NAR whose blocks are written (and temp-pinned), for a path not
/// known yet ([`Store::import_blocks`]).
#[derive(Debug)]
pub struct ImportedNar {
    written: Written,
    pub imported: crate::nar_dag::Imported,
}

/// A path whose blocks are written (and temp-pinned) but which is not
/// registered yet.
#[derive(Debug)]
pub struct Prepared {
    pub written: Written,
    pub rec: PathRecord,
    durability: Durability,
}

/// Where a [`Prepared`] path's blocks stand before it is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Not decided yet ([`Store::make_prepared_durable`] will).
    Pending,
    /// Durable now.
    Durable,
    /// To be registered before they are durable ([`crate::deferred`]).
    Deferred,
}

/// The blocks a [`DagWriter`] wrote, still protected by its temp pin.
#[derive(Debug)]
pub struct Written {
    temp: TempPin,
    pub records: Vec<BlockRecord>,
    /// Blocks written by this writer (not registered when it looked):
    /// the ones to make durable before registering.
    fresh: Vec<Cid>,
}

/// Starts the file system's writeback (`syncfs`) on a thread of its own
/// every [`FLUSH_EVERY`] bytes a writer stores, while the import goes on,
/// so that the one `syncfs` before registration finds little left to write
/// (for a 1.3 GB tree it waited 0.7 s for the disk, with the cores idle).
/// Only a head start: a failure here shows in that real sync. The thread
/// starts with the first flush (a small write never has one); dropping
/// this waits for a flush under way.
#[derive(Debug)]
struct EarlyFlush {
    blocks: BlockStore,
    written: std::sync::atomic::AtomicU64,
    /// The flusher and its kick, which holds one: more while a flush runs
    /// are dropped.
    flusher: std::sync::Mutex<Option<Flusher>>,
}

#[derive(Debug)]
struct Flusher {
    kick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl EarlyFlush {
    fn new(blocks: &BlockStore) -> Self {
        EarlyFlush {
            blocks: blocks.clone(),
            written: std::sync::atomic::AtomicU64::new(0),
            flusher: std::sync::Mutex::new(None),
        }
    }

    /// Counts `n` more bytes stored.
    fn wrote(&self, n: u64) {
        let before = self
            .written
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        if before / FLUSH_EVERY == (before + n) / FLUSH_EVERY {
            return;
        }
        let mut flusher = self.flusher.lock().expect("flusher lock");
        if flusher.is_none() {
            let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
            let blocks = self.blocks.clone();
            let spawned = std::thread::Builder::new()
                .name("block-flusher".into())
                .spawn(move || {
                    while kicked.recv().is_ok() {
                        let _ = blocks.sync();
                    }
                });
            // No thread: no head start, the real sync does it all.
            let Ok(thread) = spawned else { return };
            *flusher = Some(Flusher { kick, thread });
        }
        if let Some(f) = flusher.as_ref() {
            let _ = f.kick.try_send(());
        }
    }
}

impl Drop for EarlyFlush {
    fn drop(&mut self) {
        let flusher = self.flusher.get_mut().map(Option::take);
        if let Ok(Some(Flusher { kick, thread })) = flusher {
            drop(kick);
            let _ = thread.join();
        }
    }
}

/// Writes block files on background threads: creating files is mostly
/// kernel work, and two cores do it twice as fast as one.
#[derive(Debug)]
struct WriterPool {
    tx: Option<std::sync::mpsc::SyncSender<Batch>>,
    /// Blocks gathered for the next hand-over.
    batch: Batch,
    batch_bytes: usize,
    threads: Vec<std::thread::JoinHandle<()>>,
    error: std::sync::Arc<std::sync::Mutex<Option<io::Error>>>,
}

/// Blocks handed to the writers together.
type Batch = Vec<(Cid, Vec<u8>)>;

/// Bytes written between two early flushes.
const FLUSH_EVERY: u64 = 128 << 20;

/// Blocks go to the writers in batches of up to this many bytes (or
/// [`BATCH_BLOCKS`] blocks): most blocks of a tree are small files, and
/// waking a writer for each cost more than writing it.
const BATCH_BYTES: usize = 1 << 20;
const BATCH_BLOCKS: usize = 64;

/// Batches in flight per writer thread. Enough to keep each thread busy;
/// every one is up to two chunks (2 MiB) of memory per add in progress, so
/// a slow disk must not let them pile up (at 32 single blocks, one daemon
/// upload held +50 MiB while other tests used the disk).
const WRITE_QUEUE: usize = 2;

impl WriterPool {
    fn new(blocks: &BlockStore) -> Self {
        let n = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 4);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(WRITE_QUEUE * n);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let error = std::sync::Arc::new(std::sync::Mutex::new(None));
        // Shared by the writers: the last one to stop ends the flusher.
        let flush = std::sync::Arc::new(EarlyFlush::new(blocks));
        // A thread that cannot be started is one fewer; with none, the
        // queue's receiver is gone and the first send says so.
        let threads = (0..n)
            .filter_map(|_| {
                let (rx, error, blocks) = (rx.clone(), error.clone(), blocks.clone());
                let flush = flush.clone();
                std::thread::Builder::new()
                    .name("block-writer".into())
                    .spawn(move || {
                        loop {
                            let job = rx.lock().expect("writer queue lock").recv();
                            let Ok(batch) = job else { return };
                            let mut n = 0u64;
                            for (cid, data) in batch {
                                if let Err(e) = blocks.put(&cid, &data) {
                                    error.lock().expect("writer error lock").get_or_insert(e);
                                }
                                n += data.len() as u64;
                            }
                            flush.wrote(n);
                        }
                    })
                    .ok()
            })
            .collect();
        WriterPool {
            tx: Some(tx),
            batch: Vec::new(),
            batch_bytes: 0,
            threads,
            error,
        }
    }

    fn send(&mut self, cid: Cid, data: Vec<u8>) -> io::Result<()> {
        self.batch_bytes += data.len();
        self.batch.push((cid, data));
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_BLOCKS {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Passes the gathered blocks to the writers.
    fn hand_over(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.lock().expect("writer error lock").take() {
            return Err(e);
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch_bytes = 0;
        self.tx
            .as_ref()
            .expect("pool is open until finished")
            .send(std::mem::take(&mut self.batch))
            .map_err(|_| io::Error::other("block writer threads stopped"))
    }

    /// Waits for every queued block; the first error, if any.
    fn finish(mut self) -> io::Result<()> {
        self.hand_over()?;
        drop(self.tx.take());
        // The last writer to stop also waits for the flusher.
        for t in self.threads.drain(..) {
            t.join()
                .map_err(|_| io::Error::other("block writer thread panicked"))?;
        }
        match self.error.lock().expect("writer error lock").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The CIDs a block links to (none for a raw leaf).
fn links_of(cid: &Cid, block: &[u8]) -> Result<Vec<Cid>, StoreError> {
    if cid.codec() != DAG_PB {
        return Ok(Vec::new());
    }
    Ok(node::decode_node(block)
        .map_err(|_| StoreError::BadNode { cid: *cid })?
        .links
        .into_iter()
        .map(|l| l.cid)
        .collect())
}

/// What a writer has claimed so far: the GC protocol's half on the
/// writer's side, one for [`DagWriter`] and [`SharedWriter`].
#[derive(Debug)]
struct Claims {
    temp: TempPin,
    records: Vec<BlockRecord>,
    seen: HashSet<Cid>,
    fresh: Vec<Cid>,
}

impl Claims {
    fn new(temp: TempPin) -> Self {
        Claims {
            temp,
            records: Vec::new(),
            seen: HashSet::new(),
            fresh: Vec::new(),
        }
    }

    /// Claims a block (temp pin first, then the catalogue lookup) and
    /// records it; true if the caller must write it: new to this writer
    /// and not vouched for by the catalogue.
    fn claim(
        &mut self,
        catalogue: &Catalogue,
        dir: &Path,
        cid: &Cid,
        size: usize,
        links: Vec<Cid>,
    ) -> Result<bool, StoreError> {
        if !self.seen.insert(*cid) {
            return Ok(false);
        }
        self.temp.add(cid).map_err(io_err("temp pin", dir))?;
        let known = catalogue.has_block(cid)?;
        if !known {
            self.fresh.push(*cid);
        }
        self.records.push(BlockRecord {
            cid: *cid,
            size: size as u64,
            links,
        });
        Ok(!known)
    }

    fn into_written(self) -> Written {
        Written {
            temp: self.temp,
            records: self.records,
            fresh: self.fresh,
        }
    }
}

/// A [`SharedSink`] into the store: like [`DagWriter`], for several
/// threads. Each block is temp-pinned before it is looked up or linked
/// under its name; a block the catalogue vouches for is not written again.
#[derive(Debug)]
pub struct SharedWriter {
    blocks: BlockStore,
    catalogue: std::sync::Mutex<Catalogue>,
    claims: std::sync::Mutex<Claims>,
    flush: EarlyFlush,
}

impl SharedWriter {
    fn claim(&self, cid: &Cid, size: usize, links: Vec<Cid>) -> Result<bool, StoreError> {
        let mut claims = self.claims.lock().expect("claims lock");
        let catalogue = self.catalogue.lock().expect("catalogue lock");
        claims.claim(&catalogue, self.blocks.dir(), cid, size, links)
    }

    /// Every block is written; they stay protected by the temp pin until
    /// the returned value is committed or dropped.
    pub fn finish(self) -> Written {
        self.claims
            .into_inner()
            .expect("claims lock")
            .into_written()
    }
}

impl SharedSink for SharedWriter {
    type Error = StoreError;

    fn put(&self, cid: &Cid, block: &[u8]) -> Result<(), StoreError> {
        let links = links_of(cid, block)?;
        if self.claim(cid, block.len(), links)? {
            self.blocks
                .put(cid, block)
                .map_err(io_err("block", self.blocks.dir()))?;
            self.flush.wrote(block.len() as u64);
        }
        Ok(())
    }

    fn put_leaf(
        &self,
        src: &fs::File,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Option<(Cid, usize)>, LeafError<StoreError>> {
        let staged = match self.blocks.stage_from(src, offset, CHUNK_SIZE) {
            Ok(Some(s)) => s,
            Ok(None) => return read_leaf(self, src, offset, buf),
            Err(e) => return Err(LeafError::Read(e)),
        };
        if staged.is_empty() {
            return Ok(None);
        }
        let n = staged.len();
        let cid = staged.raw_cid().map_err(LeafError::Read)?;
        if self.claim(&cid, n, Vec::new()).map_err(LeafError::Sink)? {
            self.blocks
                .link_staged(staged, &cid)
                .map_err(|e| LeafError::Sink(io_err("block", self.blocks.dir())(e)))?;
            self.flush.wrote(n as u64);
        }
        Ok(Some((cid, n)))
    }
}

/// A [`BlockSink`] that writes into the store, temp-pinning as it goes.
#[derive(Debug)]
pub struct DagWriter<'a> {
    store: &'a Store,
    claims: Claims,
    /// Bytes written on the caller's thread, before any writer thread.
    inline: usize,
    pool: Option<WriterPool>,
}

/// What a [`DagWriter`] writes itself before it starts writer threads: a
/// build output or a `.drv` is a block or two, and starting threads for
/// them costs more than writing them.
const INLINE_BYTES: usize = 256 << 10;

impl DagWriter<'_> {
    /// Waits for every block to be written; they are then protected by the
    /// temp pin until the returned value is committed or dropped.
    pub fn finish(mut self) -> Result<Written, StoreError> {
        if let Some(p) = self.pool.take() {
            p.finish()
                .map_err(io_err("block", self.store.blocks.dir()))?;
        }
        Ok(self.claims.into_written())
    }

    /// Claims `block`; true if it must be written.
    fn claim_block(&mut self, cid: &Cid, block: &[u8]) -> Result<bool, StoreError> {
        let links = links_of(cid, block)?;
        let dir = self.store.blocks.dir();
        self.claims
            .claim(&self.store.catalogue, dir, cid, block.len(), links)
    }

    fn write(&mut self, cid: &Cid, block: Vec<u8>) -> Result<(), StoreError> {
        let blocks = &self.store.blocks;
        if self.pool.is_none() && self.inline + block.len() <= INLINE_BYTES {
            self.inline += block.len();
            return blocks
                .put(cid, &block)
                .map_err(io_err("block", blocks.dir()));
        }
        self.pool
            .get_or_insert_with(|| WriterPool::new(blocks))
            .send(*cid, block)
            .map_err(io_err("block", blocks.dir()))
    }
}

impl BlockSink for DagWriter<'_> {
    type Error = StoreError;

    fn put(&mut self, cid: &Cid, block: &[u8]) -> Result<(), StoreError> {
        if self.claim_block(cid, block)? {
            self.write(cid, block.to_vec())?;
        }
        Ok(())
    }

    fn put_owned(&mut self, cid: &Cid, block: Vec<u8>) -> Result<(), StoreError> {
        if self.claim_block(cid, &block)? {
            self.write(cid, block)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flusher starts only once a writer has stored a flush's worth,
    /// and dropping the writer's flush waits for it and ends it.
    #[test]
    fn early_flush_starts_with_the_first_boundary_and_ends_on_drop() {
        let t = tempfile::tempdir().expect("tempdir");
        let blocks = BlockStore::open(t.path()).expect("open");
        let f = EarlyFlush::new(&blocks);
        f.wrote(FLUSH_EVERY - 1);
        assert!(f.flusher.lock().expect("lock").is_none(), "no flush yet");
        f.wrote(1);
        assert!(f.flusher.lock().expect("lock").is_some(), "first boundary");
        f.wrote(3 * FLUSH_EVERY);
        drop(f);
    }

    /// A small DAG is written without writer threads; a large one uses
    /// them; either way every block is stored whole.
    #[test]
    fn small_writes_stay_inline_and_large_ones_go_to_the_pool() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = Store::open(t.path()).expect("open");
        let mut w = store.writer().expect("writer");
        let small = vec![1u8; 1000];
        let small_cid = crate::unixfs::cid_of(crate::unixfs::RAW, &small);
        w.put(&small_cid, &small).expect("put");
        assert!(w.pool.is_none(), "one small block is written inline");
        let mut big = Vec::new();
        for i in 0..4u8 {
            let data = vec![i; 200 << 10];
            let cid = crate::unixfs::cid_of(crate::unixfs::RAW, &data);
            w.put_owned(&cid, data.clone()).expect("put");
            big.push((cid, data));
        }
        assert!(w.pool.is_some(), "past the inline budget, threads write");
        let written = w.finish().expect("finish");
        assert_eq!(written.fresh.len(), 5);
        assert_eq!(store.blocks.get(&small_cid).expect("small"), small);
        for (cid, data) in big {
            assert_eq!(store.blocks.get(&cid).expect("big"), data);
        }
    }
}
