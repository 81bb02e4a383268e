//! Our CIDs against the JS reference importer (`ipfs-unixfs-importer`,
//! profile unixfs-v1-2025) on generated trees: sizes around the chunk
//! boundary, executables (UnixFS mode), hidden files, empty directories,
//! UTF-8 names, and directories large enough to shard into a HAMT.
//!
//! Needs `node` and `store-ipfs/tests/js/node_modules` (`scripts/setup.sh`
//! installs them); missing either is a failure, not a skip.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use store_ipfs::unixfs::{NullSink, add_path};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn write(path: &Path, data: &[u8], exec: bool) {
    fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    fs::write(path, data).expect("write");
    fs::set_permissions(
        path,
        fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 }),
    )
    .expect("chmod");
}

fn js_cids(paths: &[PathBuf]) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/ipfs-unixfs-importer").exists(),
        "JS oracle not installed: run scripts/setup.sh (npm install in {})",
        dir.display()
    );
    let out = Command::new("node")
        .current_dir(&dir)
        .arg("cids.mjs")
        .args(paths)
        .output()
        .expect("node must be installed for the JS oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| l.split('\t').next().expect("cid column").to_owned())
        .collect()
}

fn ours(path: &Path) -> String {
    add_path(path, &mut NullSink::default())
        .expect("add")
        .cid
        .to_string()
}

fn compare(paths: Vec<PathBuf>) {
    let js = js_cids(&paths);
    assert_eq!(js.len(), paths.len());
    for (p, want) in paths.iter().zip(js) {
        assert_eq!(ours(p), want, "{}", p.display());
    }
}

#[test]
fn files_around_the_chunk_boundary() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut paths = Vec::new();
    for (i, size) in [
        0usize,
        1,
        6,
        (1 << 20) - 1,
        1 << 20,
        (1 << 20) + 1,
        (5 << 19) + 3,
    ]
    .into_iter()
    .enumerate()
    {
        for exec in [false, true] {
            let p = t.path().join(format!("f{i}-{exec}"));
            write(&p, &rng.bytes(size), exec);
            paths.push(p);
        }
    }
    compare(paths);
}

#[test]
fn mixed_trees() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for seed in 1..=6u64 {
        let mut rng = Rng(seed * 0x2545f4914f6cdd1d);
        let root = t.path().join(format!("tree{seed}"));
        fs::create_dir_all(&root).expect("mkdir");
        let names = [
            "a",
            "b.txt",
            ".hidden",
            "Z",
            "ünï",
            "日本",
            "with space",
            "x-1",
            "_",
            "~tilde",
        ];
        for _ in 0..40 {
            let depth = rng.below(4) as usize;
            let mut p = root.clone();
            for _ in 0..depth {
                p.push(format!("d{}", rng.below(3)));
            }
            p.push(names[rng.below(names.len() as u64) as usize]);
            if p.exists() {
                continue;
            }
            match rng.below(10) {
                0 => fs::create_dir_all(&p).expect("empty dir"),
                1 => {
                    let n = (1 << 20) + rng.below(1 << 19) as usize;
                    let exec = rng.below(2) == 0;
                    write(&p, &rng.bytes(n), exec)
                }
                _ => {
                    let n = rng.below(5000) as usize;
                    let exec = rng.below(3) == 0;
                    write(&p, &rng.bytes(n), exec)
                }
            }
        }
        paths.push(root);
    }
    compare(paths);
}

#[test]
fn sharded_directories() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(42);
    let root = t.path().join("wide");
    for i in 0..5000 {
        let name = format!("entry-{i:05}-{:016x}", rng.next());
        write(&root.join(name), format!("{i}").as_bytes(), i % 7 == 0);
    }
    write(&root.join("sub/inner"), b"inner", false);
    fs::create_dir_all(root.join("empty")).expect("mkdir");
    compare(vec![root]);
}
