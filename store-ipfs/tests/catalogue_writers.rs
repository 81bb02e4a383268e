//! Several connections writing the catalogue at once (one per daemon
//! session): every registration must wait its turn instead of failing with
//! "database is locked". A deferred transaction that reads before it
//! writes cannot be upgraded once another connection has committed, so
//! without `BEGIN IMMEDIATE` some of these registrations fail.

use std::collections::BTreeSet;
use std::thread;

use nix_formats::hash::Hash;
use nix_formats::store_path::StorePath;
use store_ipfs::catalogue::{BlockRecord, Catalogue, PathRecord};
use store_ipfs::unixfs::cid_of;

const WRITERS: usize = 6;
const PATHS_EACH: usize = 40;

fn record(writer: usize, i: usize) -> (PathRecord, Vec<BlockRecord>) {
    let data = format!("writer {writer} path {i}");
    let cid = cid_of(0x55, data.as_bytes());
    // 32 characters of the nix32 alphabet, unique per (writer, i).
    let hash: String = format!("{writer:02}{i:030}")
        .chars()
        .map(|c| match c {
            '0' => 'a',
            d => d,
        })
        .collect();
    let path = StorePath::from_base_name(&format!("{hash}-w{writer}-{i}")).expect("valid name");
    let rec = PathRecord {
        path,
        root: cid,
        nar_hash: Hash::sha256(data.as_bytes()),
        nar_size: data.len() as u64,
        references: BTreeSet::new(),
        deriver: None,
        ultimate: true,
        sigs: BTreeSet::new(),
        ca: None,
        registration_time: 1,
    };
    let blocks = vec![BlockRecord {
        cid,
        size: data.len() as u64,
        links: Vec::new(),
    }];
    (rec, blocks)
}

#[test]
fn concurrent_writers_all_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    Catalogue::open(dir.path()).expect("create the catalogue");
    thread::scope(|s| {
        for w in 0..WRITERS {
            let state = dir.path();
            s.spawn(move || {
                let mut cat = Catalogue::open(state).expect("open");
                for i in 0..PATHS_EACH {
                    let (rec, blocks) = record(w, i);
                    assert!(
                        cat.register(&rec, &blocks)
                            .unwrap_or_else(|e| panic!("writer {w}, path {i}: {e}")),
                        "newly registered"
                    );
                    assert!(cat.is_valid(&rec.path).expect("query"));
                }
            });
        }
    });
    let cat = Catalogue::open(dir.path()).expect("open");
    assert_eq!(cat.all_paths().expect("list").len(), WRITERS * PATHS_EACH);
}
