//! `nix-hash` and `nix hash to-*` against our hash forms.

use nix_formats::hash::{Hash, HashAlgo, fold, to_base16};

use crate::{read, tsv};

#[test]
fn nix_hash_of_nar_dumps_and_flat_files() {
    let rows = tsv("hash.tsv");
    let mut checked = 0;
    for row in &rows {
        let [name, mode, algo, b16, b32, truncated] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        let algo: HashAlgo = algo.parse().expect("algo");
        // The bytes Nix hashed: its own NAR dump, or the file itself.
        let data = match mode.as_str() {
            "nar" => read(format!("nar/{name}.nar")),
            "flat" => read(format!("trees/{name}")),
            other => panic!("mode {other}"),
        };
        let h = Hash::of_bytes(algo, &data);
        assert_eq!(&h.to_base16(), b16, "{name} {mode} {algo} base16");
        assert_eq!(&h.to_nix32(), b32, "{name} {mode} {algo} nix32");
        let expect_trunc = if algo.size() > 20 {
            to_base16(&fold(h.digest(), 20))
        } else {
            h.to_base16()
        };
        assert_eq!(&expect_trunc, truncated, "{name} {mode} {algo} --truncate");
        // Both directions: Nix's strings parse back to the same hash.
        assert_eq!(Hash::parse_digest(algo, b16).expect("b16"), h);
        assert_eq!(Hash::parse_digest(algo, b32).expect("b32"), h);
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} hash vectors");
}

#[test]
fn sri_and_base64_forms() {
    for row in tsv("sri.tsv") {
        let [algo, b16, sri, b64] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        let algo: HashAlgo = algo.parse().expect("algo");
        let h = Hash::parse_digest(algo, b16).expect("b16");
        assert_eq!(&h.to_sri(), sri);
        assert_eq!(&h.to_base64(), b64);
        assert_eq!(Hash::parse_any(sri, None).expect("sri"), h);
        assert_eq!(Hash::parse_digest(algo, b64).expect("b64"), h);
    }
}
