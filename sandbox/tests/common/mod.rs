//! A throw-away store with static busybox in it, and helpers to run builds.
//!
//! These tests need root, user namespaces and `/bin/busybox`; without them
//! they fail (they never skip).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox::{BuildSpec, Outcome, run_helper, run_helper_command};

pub const HELPER: &str = env!("CARGO_BIN_EXE_pkgchain-sandbox");

/// A temporary store directory holding `<hash>-busybox/busybox`.
pub struct TestStore {
    pub tmp: tempfile::TempDir,
    pub store: PathBuf,
    pub busybox_dir: PathBuf,
    pub busybox: PathBuf,
}

impl TestStore {
    pub fn new() -> TestStore {
        assert!(
            rustix::process::getuid().is_root(),
            "the sandbox tests must run as root"
        );
        let tmp = tempfile::Builder::new()
            .prefix("sandbox-test-")
            .tempdir()
            .expect("temp dir");
        let store = tmp.path().join("store");
        let busybox_dir = store.join("0c3qgq2vx4jqhnkbdf2fy2w6nlkp9vql-busybox");
        std::fs::create_dir_all(&busybox_dir).expect("store dir");
        let busybox = busybox_dir.join("busybox");
        // Copied by `cp`, not in this process: tests run on several threads,
        // and a helper forked by another one meanwhile would inherit our
        // descriptor open for writing and keep it until its exec, so that
        // executing busybox fails with ETXTBSY (seen once in ~100 runs).
        let copied = std::process::Command::new("cp")
            .arg("/bin/busybox")
            .arg(&busybox)
            .status()
            .expect("cp");
        assert!(copied.success(), "static busybox at /bin/busybox");
        TestStore {
            tmp,
            store,
            busybox_dir,
            busybox,
        }
    }

    /// A store path in this store (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.store.join(name)
    }

    /// A fresh directory under the test's temp dir.
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::create_dir_all(&p).expect("dir");
        p
    }

    /// A spec running `busybox sh -c script` with `out` as its only output
    /// and the environment `out=<path>` plus `PATH` pointing nowhere.
    pub fn spec(&self, script: &str) -> BuildSpec {
        let out = self.path("2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
        let build = self.dir("build");
        let mut spec = BuildSpec::new(
            self.busybox.as_os_str().as_encoded_bytes(),
            self.tmp.path().join("chroot"),
            build,
        );
        spec.store_dir = self.store.clone();
        spec.inputs = vec![self.busybox_dir.clone()];
        spec.outputs = vec![out.clone()];
        spec.args = vec![b"sh".to_vec(), b"-c".to_vec(), script.as_bytes().to_vec()];
        spec.env = vec![
            (b"PATH".to_vec(), b"/path-not-set".to_vec()),
            (
                b"bb".to_vec(),
                self.busybox.as_os_str().as_encoded_bytes().to_vec(),
            ),
            (b"out".to_vec(), out.as_os_str().as_encoded_bytes().to_vec()),
        ];
        spec.build_uid = 30001;
        spec.build_gid = 30000;
        spec
    }

    /// Where an output of `spec` is on the host after the build.
    pub fn output(&self, spec: &BuildSpec, name: &str) -> PathBuf {
        spec.host_path_of(&self.path(name))
    }
}

/// Runs the helper; returns the outcome and the log.
pub fn run(spec: &BuildSpec) -> (Outcome, String) {
    let mut log = Vec::new();
    let outcome = run_helper(Path::new(HELPER), spec, &mut log).expect("helper runs");
    (outcome, String::from_utf8_lossy(&log).into_owned())
}

/// Runs the helper through `command` (which must end up exec-ing it).
pub fn run_with(command: Command, spec: &BuildSpec) -> (Outcome, String) {
    let mut log = Vec::new();
    let outcome = run_helper_command(command, spec, &mut log).expect("helper runs");
    (outcome, String::from_utf8_lossy(&log).into_owned())
}

/// Runs and insists on success, printing the log otherwise.
pub fn run_ok(spec: &BuildSpec) -> String {
    let (outcome, log) = run(spec);
    assert_eq!(outcome, Outcome::Exited(0), "log:\n{log}");
    log
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The host's mount table, without the per-mount ids that other tests'
/// unrelated activity cannot change anyway.
pub fn mountinfo() -> String {
    read(Path::new("/proc/self/mountinfo"))
}
