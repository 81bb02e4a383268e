//! Writes the NAR of a DAG in a block store to stdout (for profiling the
//! export path on its own): `export_nar STATE_DIR CID`.

use std::io::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, state, cid] = &args[..] else {
        eprintln!("usage: export_nar STATE_DIR CID");
        std::process::exit(2);
    };
    let blocks = store_ipfs::blocks::BlockStore::open(std::path::Path::new(state)).expect("open");
    let cid: cid::Cid = cid.parse().expect("a CID");
    let out = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let n =
        store_ipfs::nar_dag::export_nar(&store_ipfs::dag::DagReader::new(&blocks), &cid, &mut out)
            .expect("export");
    out.flush().expect("flush");
    eprintln!("{n} bytes");
}
