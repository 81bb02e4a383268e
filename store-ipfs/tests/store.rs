//! The store end to end on disk: add a tree, pin it, read it back, collect
//! garbage, detect corruption, and run GC while another writer adds.

mod common;
use common::{add_and_pin, diff};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use store_ipfs::blocks::BlockError;
use store_ipfs::dag::{DagError, DagReader};
use store_ipfs::gc;
use store_ipfs::store::Store;

fn make_tree(root: &Path, seed: u8) {
    fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
    fs::create_dir_all(root.join("empty")).expect("mkdir");
    fs::write(root.join("small.txt"), format!("small {seed}\n")).expect("write");
    fs::write(
        root.join("sub/big.bin"),
        (0..3_000_000u32)
            .map(|i| (i as u8) ^ seed)
            .collect::<Vec<_>>(),
    )
    .expect("write");
    fs::write(root.join("sub/deeper/run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    fs::set_permissions(
        root.join("sub/deeper/run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("../small.txt", root.join("sub/link")).expect("symlink");
    fs::write(root.join(".hidden"), "").expect("write");
}

#[test]
fn add_pin_read_back() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    make_tree(&tree, 1);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let e = add_and_pin(&mut store, &tree);
    let out = t.path().join("out");
    DagReader::new(&store.blocks)
        .restore(&e.cid, &out)
        .expect("restore");
    diff(&tree, &out);
    let mode = fs::metadata(out.join("sub/deeper/run.sh"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable bit survives");
    // Partial reads across chunk boundaries.
    let r = DagReader::new(&store.blocks);
    let big = r.resolve(&e.cid, b"sub/big.bin").expect("resolve");
    let want: Vec<u8> = (0..3_000_000u32).map(|i| (i as u8) ^ 1).collect();
    for (off, len) in [
        (0usize, 10usize),
        (1048570, 20),
        (2097150, 900_000),
        (2_999_990, 100),
    ] {
        let got = r.read_at(&big, off as u64, len).expect("read_at");
        assert_eq!(
            got,
            want[off..(off + len).min(want.len())],
            "range {off}+{len}"
        );
    }
    // Blocks are read-only files.
    let b = store.blocks.list().expect("list");
    assert!(!b.is_empty());
    assert_eq!(
        fs::metadata(store.blocks.path_of(&b[0]))
            .expect("stat")
            .permissions()
            .mode()
            & 0o222,
        0
    );
}

#[test]
fn gc_removes_unpinned_and_keeps_pinned() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    make_tree(&a, 1);
    make_tree(&b, 2);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let ea = add_and_pin(&mut store, &a);
    let eb = add_and_pin(&mut store, &b);
    assert!(store.pins.remove("tester", "pkg", &eb.cid).expect("unpin"));
    let dry = gc::collect(&mut store, &(), true).expect("dry run");
    assert!(!dry.removed.is_empty());
    assert!(store.blocks.has(&eb.cid), "dry run deletes nothing");
    let report = gc::collect(&mut store, &(), false).expect("gc");
    assert_eq!(report.removed.len(), dry.removed.len());
    assert!(!store.blocks.has(&eb.cid));
    assert!(store.blocks.has(&ea.cid));
    let out = t.path().join("out");
    DagReader::new(&store.blocks)
        .restore(&ea.cid, &out)
        .expect("pinned tree intact");
    diff(&a, &out);
    // b's shared content ("#!/bin/sh" script, empty file) must survive: it is in a too.
    assert!(
        gc::collect(&mut store, &(), true)
            .expect("again")
            .removed
            .is_empty()
    );
}

#[test]
fn corrupt_block_is_an_error_never_wrong_bytes() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    make_tree(&tree, 3);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let e = add_and_pin(&mut store, &tree);
    let r = DagReader::new(&store.blocks);
    let small = r.resolve(&e.cid, b"small.txt").expect("resolve");
    common::damage(&store.blocks, &small, 0);
    match r.read_at(&small, 0, 100) {
        Err(DagError::Block(BlockError::Corrupt { cid })) => assert_eq!(cid, small),
        other => panic!("expected corruption error, got {other:?}"),
    }
}

#[test]
fn gc_while_another_writer_adds() {
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let mut trees = Vec::new();
    for i in 0..6u8 {
        let p = t.path().join(format!("t{i}"));
        make_tree(&p, i);
        trees.push(p);
    }
    Store::open(&state).expect("create");
    let writer_state = state.clone();
    let writer_trees = trees.clone();
    let writer = std::thread::spawn(move || {
        let mut store = Store::open(&writer_state).expect("open");
        writer_trees
            .iter()
            .map(|p| add_and_pin(&mut store, p).cid)
            .collect::<Vec<_>>()
    });
    let mut gc_store = Store::open(&state).expect("open");
    let mut runs = 0;
    while !writer.is_finished() {
        gc::collect(&mut gc_store, &(), false).expect("gc");
        runs += 1;
    }
    let cids = writer.join().expect("writer");
    gc::collect(&mut gc_store, &(), false).expect("final gc");
    assert!(runs > 0);
    for (tree, cid) in trees.iter().zip(cids) {
        let out = t.path().join(format!("out-{cid}"));
        DagReader::new(&gc_store.blocks)
            .restore(&cid, &out)
            .expect("every pinned tree is whole");
        diff(tree, &out);
    }
}

/// A collection killed while it moved dead blocks to `.trash` never
/// checked whether one was needed again meanwhile; the next one puts them
/// back first, so what a pinned tree needs survives, and what nothing
/// needs is still removed.
#[test]
fn gc_restores_what_an_interrupted_collection_left_in_the_trash() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    make_tree(&a, 3);
    make_tree(&b, 4);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let ea = add_and_pin(&mut store, &a);
    let eb = add_and_pin(&mut store, &b);
    assert!(store.pins.remove("tester", "pkg", &eb.cid).expect("unpin"));
    let dir = store.blocks.dir().to_owned();
    let trash = dir.join(".trash");
    std::fs::create_dir_all(&trash).expect("trash");
    // One block a needs and b's root, as a killed collection leaves them.
    for cid in [ea.cid, eb.cid] {
        let name = cid.to_string();
        std::fs::rename(dir.join(&name), trash.join(&name)).expect("move to trash");
    }
    assert!(!store.blocks.has(&ea.cid));
    gc::collect(&mut store, &(), false).expect("gc");
    assert!(!trash.exists(), "the trash is emptied");
    let out = t.path().join("out");
    DagReader::new(&store.blocks)
        .restore(&ea.cid, &out)
        .expect("the pinned tree is whole again");
    diff(&a, &out);
    assert!(
        !store.blocks.has(&eb.cid),
        "the unpinned root is still removed"
    );
}
