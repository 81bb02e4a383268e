//! `pkg store`, `pkg pin` and `pkg gc` driven as a user would, including
//! `kill -9` in the middle of adds.

#[path = "../../store-ipfs/tests/common/mod.rs"]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn pkg(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pkg"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("USER", "tester")
        .output()
        .expect("run pkg")
}

fn ok(state: &Path, args: &[&str]) -> String {
    let out = pkg(state, args);
    assert!(
        out.status.success(),
        "pkg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

fn tree(root: &Path, files: usize, size: usize) {
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::create_dir_all(root.join("share/empty")).expect("mkdir");
    for i in 0..files {
        let data: Vec<u8> = (0..size + i * 977).map(|j| (j * 31 + i) as u8).collect();
        fs::write(root.join(format!("share/f{i:04}")), data).expect("write");
    }
    fs::write(root.join("bin/tool"), "#!/bin/sh\necho tool\n").expect("write");
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("../share/f0000", root.join("bin/link")).expect("symlink");
}

#[test]
fn add_cat_get_pin_gc_verify() {
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let src = t.path().join("src");
    tree(&src, 20, 70_000);
    let only = ok(
        &state,
        &["store", "add", "--only-hash", src.to_str().expect("utf8")],
    );
    assert!(
        !state.join("blocks").exists()
            || fs::read_dir(state.join("blocks")).expect("dir").count() <= 1
    );
    let cid = ok(&state, &["store", "add", src.to_str().expect("utf8")]);
    assert_eq!(cid, only, "--only-hash gives the same CID");
    let cid = cid.trim();
    assert_eq!(
        ok(&state, &["store", "cat", &format!("{cid}/bin/tool")]),
        "#!/bin/sh\necho tool\n"
    );
    let dest = t.path().join("dest");
    ok(&state, &["store", "get", cid, dest.to_str().expect("utf8")]);
    common::diff(&src, &dest);
    assert!(ok(&state, &["pin", "ls"]).contains(cid));
    assert!(ok(&state, &["gc", "--dry-run"]).contains("0 blocks"));
    assert!(ok(&state, &["store", "verify"]).contains("0 corrupt, 0 missing"));

    // Errors are clear and change nothing.
    let out = pkg(&state, &["store", "cat", &format!("{cid}/nope")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nope' not found"));
    let out = pkg(&state, &["store", "cat", &format!("{cid}/bin")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
    let out = pkg(
        &state,
        &[
            "store",
            "add",
            t.path().join("missing").to_str().expect("utf8"),
        ],
    );
    assert!(!out.status.success());
    let fifo = t.path().join("fifo-dir");
    fs::create_dir(&fifo).expect("mkdir");
    assert!(
        Command::new("mkfifo")
            .arg(fifo.join("p"))
            .status()
            .expect("mkfifo")
            .success()
    );
    let out = pkg(&state, &["store", "add", fifo.to_str().expect("utf8")]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither a regular file"),
        "{out:?}"
    );
    assert!(!ok(&state, &["pin", "ls"]).contains("fifo"));

    // Unpin, collect, and everything is gone; pinning again needs the blocks.
    ok(&state, &["pin", "rm", cid]);
    let gc = ok(&state, &["gc"]);
    assert!(!gc.contains(" 0 blocks"), "{gc}");
    assert_eq!(
        fs::read_dir(state.join("blocks"))
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.'))
            })
            .count(),
        0
    );
    assert!(!pkg(&state, &["pin", "add", cid]).status.success());

    // A flipped byte is found by verify.
    let cid = ok(&state, &["store", "add", src.to_str().expect("utf8")]);
    let victim = fs::read_dir(state.join("blocks"))
        .expect("dir")
        .filter_map(Result::ok)
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .expect("a block")
        .path();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut b = fs::read(&victim).expect("read");
    b[0] ^= 1;
    fs::write(&victim, b).expect("write");
    let out = pkg(&state, &["store", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt block"));
    let _ = cid;
}

/// `kill -9` at random moments during adds: pinned DAGs are always whole,
/// and the next GC removes what the killed adds left behind.
#[test]
fn kill_9_during_add_never_leaves_a_broken_pin() {
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let src = t.path().join("src");
    tree(&src, 120, 40_000);
    // Every round rewrites a quarter of the files and two files of several
    // chunks (staged and linked chunk by chunk), so each add writes new
    // blocks; the first round (not killed) measures how long a round takes,
    // and kills land at random points inside that window.
    let vary = |i: usize| {
        for f in (0..120).step_by(4) {
            fs::write(
                src.join(format!("share/f{f:04}")),
                format!("round {i} file {f}").repeat(9000),
            )
            .expect("write");
        }
        for b in 0..2 {
            fs::write(
                src.join(format!("share/big{b}")),
                format!("round {i} big {b} ").repeat(160_000),
            )
            .expect("write");
        }
    };
    vary(0);
    ok(&state, &["store", "add", src.to_str().expect("utf8")]);
    vary(1);
    let t0 = std::time::Instant::now();
    ok(&state, &["store", "add", src.to_str().expect("utf8")]);
    let window = t0.elapsed().as_micros() as u64 * 9 / 10;
    let mut seed = 0x5eed_u64;
    let mut killed = 0;
    // Until 20 adds were killed mid-way (at most 80 rounds).
    for i in 2..82 {
        if killed == 20 {
            break;
        }
        vary(i);
        let mut child = Command::new(env!("CARGO_BIN_EXE_pkg"))
            .arg("--state-dir")
            .arg(&state)
            .args(["store", "add"])
            .arg(&src)
            .env("USER", "tester")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % window.max(1)));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill -9");
            killed += 1;
        }
        child.wait().expect("reap");
        // Every pin that exists resolves to a whole, valid DAG.
        for line in ok(&state, &["pin", "ls"]).lines() {
            let cid = line.split('\t').next().expect("cid");
            assert_ne!(cid, "dangling");
            let dest = t.path().join(format!("check-{i}-{cid}"));
            ok(&state, &["store", "get", cid, dest.to_str().expect("utf8")]);
            fs::remove_dir_all(&dest).expect("cleanup");
        }
        let v = pkg(&state, &["store", "verify"]);
        assert!(
            String::from_utf8_lossy(&v.stdout).contains("0 missing"),
            "{v:?}"
        );
    }
    assert_eq!(
        killed, 20,
        "only {killed} adds were killed mid-way in 80 rounds (window {window} µs)"
    );
    // Orphans of killed adds go with the next GC; pinned DAGs stay whole.
    ok(&state, &["gc"]);
    assert!(ok(&state, &["gc", "--dry-run"]).contains("0 blocks"));
    assert!(
        fs::read_dir(state.join("blocks/.tmp"))
            .expect("tmp")
            .next()
            .is_none()
    );
    assert!(ok(&state, &["store", "verify"]).contains("0 corrupt, 0 missing"));
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

fn add_nar(state: &Path, name: &str, nar: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pkg"))
        .arg("--state-dir")
        .arg(state)
        .args(["store", "add-nar", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let nar = nar.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &nar);
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder");
    out
}

/// `pkg store add-nar` names the path exactly as `nix-store --add` does,
/// and the registered path reads back as the same NAR.
#[test]
fn add_nar_names_paths_like_nix_store_add() {
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let src = t.path().join("my-tree");
    tree(&src, 5, 3000);
    let conf = t.path().join("conf");
    fs::create_dir_all(&conf).expect("mkdir");
    fs::write(
        conf.join("nix.conf"),
        "build-users-group =\nsubstituters =\n",
    )
    .expect("conf");
    let nix = Command::new("nix-store")
        .arg("--store")
        .arg(format!("local?root={}", t.path().join("nix").display()))
        .arg("--add")
        .arg(&src)
        .env("NIX_CONF_DIR", &conf)
        .env("HOME", t.path())
        .output()
        .expect("nix-store --add");
    assert!(
        nix.status.success(),
        "{}",
        String::from_utf8_lossy(&nix.stderr)
    );
    let nar = nix_dump(&src);
    let out = add_nar(&state, "my-tree", &nar);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).expect("utf8");
    let (path, cid) = line.trim().split_once('\t').expect("path and cid");
    assert_eq!(path, String::from_utf8(nix.stdout).expect("utf8").trim());
    let info = ok(&state, &["store", "path-info", path]);
    assert!(info.contains(&format!("root\t{cid}")));
    assert!(info.contains("ca\tfixed:r:sha256:"));
    let dest = t.path().join("back");
    ok(&state, &["store", "get", cid, dest.to_str().expect("utf8")]);
    assert!(nix_dump(&dest) == nar);
    // A second add of the same NAR is a no-op that reports the same path.
    let again = add_nar(&state, "my-tree", &nar);
    assert_eq!(String::from_utf8(again.stdout).expect("utf8"), line);
    // A truncated NAR registers nothing.
    let bad = add_nar(&state, "other", &nar[..nar.len() / 2]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cannot add 'other'"),
        "{bad:?}"
    );
}

/// `kill -9` while a store path is being imported: the path is either not
/// valid, or valid with every block present.
#[test]
fn kill_9_during_add_nar_never_registers_a_broken_path() {
    let t = tempfile::tempdir().expect("tempdir");
    let state = t.path().join("state");
    let src = t.path().join("src");
    tree(&src, 60, 200_000);
    // Every round rewrites a quarter of the files so each import writes
    // new blocks; the second round (not killed) measures a round's length.
    let vary = |i: usize| {
        for f in (0..60).step_by(4) {
            fs::write(
                src.join(format!("share/f{f:04}")),
                format!("round {i} file {f}").repeat(20000),
            )
            .expect("write");
        }
    };
    vary(0);
    assert!(add_nar(&state, "p0", &nix_dump(&src)).status.success());
    vary(1);
    let nar1 = nix_dump(&src);
    let t0 = std::time::Instant::now();
    assert!(add_nar(&state, "p1", &nar1).status.success());
    let window = t0.elapsed().as_micros() as u64 * 9 / 10;
    let mut seed = 0xfeed_u64;
    let (mut killed, mut valid) = (0, 0);
    // Until 20 imports were killed mid-way, then one more that is not.
    for i in 2..83 {
        if killed == 20 && valid > 0 {
            break;
        }
        vary(i);
        let nar = nix_dump(&src);
        let mut child = Command::new(env!("CARGO_BIN_EXE_pkg"))
            .arg("--state-dir")
            .arg(&state)
            .args(["store", "add-nar", &format!("p{i}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let feeder = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &nar);
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Once 20 were killed, rounds run to the end so the valid case is
        // checked too.
        std::thread::sleep(Duration::from_micros(seed % window.max(1)));
        if killed < 20 && child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill -9");
            killed += 1;
        }
        let out = child.wait_with_output().expect("reap");
        let _ = feeder.join();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some((path, cid)) = printed.trim().split_once('\t') {
            // Completed: the path must be whole.
            valid += 1;
            assert!(ok(&state, &["store", "path-info", path]).contains(cid));
            let dest = t.path().join(format!("back{i}"));
            ok(&state, &["store", "get", cid, dest.to_str().expect("utf8")]);
            common::diff(&src, &dest);
        }
        let v = pkg(&state, &["store", "verify"]);
        assert!(
            String::from_utf8_lossy(&v.stdout).contains("0 missing"),
            "{v:?}"
        );
    }
    assert_eq!(
        killed, 20,
        "only {killed} imports were killed mid-way in 80 rounds (window {window} µs)"
    );
    assert!(
        valid >= 1,
        "no import completed; the window is too short to test the valid case"
    );
    ok(&state, &["gc"]);
    assert!(ok(&state, &["store", "verify"]).contains("0 corrupt, 0 missing"));
}

/// `pkg store mount` until dropped (SIGINT: it unmounts and exits).
struct Mounted(std::process::Child);

impl Mounted {
    fn start(state: &Path, mountpoint: &Path, store_dir: bool, ready: &Path) -> Mounted {
        fs::create_dir_all(mountpoint).expect("mountpoint");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pkg"));
        cmd.arg("--state-dir").arg(state).args(["store", "mount"]);
        if store_dir {
            cmd.arg("--store-dir");
        }
        let child = cmd.arg(mountpoint).spawn().expect("pkg store mount");
        let m = Mounted(child);
        for _ in 0..300 {
            if ready.exists() {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} did not appear", ready.display());
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// SHA-256 of what `command` (a shell pipeline's first part) writes.
fn sha256_of(command: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {command} | sha256sum"))
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// A real tree (CI: the Rust toolchain, 1.3 GB in 52k files; set
/// `PKGCHAIN_BIG_TREE`): added, it mounts as a byte-identical tree, and its
/// NAR from `nix-store --dump`, registered with `add-nar`, dumps back from
/// the store-dir view bit for bit.
#[test]
fn a_real_tree_round_trips() {
    let Some(big) = std::env::var_os("PKGCHAIN_BIG_TREE") else {
        eprintln!("a_real_tree_round_trips: PKGCHAIN_BIG_TREE is unset; not run");
        return;
    };
    let big = Path::new(&big);
    let t = tempfile::tempdir_in("/var/tmp").expect("tempdir");
    let state = t.path().join("state");
    let cid = ok(&state, &["store", "add", big.to_str().expect("utf8")]);
    let cid = cid.trim();

    let quoted = |p: &Path| format!("'{}'", p.display());
    let added = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; nix-store --dump {} | {} --state-dir {} store add-nar toolchain",
            quoted(big),
            env!("CARGO_BIN_EXE_pkg"),
            quoted(&state)
        ))
        .output()
        .expect("sh");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let line = String::from_utf8(added.stdout).expect("utf8");
    let (path, _) = line.trim().split_once('\t').expect("path and cid");
    let base = path.rsplit('/').next().expect("a base name");

    let dags = t.path().join("dags");
    let store = t.path().join("store");
    let _dag_view = Mounted::start(&state, &dags, false, &dags.join(cid));
    let _store_view = Mounted::start(&state, &store, true, &store.join(base));
    common::diff(big, &dags.join(cid));
    assert_eq!(
        sha256_of(&format!("nix-store --dump {}", quoted(big))),
        sha256_of(&format!("nix-store --dump {}", quoted(&store.join(base)))),
        "the NAR read back from the store view differs"
    );
}
