//! The FUSE views against the real tools: the store-dir view of paths
//! imported from `nix-store --dump` NARs is byte-identical to `nix-store
//! --restore` of the same NARs (contents, symlinks, executable bits), files
//! can be mmapped and executed, the CID view serves any DAG, a corrupt
//! block gives EIO instead of wrong bytes, and leftovers of failed builds
//! are listed and served without being valid until removed or registered.
//!
//! Needs root and /dev/fuse (CI has both); without them these tests fail.

mod common;
use common::diff;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix_formats::content_address::FileIngestionMethod;
use nix_formats::hash::Hash;
use nix_formats::store_path::StoreDir;
use store_ipfs::fuse::{View, mount};
use store_ipfs::store::{NewPath, Store};
use store_ipfs::unixfs::add_path;

/// Held by each test that mounts, for its whole run. Unmounting while
/// another thread of this process starts this test binary again (as
/// `root_listing_follows_the_paths` does) made the unmount fail now and
/// then (ECONNABORTED from the session, 2 runs in 23; none when only
/// `/bin/true` was started, none in 25 runs without that test): mounts of
/// this file take turns.
static MOUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn mounting() -> std::sync::MutexGuard<'static, ()> {
    MOUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The record to add `nar` with as the recursive fixed-output path `name`
/// (no references).
fn recursive_path(name: &str, nar: &[u8]) -> NewPath {
    let path = StoreDir::default()
        .make_fixed_output_path(
            name,
            FileIngestionMethod::Recursive,
            &Hash::sha256(nar),
            &BTreeSet::new(),
            false,
        )
        .expect("path");
    NewPath {
        path,
        references: BTreeSet::new(),
        deriver: None,
        ultimate: false,
        sigs: BTreeSet::new(),
        ca: None,
        nar_hash: Some(Hash::sha256(nar)),
        nar_size: Some(nar.len() as u64),
    }
}

/// The names a directory lists.
fn listed(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("readdir")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect()
}

fn nix_dump(p: &Path) -> Vec<u8> {
    let out = Command::new("nix-store")
        .arg("--dump")
        .arg(p)
        .output()
        .expect("nix-store must be installed");
    assert!(out.status.success());
    out.stdout
}

fn nix_restore(nar: &[u8], dest: &Path) {
    let mut child = Command::new("nix-store")
        .arg("--restore")
        .arg(dest)
        .stdin(Stdio::piped())
        .spawn()
        .expect("nix-store");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), nar).expect("write");
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
}

