//! `.narinfo` files written by `nix copy --to file://…?secret-key=…`:
//! parse and print byte for byte, check the NAR hash, and sign the same
//! fingerprint with the same key to get Nix's exact signature.

use nix_formats::hash::Hash;
use nix_formats::narinfo::NarInfo;
use nix_formats::signature::{PublicKey, SecretKey};
use nix_formats::store_path::StoreDir;

use crate::{fixtures, read};

#[test]
fn narinfos_round_trip_and_signatures_match() {
    let dir = StoreDir::default();
    let sk =
        SecretKey::parse(&String::from_utf8(read("sk")).expect("utf8")).expect("Nix's secret key");
    let pk =
        PublicKey::parse(&String::from_utf8(read("pk")).expect("utf8")).expect("Nix's public key");
    assert_eq!(sk.public_key(), pk);
    let mut n = 0;
    for cache in ["cache", "cache-xz"] {
        for entry in std::fs::read_dir(fixtures().join(cache)).expect("cache dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "narinfo") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("narinfo");
            let ni =
                NarInfo::parse(&dir, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                ni.to_text(&dir).as_bytes(),
                bytes.as_slice(),
                "{}",
                path.display()
            );
            if cache == "cache" {
                // Uncompressed: the file is the NAR itself.
                let nar = read(format!("{cache}/{}", ni.url));
                assert_eq!(Hash::sha256(&nar), ni.nar_hash);
                assert_eq!(nar.len() as u64, ni.nar_size);
                let fp = ni.fingerprint(&dir).expect("fingerprint");
                assert_eq!(
                    ni.sigs,
                    vec![sk.sign(&fp)],
                    "ed25519 is deterministic: same key, same signature"
                );
                assert!(ni.has_valid_signature(&dir, std::slice::from_ref(&pk)));
            } else {
                assert!(ni.sigs.is_empty());
                assert_eq!(ni.compression, "xz");
            }
            n += 1;
        }
    }
    assert!(n >= 40, "only {n} narinfos");
}
