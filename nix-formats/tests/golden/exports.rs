//! `nix-store --export` files: read them, write them back byte for byte,
//! and check each NAR against the path's recorded hash.

use nix_formats::export::{read_export, write_export};
use nix_formats::store_path::StoreDir;

use crate::{fixtures, read};

#[test]
fn export_files_round_trip() {
    let sd = StoreDir::default();
    for (file, count) in [
        ("simple.export", 1),
        ("trivial-drv.export", 1),
        ("two.export", 2),
    ] {
        let bytes = read(format!("export/{file}"));
        let items = read_export(&sd, bytes.as_slice()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(items.len(), count, "{file}");
        let mut again = Vec::new();
        write_export(&sd, &items, &mut again).expect("write");
        assert!(again == bytes, "{file}: read then write gives Nix's bytes");
        for item in &items {
            let ni =
                std::fs::read(fixtures().join(format!("cache/{}.narinfo", item.path.hash_part())))
                    .expect("narinfo");
            let ni = nix_formats::narinfo::NarInfo::parse(&sd, &ni).expect("narinfo");
            assert_eq!(nix_formats::hash::Hash::sha256(&item.nar), ni.nar_hash);
            assert_eq!(item.references, ni.references);
        }
        for cut in [0, 7, 8, 100, bytes.len() - 1] {
            assert!(
                read_export(&sd, &bytes[..cut]).is_err(),
                "{file} truncated at {cut}"
            );
        }
    }
}
