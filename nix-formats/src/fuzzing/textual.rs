use crate::content_address::{ContentAddress, ContentAddressMethod};
use crate::hash::{Hash, HashAlgo};
use crate::nix32;
use crate::signature::{PublicKey, SecretKey};
use crate::store_path::{StoreDir, StorePath};

/// The small textual parsers: store paths, hashes in every form, content
/// addresses, nix32, keys. Whatever parses must print back to a form that
/// parses to the same value.
pub fn textual(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let dir = StoreDir::default();
    if let Ok(p) = dir.parse_path(s) {
        assert_eq!(dir.display(&p), s);
        assert_eq!(
            StorePath::from_digest(&p.digest(), p.name()).expect("same name"),
            p
        );
    }
    if let Ok(p) = StorePath::from_base_name(s) {
        assert_eq!(p.to_string(), s);
    }
    let _ = dir.parse_path_within(s);
    if let Ok(bytes) = nix32::decode(s) {
        assert_eq!(nix32::encode(&bytes), s);
    }
    for default in [None, Some(HashAlgo::Sha256), Some(HashAlgo::Md5)] {
        if let Ok(h) = Hash::parse_any(s, default) {
            assert_eq!(Hash::parse_any(&h.to_sri(), None).expect("sri"), h);
            assert_eq!(
                Hash::parse_any(&h.to_prefixed_nix32(), None).expect("nix32"),
                h
            );
        }
    }
    if let Ok(ca) = s.parse::<ContentAddress>() {
        assert_eq!(
            ca.to_string()
                .parse::<ContentAddress>()
                .expect("printed ca"),
            ca
        );
    }
    if let Ok((m, a)) = ContentAddressMethod::parse_with_algo(s) {
        assert_eq!(
            ContentAddressMethod::parse_with_algo(&m.render_with_algo(a)).expect("printed"),
            (m, a)
        );
    }
    if let Ok(k) = PublicKey::parse(s) {
        assert_eq!(
            PublicKey::parse(&k.to_nix_string()).expect("printed key"),
            k
        );
    }
    if let Ok(k) = SecretKey::parse(s) {
        assert_eq!(
            SecretKey::parse(&k.to_nix_string())
                .expect("printed key")
                .to_nix_string(),
            k.to_nix_string()
        );
    }
}
