//! Small paths become valid before their blocks reach the disk.
//!
//! Making a path's blocks durable before it is registered costs a journal
//! commit (an fsync, about a millisecond on ext4), and a client that adds
//! `.drv` files one at a time, or a build whose output is one small file,
//! waits for it every time; nix-daemon fsyncs nothing. So a path whose
//! blocks total at most [`DEFER_MAX_BYTES`] is registered at once, with a
//! row in the catalogue's `undurable` table (in the same transaction) that
//! names the boot it was registered in. A flusher thread then makes
//! everything durable with one `syncfs`, at most [`DEFER_WINDOW`] later,
//! and forgets the rows committed before that `syncfs` began.
//!
//! What this can cost is the last window's small paths, and only when the
//! machine itself goes down (power, kernel): the catalogue's commits (WAL
//! with `synchronous=NORMAL`) are not more durable than that either, and a
//! killed process loses nothing, its writes being in the page cache. What
//! it must never leave is a valid path whose blocks are gone:
//! - opening the store checks the rows of an earlier boot (every block
//!   read and hashed: the paths are small), makes the paths that fail
//!   invalid together with everything that refers to them and forgets the
//!   blocks that are gone (a recorded block is trusted to exist: the next
//!   add of the same data would not write it), then syncs and forgets the
//!   rows ([`crate::store::Store::open`]);
//! - a large path, registered the slow way, may use blocks an undurable
//!   path wrote without having written them itself (they were registered
//!   when it looked), so while rows exist its registration flushes them
//!   all instead of fsyncing its own blocks.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::blocks::BlockStore;
use crate::catalogue::Catalogue;
use crate::store::{StoreError, io_err};

/// Paths whose blocks total at most this many bytes are registered before
/// their blocks are durable (a `.drv`, a small build output).
pub const DEFER_MAX_BYTES: u64 = 1 << 20;

/// How long after a deferred registration its blocks are made durable.
pub const DEFER_WINDOW: Duration = Duration::from_millis(500);

/// This boot's id, or `None` where the kernel does not say (then nothing
/// is deferred: a restart could not tell a reboot from a process crash).
pub fn boot_id() -> Option<&'static str> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// Makes every undurable path registered so far durable: one `syncfs` of
/// the block store's file system (which holds the catalogue too), then the
/// rows committed before it began are forgotten. Returns whether there
/// were any (and so whether it synced).
pub fn flush(blocks: &BlockStore, catalogue: &Catalogue) -> Result<bool, StoreError> {
    let Some(last) = catalogue.last_undurable()? else {
        return Ok(false);
    };
    blocks.sync().map_err(io_err("block store", blocks.dir()))?;
    catalogue.forget_undurable(last)?;
    Ok(true)
}

