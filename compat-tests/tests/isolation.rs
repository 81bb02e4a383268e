//! The runner must refuse to mount anything unless it is in its own mount
//! and network namespaces: started directly, or with a mount namespace but
//! the host's network, it fails before touching `/nix`.

use std::path::Path;
use std::process::Command;

#[test]
fn the_runner_refuses_to_run_outside_a_private_namespace() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("isolation-check");
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo is readable");
    let out = Command::new(env!("CARGO_BIN_EXE_compat-runner"))
        .arg("run")
        .arg("trivial")
        .arg(&root)
        .arg("reference")
        .arg(&scenarios)
        .output()
        .expect("the runner starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("refusing to touch /nix"), "{stderr}");
    let after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo is readable");
    assert_eq!(before, after, "the runner changed this namespace's mounts");
    assert!(!root.join("nix").exists(), "the runner created its /nix");
}

#[test]
fn the_runner_refuses_to_run_on_the_hosts_network() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("isolation-check-net");
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(env!("CARGO_BIN_EXE_compat-runner"))
        .arg("run")
        .arg("trivial")
        .arg(&root)
        .arg("reference")
        .arg(&scenarios)
        .output()
        .expect("unshare starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("shares its parent's network namespace"),
        "{stderr}"
    );
    assert!(!root.join("nix").exists(), "the runner created its /nix");
}
