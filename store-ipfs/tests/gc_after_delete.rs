//! The sweep after `nix-store --delete` (`gc::collect_after_delete`): it
//! looks only at the blocks of the deleted paths, and must remove exactly
//! what a full collection would — never a block another path, a leftover
//! or a pin still needs.

mod common;
use common::diff;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use cid::Cid;
use nix_formats::store_path::StorePath;
use store_ipfs::dag::DagReader;
use store_ipfs::gc;
use store_ipfs::store::{NewPath, Store};

fn store_path(name: &str, c: char) -> StorePath {
    let hash: String = std::iter::repeat_n(c, 32).collect();
    StorePath::from_base_name(&format!("{hash}-{name}")).expect("store path")
}

/// Registers the tree at `dir` as a valid store path; returns its root.
fn add(store: &mut Store, dir: &Path, path: &StorePath) -> Cid {
    let mut nar = Vec::new();
    nix_formats::nar::dump(dir, &mut nar).expect("dump");
    let meta = NewPath {
        path: path.clone(),
        references: BTreeSet::new(),
        deriver: None,
        ultimate: true,
        sigs: BTreeSet::new(),
        ca: None,
        nar_hash: None,
        nar_size: None,
    };
    store.add_nar(nar.as_slice(), meta).expect("add").root
}

/// Makes `path` invalid, then sweeps what hung from its root.
fn delete_and_sweep(store: &mut Store, path: &StorePath, root: &Cid) -> gc::GcReport {
    store
        .catalogue
        .delete_paths(std::slice::from_ref(path))
        .expect("delete");
    gc::collect_after_delete(store, std::slice::from_ref(root), &(), false).expect("sweep")
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, data).expect("write");
}

/// Contents of many distinct small files and one large file (several
/// chunks), with `seed` in each.
fn tree(dir: &Path, seed: &str, files: usize) {
    for i in 0..files {
        write(
            dir,
            &format!("d{}/f{i}", i % 7),
            format!("{seed} file {i}\n"),
        );
    }
    let big: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i as u8) ^ seed.len() as u8)
        .collect();
    write(dir, "big.bin", big);
}

fn restores(store: &Store, root: &Cid, like: &Path, scratch: &Path) {
    let _ = fs::remove_dir_all(scratch);
    DagReader::new(&store.blocks)
        .restore(root, scratch)
        .expect("restore");
    diff(like, scratch);
}

#[test]
fn a_delete_removes_what_a_full_collection_would_and_nothing_that_is_needed() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, b, sub, pinned) = (
        t.path().join("a"),
        t.path().join("b"),
        t.path().join("sub"),
        t.path().join("pinned"),
    );
    // a: its own files, files it shares with b, and a directory `d3` that
    // is exactly another path (`sub`); a pinned tree holds one of its files.
    tree(&a, "a", 40);
    write(&a, "shared/one", "in a and b\n");
    write(&a, "shared/two", "also in a and b\n");
    tree(&b, "bb", 400);
    write(&b, "shared/one", "in a and b\n");
    write(&b, "shared/two", "also in a and b\n");
    fs::create_dir_all(&sub).expect("mkdir");
    for e in fs::read_dir(a.join("d3")).expect("read d3") {
        let e = e.expect("entry");
        fs::copy(e.path(), sub.join(e.file_name())).expect("copy");
    }
    write(&pinned, "kept", "a file of a, pinned elsewhere\n");
    write(&a, "kept", "a file of a, pinned elsewhere\n");

    let mut store = Store::open(&t.path().join("state")).expect("open");
    let (pa, pb, ps) = (
        store_path("a", 'a'),
        store_path("b", 'b'),
        store_path("sub", 'c'),
    );
    let ra = add(&mut store, &a, &pa);
    let rb = add(&mut store, &b, &pb);
    let rs = add(&mut store, &sub, &ps);
    let pin = common::add_and_pin(&mut store, &pinned);
    let kept_leaf = DagReader::new(&store.blocks)
        .resolve(&pin.cid, b"kept")
        .expect("kept");

    store.catalogue.delete_paths(&[pa]).expect("delete a");
    let full: HashSet<Cid> = gc::collect(&mut store, &(), true)
        .expect("dry run")
        .removed
        .into_iter()
        .collect();
    assert!(!full.is_empty(), "a had blocks of its own");
    assert!(full.contains(&ra));

    let report = gc::collect_after_delete(&mut store, &[ra], &(), false).expect("sweep");
    let removed: HashSet<Cid> = report.removed.into_iter().collect();
    assert_eq!(removed, full, "the same blocks as a full collection");
    assert!(!store.blocks.has(&ra));
    let scratch = t.path().join("out");
    restores(&store, &rb, &b, &scratch);
    restores(&store, &rs, &sub, &scratch);
    restores(&store, &pin.cid, &pinned, &scratch);
    assert!(store.blocks.has(&kept_leaf));
    assert!(
        gc::collect(&mut store, &(), true)
            .expect("dry run after")
            .removed
            .is_empty(),
        "nothing left for a full collection"
    );
}

