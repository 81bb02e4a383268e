//! NAR → DAG → NAR is the identity, on NARs made by the real `nix-store
//! --dump`; the import hashes the NAR in the same pass (checked against
//! `nix-hash`); bad NARs are refused.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use store_ipfs::dag::DagReader;
use store_ipfs::nar_dag::{ImportError, export_nar, import_nar};
use store_ipfs::store::Store;
use store_ipfs::unixfs::{MemorySink, add_path};

fn nix_dump(p: &Path) -> Vec<u8> {
    let out = Command::new("nix-store")
        .arg("--dump")
        .arg(p)
        .output()
        .expect("nix-store must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn nix_hash(p: &Path) -> String {
    let out = Command::new("nix-hash")
        .args(["--type", "sha256"])
        .arg(p)
        .output()
        .expect("nix-hash");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

fn trees(root: &Path) -> Vec<std::path::PathBuf> {
    let t = root.join("mixed");
    fs::create_dir_all(t.join("empty-dir")).expect("mkdir");
    fs::write(t.join("empty"), "").expect("write");
    fs::write(t.join("exe"), "#!/bin/sh\n").expect("write");
    fs::set_permissions(t.join("exe"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(t.join("empty-exe"), "").expect("write");
    fs::set_permissions(t.join("empty-exe"), fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::symlink("exe", t.join("link")).expect("symlink");
    std::os::unix::fs::symlink("/nonexistent/x", t.join("dangling")).expect("symlink");
    fs::write(
        t.join("big"),
        (0..3_500_000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("write");
    fs::write(
        t.join("big-exe"),
        (0..2_200_000u32)
            .map(|i| (i % 249) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("write");
    fs::set_permissions(t.join("big-exe"), fs::Permissions::from_mode(0o755)).expect("chmod");
    for n in [
        "with space",
        "new\nline",
        "ü-utf8",
        ".hidden",
        "A",
        "a",
        "-dash",
    ] {
        fs::write(t.join(n), n).expect("write");
    }
    let mut d = t.join("deep");
    for i in 0..50 {
        d.push(format!("{i}"));
    }
    fs::create_dir_all(&d).expect("mkdir");
    fs::write(d.join("bottom"), "bottom").expect("write");
    let wide = root.join("wide");
    fs::create_dir_all(&wide).expect("mkdir");
    for i in 0..6000 {
        fs::write(
            wide.join(format!("file-number-{i:05}-padding")),
            format!("{i}"),
        )
        .expect("write");
    }
    let single = root.join("single-file");
    fs::write(&single, "just a file\n").expect("write");
    let link = root.join("single-link");
    std::os::unix::fs::symlink("target", &link).expect("symlink");
    vec![t, wide, single, link]
}

#[test]
fn nar_dag_nar_is_identity_and_hash_matches_nix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for p in trees(tmp.path()) {
        let nar = nix_dump(&p);
        let mut sink = MemorySink::default();
        // Bytes after the NAR must be left unread.
        let mut input: &[u8] = &[nar.as_slice(), b"TRAILER"].concat();
        let imported = import_nar(&mut input, &mut sink).expect("import");
        assert_eq!(input, b"TRAILER", "import reads exactly the NAR");
        assert_eq!(imported.nar_size, nar.len() as u64);
        assert_eq!(
            imported.nar_hash.to_base16(),
            nix_hash(&p),
            "{}",
            p.display()
        );
        // The DAG equals the one made from the file system directly.
        assert_eq!(
            imported.root,
            add_path(&p, &mut MemorySink::default()).expect("add"),
            "{}",
            p.display()
        );
        // And back: write the blocks to a store and export.
        let state = tmp.path().join(format!(
            "state-{}",
            p.file_name().expect("name").to_string_lossy()
        ));
        let store = Store::open(&state).expect("store");
        for (cid, block) in &sink.blocks {
            store.blocks.put(cid, block).expect("put");
        }
        let mut out = Vec::new();
        let n = export_nar(&DagReader::new(&store.blocks), &imported.root.cid, &mut out)
            .expect("export");
        assert_eq!(n, nar.len() as u64);
        assert!(
            out == nar,
            "{}: DAG -> NAR differs from nix-store --dump",
            p.display()
        );
    }
}

#[test]
fn bad_nars_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = &trees(tmp.path())[0];
    let nar = nix_dump(p);
    for cut in [0, 1, 8, 64, 200, nar.len() / 2, nar.len() - 1] {
        let r = import_nar(&nar[..cut], &mut MemorySink::default());
        assert!(
            matches!(r, Err(ImportError::Nar(_))),
            "truncated at {cut}: {r:?}"
        );
    }
    let mut evil = nar.clone();
    // Rename the first entry ("-dash") to "../da": a path escape attempt.
    let pos = evil.windows(5).position(|w| w == b"-dash").expect("entry");
    evil[pos..pos + 5].copy_from_slice(b"../da");
    assert!(import_nar(evil.as_slice(), &mut MemorySink::default()).is_err());
    let mut bad_magic = nar.clone();
    bad_magic[10] = b'X';
    assert!(import_nar(bad_magic.as_slice(), &mut MemorySink::default()).is_err());
}

/// The export reads leaves ahead on another thread: a damaged leaf still
/// ends it with an error, and every byte sent before is the right one.
#[test]
fn a_damaged_leaf_ends_the_export_with_only_right_bytes_before() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("d")).expect("mkdir");
    for n in ["a", "b", "d/c"] {
        fs::write(tree.join(n), n.repeat(1000)).expect("write");
    }
    fs::write(
        tree.join("d/big"),
        (0..3_500_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("write");
    fs::write(tree.join("z"), "last").expect("write");
    let want = nix_dump(&tree);
    let mut store = Store::open(&t.path().join("state")).expect("open");
    let mut w = store.writer().expect("writer");
    let root = add_path(&tree, &mut w).expect("add").cid;
    let written = w.finish().expect("written");
    store
        .commit_pin(written, "tester", "test", &root)
        .expect("pin");
    let mut whole = Vec::new();
    export_nar(&DagReader::new(&store.blocks), &root, &mut whole).expect("export");
    assert_eq!(whole, want, "an intact DAG exports as nix-store --dump");

    let leaf = common::leaf(&store.blocks, &root, b"d/big", 1);
    common::damage(&store.blocks, &leaf, 1000);
    let mut out = Vec::new();
    let err = export_nar(&DagReader::new(&store.blocks), &root, &mut out);
    assert!(err.is_err(), "a damaged leaf fails the export");
    assert!(out.len() < want.len(), "the export stopped");
    assert!(
        want.starts_with(&out),
        "every byte before the error is right ({} bytes)",
        out.len()
    );
}
