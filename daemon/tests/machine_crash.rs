//! The machine going down (power, kernel) right after small paths were
//! added: the daemon registers those before their blocks reach the disk
//! and makes them durable within half a second (`store_ipfs::deferred`).
//! Here a path's rows are made to look as if its boot ended before that
//! flush, and one of its blocks as if it never reached the disk; the
//! daemon must start with that path invalid (and say so), keep the other,
//! and leave no suspect rows behind.

#![allow(clippy::unwrap_used)]

mod hostile_support;

use hostile_support::*;

#[test]
fn a_path_whose_blocks_did_not_survive_the_machine_is_invalid_after_it() {
    let mut d = Daemon::start();
    let mut c = Client::open(&d, V2_8);
    let lost = c.add_text("lost", b"never reached the disk").unwrap();
    let kept = c.add_text("kept", b"did reach the disk").unwrap();
    drop(c);
    let root = d.catalogue().path_info(&lost).unwrap().unwrap().root;

    d.restart_after(|state| {
        // SIGTERM flushed everything: no row is left.
        assert!(!d_catalogue(state).has_undurable().unwrap());
        let db = rusqlite::Connection::open(state.join("catalogue.sqlite")).unwrap();
        for p in [&lost, &kept] {
            let n = db
                .execute(
                    "INSERT INTO undurable (path, boot) SELECT id, 'an-earlier-boot' FROM paths WHERE path = ?1",
                    [p.to_string()],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        store_ipfs::blocks::BlockStore::open(state)
            .unwrap()
            .remove(&root)
            .unwrap();
    });

    let log = d.log();
    assert!(
        log.contains("no longer valid") && log.contains(&d.path(&lost)),
        "the daemon names the path it made invalid:\n{log}"
    );
    assert!(!log.contains(&d.path(&kept)), "{log}");
    let mut c = Client::open(&d, V2_8);
    assert!(!c.is_valid(&lost));
    assert!(c.is_valid(&kept));
    assert!(!d.catalogue().has_undurable().unwrap());
    // Added again, it is whole.
    assert_eq!(c.add_text("lost", b"never reached the disk").unwrap(), lost);
    assert!(c.is_valid(&lost));
}

fn d_catalogue(state: &std::path::Path) -> store_ipfs::catalogue::Catalogue {
    store_ipfs::catalogue::Catalogue::open(state).unwrap()
}
