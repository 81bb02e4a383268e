//! Replays the committed corpus of the `dag_pb` fuzz target
//! (`fuzz/corpus/dag_pb/*`: blocks made by the JS reference importer, see
//! `tests/js/blocks.mjs`, plus minimised findings) through the entry point
//! the fuzzer uses, so every seed stays a regression test on stable Rust.

use std::path::Path;

#[test]
fn dag_pb_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dag_pb");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
    {
        let path = entry.expect("corpus entry").path();
        if path.is_file() {
            let block = std::fs::read(&path).expect("read corpus file");
            store_ipfs::fuzzing::dag_pb(&block);
            n += 1;
        }
    }
    assert!(n >= 8, "corpus for dag_pb has {n} seeds: seed it");
}
