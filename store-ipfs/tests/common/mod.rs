//! Helpers shared by the store's integration tests (and `nix-cli`'s, which
//! include this file). Not every test file uses every helper.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use cid::Cid;
use store_ipfs::blocks::BlockStore;
use store_ipfs::dag::DagReader;
use store_ipfs::store::Store;
use store_ipfs::unixfs::{Entry, add_path};

/// Asserts that two trees are identical (`diff -r`, symlinks compared as
/// links).
pub fn diff(a: &Path, b: &Path) {
    let out = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(a)
        .arg(b)
        .output()
        .expect("diff");
    assert!(
        out.status.success(),
        "{} vs {}: {}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Flips the byte at `at` of a stored block, in place (block files are
/// read-only).
pub fn damage(blocks: &BlockStore, cid: &Cid, at: usize) {
    let p = blocks.path_of(cid);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut b = fs::read(&p).expect("read");
    b[at] ^= 0xff;
    fs::write(&p, b).expect("damage");
}

/// The `n`-th leaf of the file of more than one chunk at `path` under `root`.
pub fn leaf(blocks: &BlockStore, root: &Cid, path: &[u8], n: usize) -> Cid {
    let file = DagReader::new(blocks).resolve(root, path).expect("resolve");
    store_ipfs::unixfs::node::decode_node(&blocks.get(&file).expect("file node"))
        .expect("dag-pb")
        .links[n]
        .cid
}

/// Adds the tree at `tree` and pins it (as user `tester`, pin `pkg`).
pub fn add_and_pin(store: &mut Store, tree: &Path) -> Entry {
    let mut w = store.writer().expect("writer");
    let e = add_path(tree, &mut w).expect("add");
    let written = w.finish().expect("blocks written");
    store
        .commit_pin(written, "tester", "pkg", &e.cid)
        .expect("pin");
    e
}
