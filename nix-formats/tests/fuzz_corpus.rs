//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the
//! same entry points the fuzzers use, so every seed and every finding that
//! was ever minimised stays a regression test on stable Rust.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
    {
        let path = entry.expect("corpus entry").path();
        if path.is_file() {
            f(&std::fs::read(&path).expect("read corpus file"));
            n += 1;
        }
    }
    assert!(n > 0, "corpus for {target} is empty: seed it");
}

#[test]
fn nar_reader_corpus() {
    replay("nar_reader", nix_formats::fuzzing::nar_reader);
}

#[test]
fn aterm_corpus() {
    replay("aterm", nix_formats::fuzzing::aterm);
}

#[test]
fn wire_session_corpus() {
    replay("wire_session", nix_formats::fuzzing::wire_session);
}

#[test]
fn narinfo_corpus() {
    replay("narinfo", nix_formats::fuzzing::narinfo);
}

#[test]
fn textual_corpus() {
    replay("textual", nix_formats::fuzzing::textual);
}
