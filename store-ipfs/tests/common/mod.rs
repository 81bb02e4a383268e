//! Helpers shared by the store's integration tests.

use std::path::Path;
use std::process::Command;

/// Asserts that two trees are identical (`diff -r`, symlinks compared as
/// links).
pub fn diff(a: &Path, b: &Path) {
    let out = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(a)
        .arg(b)
        .output()
        .expect("diff");
    assert!(
        out.status.success(),
        "{} vs {}: {}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}
