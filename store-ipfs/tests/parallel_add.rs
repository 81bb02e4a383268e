//! `add_path_parallel` (what `pkg store add` runs): the same DAG as the
//! one-thread import, whatever the file sizes, modes and thread count; the
//! blocks it stores verify; a damaged copy of a block that nothing vouches
//! for is replaced; a refused tree registers nothing.

mod common;
use common::diff;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use store_ipfs::dag::DagReader;
use store_ipfs::store::Store;
use store_ipfs::unixfs::{
    AddError, CHUNK_SIZE, Discard, Entry, MemorySink, add_path, add_path_parallel,
};

/// Bytes that differ from chunk to chunk (so leaves do not dedupe).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31) ^ ((i >> 20) as u8) ^ seed)
        .collect()
}

fn make_tree(root: &Path) {
    let c = CHUNK_SIZE;
    fs::create_dir_all(root.join("files")).expect("mkdir");
    fs::create_dir_all(root.join("empty")).expect("mkdir");
    let sizes = [0, 1, c - 1, c, c + 1, 2 * c, 2 * c + 5, 7 * c / 2];
    for (i, n) in sizes.iter().enumerate() {
        fs::write(root.join(format!("files/plain{i}")), bytes(*n, i as u8)).expect("write");
        let exe = root.join(format!("files/exec{i}"));
        fs::write(&exe, bytes(*n, 100 + i as u8)).expect("write");
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // The same big content twice: its leaves are claimed once.
    fs::write(root.join("files/copy"), bytes(2 * c + 5, 6)).expect("write");
    std::os::unix::fs::symlink("files/plain1", root.join("link")).expect("symlink");
    std::os::unix::fs::symlink("/nowhere", root.join("dangling")).expect("symlink");
    // A directory big enough to become a HAMT.
    let wide = root.join("wide");
    fs::create_dir_all(&wide).expect("mkdir");
    for i in 0..3000 {
        fs::write(
            wide.join(format!("entry-with-a-longish-name-{i:05}")),
            i.to_string(),
        )
        .expect("write");
    }
}

fn one_thread(tree: &Path) -> Entry {
    add_path(tree, &mut MemorySink::default()).expect("add")
}

fn add_and_pin(store: &mut Store, tree: &Path, threads: usize) -> Entry {
    let w = store.shared_writer().expect("writer");
    let e = add_path_parallel(tree, &w, threads).expect("add");
    store
        .commit_pin(w.finish(), "tester", "pkg", &e.cid)
        .expect("pin");
    e
}

#[test]
fn the_same_dag_as_one_thread_and_it_reads_back() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    make_tree(&tree);
    let want = one_thread(&tree);
    for threads in [1, 3] {
        assert_eq!(
            add_path_parallel(&tree, &Discard, threads).expect("hash only"),
            want,
            "hash only, {threads} threads"
        );
    }
    let mut store = Store::open(&t.path().join("state")).expect("open");
    assert_eq!(add_and_pin(&mut store, &tree, 3), want);
    let r = DagReader::new(&store.blocks);
    r.check(&want.cid).expect("every block there and verified");
    let out = t.path().join("out");
    r.restore(&want.cid, &out).expect("restore");
    diff(&tree, &out);
    // Adding again writes nothing new and gives the same root.
    let before = fs::read_dir(store.blocks.dir()).expect("ls").count();
    assert_eq!(add_and_pin(&mut store, &tree, 2), want);
    assert_eq!(
        fs::read_dir(store.blocks.dir()).expect("ls").count(),
        before
    );
    assert_eq!(
        fs::read_dir(store.blocks.dir().join(".tmp"))
            .expect("ls tmp")
            .count(),
        0,
        "no named temporaries left"
    );
}

#[test]
fn a_damaged_block_nothing_vouches_for_is_replaced() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    make_tree(&tree);
    let want = one_thread(&tree);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    // Blocks written but never registered (the adder died before its commit).
    let w = store.shared_writer().expect("writer");
    add_path_parallel(&tree, &w, 2).expect("add");
    drop(w);
    // Damage a leaf of a multi-chunk file and a small whole-file block.
    let leaf = common::leaf(&store.blocks, &want.cid, b"files/plain6", 1);
    let small = DagReader::new(&store.blocks)
        .resolve(&want.cid, b"files/plain2")
        .expect("resolve");
    for cid in [leaf, small] {
        common::damage(&store.blocks, &cid, 10);
        assert!(store.blocks.get(&cid).is_err(), "damaged");
    }
    assert_eq!(add_and_pin(&mut store, &tree, 2), want);
    DagReader::new(&store.blocks)
        .check(&want.cid)
        .expect("the damaged copies were replaced");
}

#[test]
fn a_refused_tree_registers_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    make_tree(&tree);
    let fifo = tree.join("files/fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let store = Store::open(&t.path().join("state")).expect("open");
    let w = store.shared_writer().expect("writer");
    match add_path_parallel(&tree, &w, 2) {
        Err(AddError::Unsupported(p)) => assert_eq!(p, fifo),
        other => panic!("expected the fifo refused, got {other:?}"),
    }
    drop(w);
    let (pins, _) = store.pins.list().expect("pins");
    assert!(pins.is_empty(), "nothing pinned: {pins:?}");
    assert!(
        store.catalogue.all_blocks().expect("blocks").is_empty(),
        "no block recorded"
    );
}

/// A tree on another file system (tmpfs): no `copy_file_range` into the
/// store's, so leaves are read and written; same DAG.
#[test]
fn a_tree_on_another_file_system() {
    let shm = Path::new("/dev/shm");
    assert!(shm.is_dir(), "/dev/shm is needed for this test");
    let src = tempfile::tempdir_in(shm).expect("tempdir on tmpfs");
    let tree = src.path().join("tree");
    make_tree(&tree);
    let want = one_thread(&tree);
    let t = tempfile::tempdir_in("/var/tmp").expect("tempdir on disk");
    let mut store = Store::open(&t.path().join("state")).expect("open");
    assert_eq!(add_and_pin(&mut store, &tree, 2), want);
    DagReader::new(&store.blocks)
        .check(&want.cid)
        .expect("verified");
}