fn make(root: &Path) -> Vec<PathBuf> {
    let a = root.join("tools");
    fs::create_dir_all(a.join("bin")).expect("mkdir");
    fs::copy("/usr/bin/true", a.join("bin/true")).expect("copy true");
    fs::write(a.join("bin/script"), "#!/bin/sh\necho from-fuse\n").expect("write");
    fs::set_permissions(a.join("bin/script"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(
        a.join("big.bin"),
        (0..5_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .expect("write");
    std::os::unix::fs::symlink("bin/true", a.join("link")).expect("symlink");
    fs::create_dir_all(a.join("share/empty")).expect("mkdir");
    fs::write(a.join("share/empty-file"), "").expect("write");
    let wide = root.join("wide");
    fs::create_dir_all(&wide).expect("mkdir");
    for i in 0..4000 {
        fs::write(
            wide.join(format!("entry-with-a-long-name-{i:05}")),
            format!("{i}\n"),
        )
        .expect("write");
    }
    let single = root.join("single");
    fs::write(&single, "one file\n").expect("write");
    vec![a, wide, single]
}

fn exec_bits(root: &Path) -> BTreeSet<(PathBuf, bool)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).expect("stat");
        if m.is_dir() {
            for e in fs::read_dir(&p).expect("readdir") {
                stack.push(e.expect("entry").path());
            }
        } else if m.is_file() {
            out.insert((
                p.strip_prefix(root).expect("prefix").to_owned(),
                m.permissions().mode() & 0o100 != 0,
            ));
        }
    }
    out
}

#[test]
fn store_view_equals_nix_store_restore() {
    let _turn = mounting();
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let mut store = Store::open(&state).expect("store");
    let mut added = Vec::new();
    for src in make(&t.path().join("src")) {
        let nar = nix_dump(&src);
        let name = src
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let meta = recursive_path(&name, &nar);
        let path = meta.path.clone();
        let rec = store.add_nar(nar.as_slice(), meta).expect("add_nar");
        assert_eq!(
            rec.root,
            add_path(&src, &mut store_ipfs::unixfs::NullSink::default())
                .expect("cid")
                .cid
        );
        added.push((path, nar));
    }
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let session = mount(&state, View::StoreDir, &mnt).expect("mount (needs root and /dev/fuse)");
    let names = listed(&mnt);
    for (path, nar) in &added {
        assert!(names.contains(&path.to_string()), "{path} listed");
        let restored = t.path().join("restored").join(path.to_string());
        fs::create_dir_all(restored.parent().expect("parent")).expect("mkdir");
        nix_restore(nar, &restored);
        let served = mnt.join(path.to_string());
        diff(&restored, &served);
        assert_eq!(
            exec_bits(&restored),
            exec_bits(&served),
            "{path}: executable bits"
        );
        // The served NAR is Nix's NAR.
        assert!(
            nix_dump(&served) == *nar,
            "{path}: nix-store --dump of the mount"
        );
    }
    let tools = mnt.join(added[0].0.to_string());
    let out = Command::new(tools.join("bin/true"))
        .status()
        .expect("exec from FUSE");
    assert!(out.success());
    let out = Command::new(tools.join("bin/script"))
        .output()
        .expect("exec script");
    assert_eq!(out.stdout, b"from-fuse\n");
    // mmap through the kernel (python's mmap module).
    let py = Command::new("python3")
        .arg("-c")
        .arg("import mmap,sys,hashlib\nf=open(sys.argv[1],'rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\nprint(hashlib.sha256(m[:]).hexdigest())")
        .arg(tools.join("big.bin"))
        .output()
        .expect("python3");
    let want =
        Hash::sha256(&fs::read(t.path().join("src/tools/big.bin")).expect("src")).to_base16();
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), want);
    assert!(fs::write(tools.join("new"), "x").is_err(), "read-only");
    assert!(
        !mnt.join("00000000000000000000000000000000-missing")
            .exists()
    );
    session.umount_and_join().expect("unmount");
}

#[test]
fn cid_view_and_corruption() {
    let _turn = mounting();
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let mut store = Store::open(&state).expect("store");
    let src = make(&t.path().join("src")).remove(0);
    let root = common::add_and_pin(&mut store, &src);
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let session = mount(&state, View::Cids, &mnt).expect("mount");
    diff(&src, &mnt.join(root.cid.to_string()));
    let names: Vec<String> = fs::read_dir(&mnt)
        .expect("root")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![root.cid.to_string()], "the root lists pins");
    session.umount_and_join().expect("unmount");

    // Corrupt one leaf of big.bin, mount afresh: reading it is EIO.
    let leaf = common::leaf(&store.blocks, &root.cid, b"big.bin", 2);
    common::damage(&store.blocks, &leaf, 1000);
    let session = mount(&state, View::Cids, &mnt).expect("mount");
    let r = fs::read(mnt.join(root.cid.to_string()).join("big.bin"));
    assert_eq!(
        r.map(|_| ()).map_err(|e| e.raw_os_error()),
        Err(Some(5)),
        "EIO, never wrong bytes"
    );
    session.umount_and_join().expect("unmount");
}

#[test]
fn leftovers_are_listed_and_served_but_not_valid() {
    let _turn = mounting();
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let mut store = Store::open(&state).expect("store");
    let half = t.path().join("half");
    fs::create_dir_all(&half).expect("mkdir");
    fs::write(half.join("part"), "written before the failure\n").expect("write");
    let nar = nix_dump(&half);
    let meta = recursive_path("half", &nar);
    let path = meta.path.clone();
    assert!(store.add_leftover(&path, nar.as_slice()).expect("leftover"));
    assert!(!store.catalogue.is_valid(&path).expect("query"));
    let root = store
        .catalogue
        .leftover(&path)
        .expect("query")
        .expect("kept");
    assert!(
        store_ipfs::gc::live_blocks(&store, &())
            .expect("live")
            .contains(&root),
        "a leftover's blocks are live"
    );

    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let session = mount(&state, View::StoreDir, &mnt).expect("mount (needs root and /dev/fuse)");
    assert!(listed(&mnt).contains(&path.to_string()));
    let served = mnt.join(path.to_string());
    assert_eq!(
        fs::read_to_string(served.join("part")).expect("read"),
        "written before the failure\n"
    );

    // Removed: gone at once (the catalogue tells the mount).
    store
        .catalogue
        .remove_leftovers(std::slice::from_ref(&path))
        .expect("remove");
    assert!(!served.exists(), "a removed leftover is not served");
    assert!(
        !served.join("part").exists(),
        "nor is anything below it that the kernel had cached"
    );
    assert!(!listed(&mnt).contains(&path.to_string()));

    // Registering the path replaces a leftover; a valid path is never shadowed.
    assert!(store.add_leftover(&path, nar.as_slice()).expect("leftover"));
    store.add_nar(nar.as_slice(), meta).expect("add_nar");
    assert_eq!(store.catalogue.leftover(&path).expect("query"), None);
    assert!(!store.add_leftover(&path, nar.as_slice()).expect("leftover"));
    assert!(store.catalogue.leftovers().expect("list").is_empty());
    session.umount_and_join().expect("unmount");
}

