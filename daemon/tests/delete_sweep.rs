//! `nix-store --delete` of one path through the real Nix client: the
//! daemon then sweeps only the blocks of that path (it does not walk the
//! whole store), and must leave exactly the blocks the remaining path
//! reaches — its files shared with the deleted one included — with the
//! store verifying clean at every moment of the sweep.

#![allow(clippy::unwrap_used)]

mod hostile_support;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cid::Cid;
use hostile_support::*;

/// Every recorded block reachable from `root`.
fn reachable(cat: &store_ipfs::catalogue::Catalogue, root: &Cid) -> HashSet<Cid> {
    let mut seen = HashSet::new();
    let mut stack = vec![*root];
    while let Some(c) = stack.pop() {
        if cat.has_block(&c).unwrap() && seen.insert(c) {
            stack.extend(cat.links_of(&c).unwrap());
        }
    }
    seen
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

#[test]
fn a_delete_sweeps_the_deleted_paths_blocks_and_keeps_the_shared_ones() {
    let d = Daemon::start();
    let (a, b) = (d.dir.path().join("a"), d.dir.path().join("b"));
    for i in 0..20 {
        write(&a, &format!("own/{i}"), format!("only in a: {i}\n"));
    }
    for i in 0..200 {
        write(&b, &format!("own/{i}"), format!("only in b: {i}\n"));
    }
    let shared: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    write(&a, "shared/big", &shared);
    write(&b, "shared/big", &shared);
    write(&a, "shared/small", "in both\n");
    write(&b, "elsewhere/small", "in both\n");

    let add = |p: &Path| d.nix_store_ok(&["--add", p.to_str().unwrap()]);
    let (pa, pb) = (add(&a), add(&b));
    let root_of = |p: &str| {
        let sp = d.store_dir.parse_path(p).unwrap();
        d.catalogue().path_info(&sp).unwrap().unwrap().root
    };
    let (ra, rb) = (root_of(&pa), root_of(&pb));
    let cat = d.catalogue();
    let of_b = reachable(&cat, &rb);
    let of_a = reachable(&cat, &ra);
    assert!(
        of_a.iter().any(|c| of_b.contains(c)),
        "a and b share blocks"
    );
    assert!(
        of_a.iter().any(|c| !of_b.contains(c)),
        "a has blocks of its own"
    );
    assert!(of_a.len() * 2 < of_b.len(), "a small part of the store");

    d.nix_store_ok(&["--delete", &pa]);
    // The sweep runs after the answer: the store verifies while it does,
    // and once it is done the blocks (recorded and on disk) are b's.
    let blocks = store_ipfs::blocks::BlockStore::open(&d.state).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        d.verify_clean();
        let recorded: HashSet<Cid> = cat.all_blocks().unwrap().into_iter().collect();
        let files: HashSet<Cid> = blocks.list().unwrap().into_iter().collect();
        if recorded == of_b && files == of_b {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s: {} recorded, {} files, b has {}",
            recorded.len(),
            files.len(),
            of_b.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let check = d.nix_store(&["--check-validity", &pb]);
    assert!(check.status.success());
    assert!(!d.nix_store(&["--check-validity", &pa]).status.success());
}
