//! Imports a NAR from stdin into a block store the way the daemon does for
//! an upload (one reader, block files written by the writer pool), without
//! registering it (for profiling the import path on its own):
//! `import_nar STATE_DIR < NAR`. Prints the root CID, NAR hash and size.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, state] = &args[..] else {
        eprintln!("usage: import_nar STATE_DIR < NAR");
        std::process::exit(2);
    };
    let store = store_ipfs::store::Store::open(std::path::Path::new(state)).expect("open");
    let input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut w = store.writer().expect("writer");
    let imported = store_ipfs::nar_dag::import_nar(input, &mut w).expect("import");
    let written = w.finish().expect("finish");
    eprintln!("{} blocks claimed", written.records.len());
    println!(
        "{} {} {}",
        imported.root.cid,
        imported.nar_hash.to_prefixed_nix32(),
        imported.nar_size
    );
}
