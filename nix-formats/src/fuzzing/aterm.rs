//! Fuzz entry for the `.drv` ATerm reader.
//!
//! Invariant: reading never panics, and whatever is accepted prints back to
//! exactly the input bytes. The strong form holds because the reader
//! accepts only canonical text: it refuses the non-canonical forms Nix 2.8
//! reads (stray escapes, unsorted or repeated entries, a leading comma,
//! trailing bytes, non-base16 fixed hashes…) instead of normalising them;
//! see `derivation::parse`. Accepted derivations are also hashed (with a
//! stand-in resolver) to exercise the type checks and the masked writer.

use std::collections::BTreeMap;

use crate::derivation::{Derivation, DrvHash, DrvHashKind, UnknownDerivation};
use crate::hash::Hash;
use crate::store_path::{StoreDir, StorePath};

pub fn aterm(data: &[u8]) {
    let store_dir = StoreDir::default();
    let Ok(drv) = Derivation::from_aterm(data, &store_dir) else {
        return;
    };
    let printed = drv.to_aterm(&store_dir);
    assert!(
        printed == data,
        "accepted text does not print back:\n in: {}\nout: {}",
        data.escape_ascii(),
        printed.escape_ascii()
    );
    let mut resolve = |_: &StorePath| {
        Ok::<_, UnknownDerivation>(DrvHash {
            hashes: BTreeMap::from([("out".to_owned(), Hash::sha256(b"input"))]),
            kind: DrvHashKind::Regular,
        })
    };
    if let Ok(masked) = drv.hash_modulo(&store_dir, true, &mut resolve) {
        let _ = drv.output_paths(&store_dir, "fuzz", &masked);
    }
}
