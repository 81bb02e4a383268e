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

/// The same through the real Nix client: `nix-store --add` of two small
/// files, the machine "goes down" before one of them reached the disk, and
/// after the restart `nix-store --check-validity` refuses that one, accepts
/// the other, `--verify --check-contents` is clean, and `--add` again
/// brings it back whole (verified, with its NAR's hash). The daemon runs
/// without its FUSE mount, so the client reads nothing from the store
/// directory itself.
#[test]
fn the_nix_client_sees_the_lost_path_invalid_and_can_add_it_again() {
    let mut d = Daemon::start();
    let files = d.dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let (lost_file, kept_file) = (files.join("lost"), files.join("kept"));
    std::fs::write(&lost_file, "never reached the disk\n").unwrap();
    std::fs::write(&kept_file, "did reach the disk\n").unwrap();
    let add = |d: &Daemon, f: &std::path::Path| d.nix_store_ok(&["--add", f.to_str().unwrap()]);
    let lost = add(&d, &lost_file);
    let kept = add(&d, &kept_file);
    let lost_path = d.store_dir.parse_path(&lost).unwrap();
    let root = d.catalogue().path_info(&lost_path).unwrap().unwrap().root;

    d.restart_after(|state| {
        let db = rusqlite::Connection::open(state.join("catalogue.sqlite")).unwrap();
        db.execute(
            "INSERT INTO undurable (path, boot) SELECT id, 'an-earlier-boot' FROM paths",
            [],
        )
        .unwrap();
        store_ipfs::blocks::BlockStore::open(state)
            .unwrap()
            .remove(&root)
            .unwrap();
    });

    let check = |d: &Daemon, p: &str| d.nix_store(&["--check-validity", p]).status.success();
    assert!(!check(&d, &lost), "the lost path is invalid");
    assert!(check(&d, &kept), "the other one is valid");
    d.verify_clean();
    assert_eq!(add(&d, &lost_file), lost);
    assert!(check(&d, &lost));
    // Its blocks check out, and its recorded hash is its NAR's.
    d.verify_clean();
    let hash = d.nix_store(&["-q", "--hash", &lost]);
    assert_eq!(
        String::from_utf8_lossy(&hash.stdout).trim(),
        nix_formats::hash::Hash::sha256(&file_nar(b"never reached the disk\n")).to_prefixed_nix32()
    );
}

fn d_catalogue(state: &std::path::Path) -> store_ipfs::catalogue::Catalogue {
    store_ipfs::catalogue::Catalogue::open(state).unwrap()
}
