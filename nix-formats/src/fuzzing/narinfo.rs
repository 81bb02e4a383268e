use crate::narinfo::NarInfo;
use crate::store_path::StoreDir;

/// Parses arbitrary bytes as a `.narinfo`; whatever parses must print and
/// parse back to the same value, and printing must be stable.
pub fn narinfo(data: &[u8]) {
    let dir = StoreDir::default();
    if let Ok(ni) = NarInfo::parse(&dir, data) {
        let text = ni.to_text(&dir);
        let again = NarInfo::parse(&dir, text.as_bytes()).expect("printed narinfo parses");
        assert_eq!(again, ni);
        assert_eq!(again.to_text(&dir), text);
        let _ = ni.fingerprint(&dir);
    }
}
