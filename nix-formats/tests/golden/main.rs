//! Golden vectors from the real Nix: `generate.sh` runs Nix 2.8's
//! `nix-store`, `nix-hash`, `nix-instantiate` and `nix copy` in a private
//! store, and these tests require our output to equal theirs, in both
//! directions where a format can be decoded and encoded.
//!
//! Nix missing is a failure, not a skip: CI installs `nix-bin`.

mod derivations;
mod exports;
mod hashes;
mod narinfos;
mod nars;
mod paths;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The folder the generator filled, made once per test run.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golden");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/generate.sh");
        let status = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            status.success(),
            "{} failed ({status}); the golden tests need the real Nix (apt-get install nix-bin)",
            script.display()
        );
        out
    })
}

/// Rows of a tab-separated manifest written by the generator.
pub fn tsv(name: &str) -> Vec<Vec<String>> {
    let text =
        std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert!(!rows.is_empty(), "{name} is empty");
    rows
}

pub fn read(rel: impl AsRef<Path>) -> Vec<u8> {
    let p = fixtures().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