/// The thread that flushes one state directory's undurable paths, shared
/// by every store of this process open on it. Dropping the last handle
/// flushes what is pending and waits for it.
#[derive(Debug)]
pub struct Flusher {
    kick: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Asks for a flush within [`DEFER_WINDOW`].
    pub fn kick(&self) {
        if let Some(k) = &self.kick {
            // Full: a flush is pending already, and will see this row.
            let _ = k.try_send(());
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.kick.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Registry = Mutex<Vec<(PathBuf, Weak<Flusher>)>>;

/// The flusher for `state`, started if this process has none; `None` if no
/// thread can be started (then nothing is deferred).
pub fn flusher_for(state: &Path, blocks: &BlockStore) -> Option<Arc<Flusher>> {
    static FLUSHERS: OnceLock<Registry> = OnceLock::new();
    let mut all = FLUSHERS
        .get_or_init(Registry::default)
        .lock()
        .expect("flusher registry lock");
    all.retain(|(_, f)| f.strong_count() > 0);
    if let Some(f) = all
        .iter()
        .find(|(s, _)| s == state)
        .and_then(|(_, f)| f.upgrade())
    {
        return Some(f);
    }
    let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
    let (state_dir, blocks) = (state.to_owned(), blocks.clone());
    let thread = std::thread::Builder::new()
        .name("durable-flusher".into())
        .spawn(move || run(&state_dir, &blocks, &kicked))
        .ok()?;
    let f = Arc::new(Flusher {
        kick: Some(kick),
        thread: Some(thread),
    });
    all.push((state.to_owned(), Arc::downgrade(&f)));
    Some(f)
}

fn run(state: &Path, blocks: &BlockStore, kicked: &Receiver<()>) {
    let mut catalogue = None;
    // Nothing pending when the last handle goes: done.
    while kicked.recv().is_ok() {
        let deadline = Instant::now() + DEFER_WINDOW;
        let closing = loop {
            match kicked.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break false,
                Err(RecvTimeoutError::Disconnected) => break true,
            }
        };
        if catalogue.is_none() {
            catalogue = Catalogue::open(state).ok();
        }
        // On failure the rows stay: the next flush, a large path's
        // registration or the next open takes them.
        if let Some(c) = &catalogue {
            let _ = flush(blocks, c);
        }
        if closing {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::BufReader;

    use nix_formats::content_address::ContentAddress;
    use nix_formats::hash::Hash;
    use nix_formats::nar::regular_file_nar;
    use nix_formats::store_path::{StoreDir, StorePath};

    use super::*;
    use crate::catalogue::PathRecord;
    use crate::store::{NewPath, Prepared, Store};

    fn text_path(name: &str, text: &[u8], refs: &BTreeSet<StorePath>) -> NewPath {
        let ca = ContentAddress::Text(Hash::sha256(text));
        let path = StoreDir::default()
            .make_path_from_ca(name, &ca, refs, false)
            .expect("path");
        NewPath::content_addressed(path, refs.clone(), ca)
    }

    fn nar(text: &[u8]) -> BufReader<impl std::io::Read + '_> {
        BufReader::new(regular_file_nar(false, text.len() as u64, text))
    }

    /// Blocks written and a record made, not registered.
    fn prepared(store: &Store, meta: NewPath, text: &[u8]) -> Prepared {
        let shown = meta.path.to_string();
        store
            .prepare_nar(nar(text), &shown, |_| Ok(meta))
            .expect("prepare")
    }

    /// Registers `p` as undurable from `boot`, as a process of that boot
    /// would have before a flush.
    fn register_from(store: &mut Store, p: &Prepared, boot: &str) {
        store
            .catalogue
            .register_many_undurable(&[(&p.rec, p.written.records.as_slice())], boot)
            .expect("register");
    }

    fn undurable_paths(store: &Store) -> Vec<StorePath> {
        let rows = store.catalogue.undurable().expect("rows");
        rows.into_iter().map(|r| r.path).collect()
    }

    fn wait_until_flushed(store: &Store) {
        let deadline = Instant::now() + 20 * DEFER_WINDOW;
        while store.catalogue.has_undurable().expect("query") {
            assert!(Instant::now() < deadline, "the flusher did not flush");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn valid(store: &Store, rec: &PathRecord) -> bool {
        store.catalogue.is_valid(&rec.path).expect("query")
    }

    /// A small add is valid at once, recorded as undurable from this boot,
    /// and the flusher forgets it within the window.
    #[test]
    fn small_paths_are_valid_at_once_and_durable_within_the_window() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(t.path()).expect("open");
        let text = b"Derive([],[],[],\"x\",\"b\",[],[])";
        let rec = store
            .add_nar(nar(text), text_path("a.drv", text, &BTreeSet::new()))
            .expect("add");
        assert!(valid(&store, &rec));
        let rows = store.catalogue.undurable().expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].path, rec.path);
        assert_eq!(Some(rows[0].boot.as_str()), boot_id());
        wait_until_flushed(&store);
        assert!(valid(&store, &rec));
    }

    /// A path too large to defer is made durable first, and so are the
    /// undurable ones, whose blocks it may share.
    #[test]
    fn a_large_path_flushes_the_undurable_ones_before_it_registers() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(t.path()).expect("open");
        let small = prepared(&store, text_path("s", b"small", &BTreeSet::new()), b"small");
        register_from(&mut store, &small, "some-boot");
        let big = vec![7u8; (DEFER_MAX_BYTES + 1) as usize];
        let rec = store
            .add_nar(nar(&big), text_path("big", &big, &BTreeSet::new()))
            .expect("add");
        assert!(valid(&store, &rec));
        assert!(
            !store.catalogue.has_undurable().expect("query"),
            "the large add flushed the small one and was not deferred itself"
        );
    }

    /// After a reboot, a path whose blocks did not reach the disk (one is
    /// removed here) is made invalid with its referrers; the rest stay
    /// valid, and every row from that boot goes.
    #[test]
    fn after_a_reboot_paths_whose_blocks_are_gone_are_made_invalid() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(t.path()).expect("open");
        let a = prepared(&store, text_path("a", b"aaa", &BTreeSet::new()), b"aaa");
        register_from(&mut store, &a, "old-boot");
        let refs = BTreeSet::from([a.rec.path.clone()]);
        let b = prepared(&store, text_path("b", b"bbb", &refs), b"bbb");
        register_from(&mut store, &b, "old-boot");
        let c = prepared(&store, text_path("c", b"ccc", &BTreeSet::new()), b"ccc");
        register_from(&mut store, &c, "old-boot");
        let (a, b, c) = (a.rec.clone(), b.rec.clone(), c.rec.clone());
        store.blocks.remove(&a.root).expect("remove");

        let lost = store.recover_undurable(Some("new-boot")).expect("recover");
        assert_eq!(
            lost.iter().collect::<BTreeSet<_>>(),
            BTreeSet::from([&a.path, &b.path])
        );
        assert!(!valid(&store, &a) && !valid(&store, &b));
        assert!(valid(&store, &c));
        assert!(undurable_paths(&store).is_empty());
        // The block that did not survive is not trusted to exist: adding
        // the same data again writes it.
        assert!(!store.catalogue.has_block(&a.root).expect("query"));
        let again = store
            .add_nar(nar(b"aaa"), text_path("a", b"aaa", &BTreeSet::new()))
            .expect("add again");
        assert_eq!(again.root, a.root);
        store.blocks.get(&a.root).expect("written again, whole");

        // Opening the store does the same (nothing left to do now).
        drop(store);
        let store = Store::open(t.path()).expect("reopen");
        assert!(store.lost_on_open().is_empty());
        assert!(valid(&store, &c));
    }

