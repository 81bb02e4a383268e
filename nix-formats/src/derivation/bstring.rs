//! [`BString`]: the byte strings a derivation carries.
//!
//! Nix stores the platform, builder, arguments and environment of a
//! derivation as C++ `std::string`s, which hold arbitrary bytes. Keeping them
//! as bytes (not `String`) is what makes parse → print byte-exact for every
//! `.drv` Nix can write, UTF-8 or not.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// An owned byte string, ordered bytewise like C++ `std::string`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BString(Vec<u8>);

impl BString {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        BString(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The string, if it is valid UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The string with invalid UTF-8 replaced by U+FFFD (for messages).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl Deref for BString {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for BString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Lets maps keyed by `BString` be queried with `b"name".as_slice()`.
impl Borrow<[u8]> for BString {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for BString {
    fn from(v: Vec<u8>) -> Self {
        BString(v)
    }
}

impl From<&[u8]> for BString {
    fn from(v: &[u8]) -> Self {
        BString(v.to_vec())
    }
}

impl From<String> for BString {
    fn from(s: String) -> Self {
        BString(s.into_bytes())
    }
}

impl From<&str> for BString {
    fn from(s: &str) -> Self {
        BString(s.as_bytes().to_vec())
    }
}

impl PartialEq<str> for BString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for BString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<[u8]> for BString {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl fmt::Debug for BString {
    /// Quoted, with non-printable bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Display for BString {
    /// Lossy UTF-8.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn orders_bytewise_and_looks_up_by_slice() {
        let mut m = BTreeMap::new();
        m.insert(BString::from("b"), 1);
        m.insert(BString::from(vec![0xff]), 2);
        m.insert(BString::from("a"), 3);
        let keys: Vec<_> = m.keys().map(|k| k.as_bytes().to_vec()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), vec![0xff]]);
        assert_eq!(m.get(b"b".as_slice()), Some(&1));
        assert_eq!(BString::from(vec![0xff]).to_str(), None);
        assert_eq!(format!("{:?}", BString::from("a\"\n")), "\"a\\\"\\n\"");
        assert_eq!(BString::from("x"), "x");
    }
}