/// A small path `name` (one file) for the listing tests: its store path and
/// the record to add it with.
fn one_file_path(
    name: &str,
    contents: &str,
) -> (nix_formats::store_path::StorePath, Vec<u8>, NewPath) {
    let mut nar = Vec::new();
    std::io::Read::read_to_end(
        &mut nix_formats::nar::regular_file_nar(false, contents.len() as u64, contents.as_bytes()),
        &mut nar,
    )
    .expect("an in-memory NAR");
    let meta = recursive_path(name, &nar);
    (meta.path.clone(), nar, meta)
}

/// Not a test of its own: the other process of
/// `root_listing_follows_the_paths`, run by it with `FUSE_TEST_STATE` set.
#[test]
#[ignore = "run by root_listing_follows_the_paths as another process"]
fn another_process_adds_a_path() {
    let Some(state) = std::env::var_os("FUSE_TEST_STATE") else {
        return;
    };
    let mut store = Store::open(Path::new(&state)).expect("store");
    let (_, nar, meta) = one_file_path("from-elsewhere", "added by another process\n");
    store.add_nar(nar.as_slice(), meta).expect("add_nar");
}

/// The kernel keeps the store view's root listing (no request per
/// `opendir`), yet it follows the paths: a path added or deleted in this
/// process is listed or gone at once (the catalogue tells the mount), one
/// added by another process once the root's attributes time out (its
/// modification time moved).
#[test]
fn root_listing_follows_the_paths() {
    let _turn = mounting();
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let mut store = Store::open(&state).expect("store");
    let (first, nar, meta) = one_file_path("first", "one\n");
    store.add_nar(nar.as_slice(), meta).expect("add_nar");
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let session = mount(&state, View::StoreDir, &mnt).expect("mount (needs root and /dev/fuse)");
    let mtime = || fs::metadata(&mnt).expect("stat").modified().expect("mtime");
    assert_eq!(listed(&mnt), BTreeSet::from([first.to_string()]));
    let before = mtime();
    // Listed again: the same, from the cache.
    assert_eq!(listed(&mnt), BTreeSet::from([first.to_string()]));

    let (second, nar, meta) = one_file_path("second", "two\n");
    store.add_nar(nar.as_slice(), meta).expect("add_nar");
    assert_eq!(
        listed(&mnt),
        BTreeSet::from([first.to_string(), second.to_string()]),
        "added in this process: listed at once"
    );
    assert!(mtime() > before, "the root's modification time moves");
    assert_eq!(
        fs::read_to_string(mnt.join(second.to_string())).expect("read"),
        "two\n"
    );

    store
        .catalogue
        .delete_paths(std::slice::from_ref(&first))
        .expect("delete");
    assert_eq!(
        listed(&mnt),
        BTreeSet::from([second.to_string()]),
        "deleted in this process: gone from the listing at once"
    );

    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "another_process_adds_a_path",
            "--ignored",
            "--quiet",
        ])
        .env("FUSE_TEST_STATE", &state)
        .stdout(Stdio::null())
        .status()
        .expect("run the other process");
    assert!(status.success());
    let (elsewhere, _, _) = one_file_path("from-elsewhere", "added by another process\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if listed(&mnt).contains(&elsewhere.to_string()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a path added by another process is never listed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    session.umount_and_join().expect("unmount");
}