    /// Rows of the running boot are the flusher's: their blocks are in the
    /// page cache whatever happened to the process that wrote them, so the
    /// open neither checks nor forgets them.
    #[test]
    fn rows_of_this_boot_are_not_checked_on_open() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(t.path()).expect("open");
        let a = prepared(&store, text_path("a", b"aaa", &BTreeSet::new()), b"aaa");
        register_from(&mut store, &a, "this-boot");
        let lost = store.recover_undurable(Some("this-boot")).expect("recover");
        assert!(lost.is_empty());
        assert_eq!(undurable_paths(&store), vec![a.rec.path.clone()]);
    }

    /// An undurable path that is deleted (GC) takes its row with it.
    #[test]
    fn deleting_an_undurable_path_drops_its_row() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(t.path()).expect("open");
        let a = prepared(&store, text_path("a", b"aaa", &BTreeSet::new()), b"aaa");
        register_from(&mut store, &a, "some-boot");
        store
            .catalogue
            .delete_paths(std::slice::from_ref(&a.rec.path))
            .expect("delete");
        assert!(undurable_paths(&store).is_empty());
    }

    /// The last store of a process to close flushes what is pending, so a
    /// short-lived process (the `pkg` CLI) leaves nothing undurable.
    #[test]
    fn closing_the_last_store_flushes() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(t.path()).expect("open");
        let rec = store
            .add_nar(nar(b"x"), text_path("x", b"x", &BTreeSet::new()))
            .expect("add");
        assert_eq!(undurable_paths(&store), vec![rec.path.clone()]);
        drop(store);
        let store = Store::open_another(t.path()).expect("reopen");
        assert!(undurable_paths(&store).is_empty());
        assert!(valid(&store, &rec));
    }
}
