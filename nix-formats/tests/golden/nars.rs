//! NARs from `nix-store --dump`: our dump of the same trees gives the same
//! bytes, our decoder reads Nix's NARs and our writer re-encodes them
//! byte for byte, and `hash_path` equals `nix-hash`.

use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::nar::{Node, dump, hash_path};

use crate::{fixtures, read, tsv};

#[test]
fn dump_and_round_trip_equal_nix() {
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures().join("trees")).expect("trees") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let nix = read(format!("nar/{name}.nar"));
        let mut ours = Vec::new();
        let size = dump(&path, &mut ours).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(size, nix.len() as u64, "{name}");
        assert!(
            ours == nix,
            "{name}: our dump differs from nix-store --dump"
        );
        let tree = Node::parse(&nix).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            tree.to_nar().expect("encode") == nix,
            "{name}: decode then encode"
        );
        n += 1;
    }
    assert!(n >= 12, "only {n} trees");
}

#[test]
fn hash_path_equals_nix_hash() {
    for row in tsv("hash.tsv") {
        let [name, mode, algo, b16, ..] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        if mode != "nar" {
            continue;
        }
        let algo: HashAlgo = algo.parse().expect("algo");
        let (h, size) = hash_path(algo, &fixtures().join("trees").join(name)).expect("hash_path");
        assert_eq!(
            h,
            Hash::parse_digest(algo, b16).expect("hash"),
            "{name} {algo}"
        );
        assert_eq!(size, read(format!("nar/{name}.nar")).len() as u64);
    }
}
