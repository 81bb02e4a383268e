//! `dump`, `hash_path` and `restore` against the real `nix-store` (Nix
//! 2.8). These tests fail, never skip, when `nix-store` is missing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, Permissions};
use std::io::{BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::fixtures::nar;
use crate::hash::{Hash, HashAlgo};
use crate::nar::{DumpError, Node, ReadError, RestoreError, dump, hash_path, restore};

/// Runs `nix-store` with `args` and `stdin`; returns its stdout.
fn nix_store(args: &[&OsStr], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("nix-store")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nix-store (Nix 2.8) must be on PATH: these tests compare against it");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let out = child.wait_with_output().expect("nix-store runs");
    writer
        .join()
        .expect("stdin writer")
        .expect("nix-store reads its stdin");
    assert!(
        out.status.success(),
        "nix-store {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn nix_dump(path: &Path) -> Vec<u8> {
    nix_store(&["--dump".as_ref(), path.as_os_str()], b"")
}

fn nix_restore(nar: &[u8], dest: &Path) {
    nix_store(&["--restore".as_ref(), dest.as_os_str()], nar);
}

fn our_dump(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let size = dump(path, &mut out).expect("dump");
    assert_eq!(size, out.len() as u64);
    out
}

fn write_mode(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).expect("write file");
    fs::set_permissions(path, Permissions::from_mode(mode)).expect("chmod");
}

/// Pseudo-random bytes (xorshift), enough to span several read chunks.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// A tree with every shape Nix distinguishes and names that stress sorting
/// and escaping.
fn build_tree(root: &Path) {
    fs::create_dir(root).expect("root");
    write_mode(&root.join("plain"), b"hello\n", 0o644);
    write_mode(&root.join("empty"), b"", 0o644);
    write_mode(&root.join("exec"), b"#!/bin/sh\necho hi\n", 0o755);
    write_mode(&root.join("owner-exec-only"), b"x", 0o700);
    write_mode(&root.join("group-exec-only"), b"x", 0o654);
    write_mode(&root.join("read-only"), b"ro", 0o444);
    write_mode(&root.join("big"), &noise(600_003), 0o644);
    symlink("plain", root.join("link")).expect("symlink");
    symlink("does/not/exist", root.join("dangling")).expect("symlink");
    symlink("/nix/store/abs", root.join("absolute")).expect("symlink");
    fs::create_dir(root.join("emptydir")).expect("dir");
    let mut deep = root.join("deep");
    for level in 0..40 {
        fs::create_dir(&deep).expect("deep dir");
        write_mode(&deep.join(format!("f{level}")), b"level", 0o644);
        deep.push("d");
    }
    fs::create_dir(&deep).expect("deepest dir");
    symlink("../..", deep.join("up")).expect("symlink");
    let odd = root.join("odd");
    fs::create_dir(&odd).expect("dir");
    let names: &[&[u8]] = &[
        b"with space",
        b"new\nline",
        b"tab\there",
        "ünïcödé ✓".as_bytes(),
        b"\x80\xff not utf-8",
        b"\xc3",
        b"quote\"'",
        b"back\\slash",
        b"-dash",
        b".hidden",
        b"...",
        b"UPPER",
        b"upper",
        b"a",
        b"B",
        b"~",
        b"\x01",
    ];
    for (i, name) in names.iter().enumerate() {
        let path = odd.join(OsStr::from_bytes(name));
        match i % 3 {
            0 => write_mode(&path, name, 0o755),
            1 => symlink(OsStr::from_bytes(name), &path).expect("symlink"),
            _ => {
                fs::create_dir(&path).expect("dir");
                write_mode(&path.join(OsStr::from_bytes(name)), b"inner", 0o644);
            }
        }
    }
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn dump_matches_nix_store_dump() {
    let tmp = temp();
    let root = tmp.path().join("tree");
    build_tree(&root);
    let ours = our_dump(&root);
    assert!(
        ours == nix_dump(&root),
        "our NAR of the tree differs from nix-store --dump"
    );
    // Roots that are not directories.
    for leaf in ["plain", "exec", "empty", "dangling", "big", "deep"] {
        let path = root.join(leaf);
        assert!(our_dump(&path) == nix_dump(&path), "{leaf}");
    }
    // Only the owner's execute bit counts.
    let tree = Node::parse(&ours).expect("our dump parses");
    let Node::Directory(entries) = tree else {
        panic!("root is a directory")
    };
    let exec = |name: &str| {
        matches!(
            entries[name.as_bytes()],
            Node::Regular {
                executable: true,
                ..
            }
        )
    };
    assert!(exec("exec") && exec("owner-exec-only"));
    assert!(!exec("group-exec-only") && !exec("plain"));
}

#[test]
fn hash_path_matches_nix() {
    let tmp = temp();
    let root = tmp.path().join("tree");
    build_tree(&root);
    let nar = nix_dump(&root);
    let (hash, size) = hash_path(HashAlgo::Sha256, &root).expect("hash");
    assert_eq!(size, nar.len() as u64);
    assert_eq!(hash, Hash::sha256(&nar));
    let out = Command::new("nix-hash")
        .args(["--type", "sha256"])
        .arg(&root)
        .output()
        .expect("nix-hash (Nix 2.8) must be on PATH");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        hash.to_base16()
    );
}

/// Every path under `root` with its `st_mode` and contents or target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    fn walk(root: &Path, rel: PathBuf, out: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
        // Joining "" would add a trailing slash, wrong for a file root.
        let path = if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let mode = meta.permissions().mode();
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).expect("readlink");
            out.insert(rel, (mode, target.as_os_str().as_bytes().to_vec()));
        } else if meta.is_dir() {
            out.insert(rel.clone(), (mode, Vec::new()));
            for entry in fs::read_dir(&path).expect("readdir") {
                walk(root, rel.join(entry.expect("entry").file_name()), out);
            }
        } else {
            out.insert(rel, (mode, fs::read(&path).expect("read")));
        }
    }
    let mut out = BTreeMap::new();
    walk(root, PathBuf::new(), &mut out);
    out
}