#[test]
fn a_delete_of_content_another_path_has_removes_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let (x, big) = (t.path().join("x"), t.path().join("big"));
    tree(&x, "x", 10);
    tree(&big, "big", 200);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let rx = add(&mut store, &x, &store_path("x", 'x'));
    let ry = add(&mut store, &x, &store_path("y", 'y'));
    assert_eq!(rx, ry, "same contents, same DAG");
    add(&mut store, &big, &store_path("big", 'z'));
    let report = delete_and_sweep(&mut store, &store_path("x", 'x'), &rx);
    assert!(report.removed.is_empty(), "{:?}", report.removed);
    restores(&store, &ry, &x, &t.path().join("out"));
}

#[test]
fn a_delete_of_most_of_the_store_is_a_full_collection() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, small) = (t.path().join("a"), t.path().join("small"));
    tree(&a, "a", 100);
    tree(&small, "s", 1);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let pa = store_path("a", 'a');
    let ra = add(&mut store, &a, &pa);
    let rs = add(&mut store, &small, &store_path("small", 's'));
    // A block file nothing records (what a killed writer leaves): only a
    // full collection looks for those.
    let orphan = b"left by a killed writer".to_vec();
    let orphan_cid = store_ipfs::unixfs::cid_of(store_ipfs::unixfs::RAW, &orphan);
    store.blocks.put(&orphan_cid, &orphan).expect("orphan");

    // Deleting the small one: its blocks only, the orphan stays.
    let report = delete_and_sweep(&mut store, &store_path("small", 's'), &rs);
    assert!(report.removed.contains(&rs));
    assert!(store.blocks.has(&orphan_cid));
    // Deleting the large one: a full collection, which finds the orphan.
    let report = delete_and_sweep(&mut store, &pa, &ra);
    assert!(report.removed.contains(&ra));
    assert!(report.removed.contains(&orphan_cid));
    assert!(store.blocks.list().expect("list").is_empty());
}

#[test]
fn trash_a_dead_collector_left_goes_with_the_next_sweep() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    tree(&a, "a", 5);
    tree(&b, "b", 100);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let ra = add(&mut store, &a, &store_path("a", 'a'));
    add(&mut store, &b, &store_path("b", 'b'));
    // A process that no longer exists (beyond any pid) left its trash:
    // where this version puts it, and where earlier ones did.
    let dir = store.blocks.dir().to_owned();
    let now = dir.join(".trashed/999999999-0");
    let before = dir.join(".trash-999999999-1");
    for d in [&now, &before] {
        fs::create_dir_all(d).expect("mkdir");
        fs::write(d.join("x"), "x").expect("write");
    }
    delete_and_sweep(&mut store, &store_path("a", 'a'), &ra);
    assert!(!now.exists(), "the sweep after a delete clears .trashed");
    assert!(before.exists(), "it does not list the blocks");
    gc::collect(&mut store, &(), false).expect("gc");
    assert!(!before.exists(), "a full collection does");
}