#[test]
fn restore_matches_nix_store_restore() {
    let tmp = temp();
    let root = tmp.path().join("tree");
    build_tree(&root);
    for source in [
        root.clone(),
        root.join("exec"),
        root.join("plain"),
        root.join("link"),
    ] {
        let nar = nix_dump(&source);
        let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
        let size = restore(&nar[..], &ours).expect("restore");
        assert_eq!(size, nar.len() as u64);
        nix_restore(&nar, &theirs);
        assert!(
            snapshot(&ours) == snapshot(&theirs),
            "{}: restored trees differ",
            source.display()
        );
        assert!(
            our_dump(&ours) == nar,
            "{}: restore then dump changed the NAR",
            source.display()
        );
        fs::remove_dir_all(&ours)
            .or_else(|_| fs::remove_file(&ours))
            .expect("clean up");
        fs::remove_dir_all(&theirs)
            .or_else(|_| fs::remove_file(&theirs))
            .expect("clean up");
    }
}

#[test]
fn dump_restore_dump_is_identical() {
    let tmp = temp();
    let root = tmp.path().join("tree");
    build_tree(&root);
    let first = our_dump(&root);
    let copy = tmp.path().join("copy");
    restore(BufReader::with_capacity(1000, &first[..]), &copy).expect("restore");
    assert!(our_dump(&copy) == first);
}

#[test]
fn restore_reads_exactly_the_archive() {
    let tmp = temp();
    let mut stream = our_dump(&{
        let p = tmp.path().join("x");
        write_mode(&p, b"data", 0o755);
        p
    });
    stream.extend_from_slice(b"after");
    let mut reader = BufReader::with_capacity(7, &stream[..]);
    restore(&mut reader, &tmp.path().join("y")).expect("restore");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("in memory");
    assert_eq!(rest, b"after");
    assert_eq!(fs::read(tmp.path().join("y")).expect("restored"), b"data");
}

#[test]
fn restore_refuses_an_existing_destination() {
    let tmp = temp();
    let nar = Node::Symlink {
        target: b"x".to_vec(),
    }
    .to_nar()
    .expect("valid");
    let err = restore(&nar[..], tmp.path()).expect_err("destination exists");
    assert!(matches!(err, RestoreError::Exists { .. }), "{err}");
    symlink("nowhere", tmp.path().join("dangling")).expect("symlink");
    let err =
        restore(&nar[..], &tmp.path().join("dangling")).expect_err("a dangling link exists too");
    assert!(matches!(err, RestoreError::Exists { .. }), "{err}");
}

#[test]
fn restore_refuses_escaping_names() {
    let tmp = temp();
    for name in [&b".."[..], b"../escaped", b"/etc", b"."] {
        let archive = nar(&[
            b"nix-archive-1",
            b"(",
            b"type",
            b"directory",
            b"entry",
            b"(",
            b"name",
            name,
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"gotcha",
            b")",
            b")",
            b")",
        ]);
        let dest = tmp.path().join("dest");
        let err = restore(&archive[..], &dest).expect_err("bad name");
        assert!(
            matches!(err, RestoreError::Read(ReadError::Decode(_))),
            "{name:?}: {err}"
        );
        assert!(!tmp.path().join("escaped").exists());
        fs::remove_dir_all(&dest).expect("only dest was created");
    }
}

#[test]
fn dump_refuses_special_files() {
    let tmp = temp();
    let root = tmp.path().join("tree");
    fs::create_dir(&root).expect("dir");
    let socket = root.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind socket");
    let err = dump(&root, std::io::sink()).expect_err("socket");
    assert!(
        matches!(&err, DumpError::Unsupported { path, kind: "socket" } if *path == socket),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "file '{}' has an unsupported type (socket)",
            socket.display()
        )
    );

    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let err = dump(&fifo, std::io::sink()).expect_err("fifo");
    assert!(
        matches!(&err, DumpError::Unsupported { kind: "fifo", .. }),
        "{err}"
    );
    let err = dump(Path::new("/dev/null"), std::io::sink()).expect_err("device");
    assert!(
        matches!(
            &err,
            DumpError::Unsupported {
                kind: "character device",
                ..
            }
        ),
        "{err}"
    );
    let err = dump(&tmp.path().join("missing"), std::io::sink()).expect_err("missing");
    assert!(
        matches!(
            &err,
            DumpError::Fs {
                action: "getting status of",
                ..
            }
        ),
        "{err}"
    );
}
