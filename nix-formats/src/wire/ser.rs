//! The encoding side: typed values appended to a caller-owned buffer.
//!
//! An [`Encoder`] only appends to a `Vec<u8>`; the caller decides when to
//! flush it to the peer.

use std::collections::{BTreeMap, BTreeSet};

use crate::store_path::{StoreDir, StorePath};

use super::context::WireContext;
use super::error::EncodeError;
use super::grammar::padding;
use super::version::ProtocolVersion;

/// A value with a wire form that may depend on the negotiated version.
///
/// Encoding fails only for values the negotiated version cannot express
/// (e.g. an opaque `.drv` path in a DerivedPath before 1.30).
pub trait WireEncode {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError>;
}

/// Appends wire values to a buffer.
#[derive(Debug)]
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    cx: &'a WireContext,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut Vec<u8>, cx: &'a WireContext) -> Self {
        Encoder { out, cx }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.cx.version
    }

    pub fn store_dir(&self) -> &'a StoreDir {
        &self.cx.store_dir
    }

    pub fn context(&self) -> &'a WireContext {
        self.cx
    }

    /// Encodes any [`WireEncode`] value.
    pub fn encode<T: WireEncode + ?Sized>(&mut self, v: &T) -> Result<(), EncodeError> {
        v.encode(self)
    }

    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.u64(u64::from(v));
    }

    /// Bytes as they are: no length, no padding (an inline NAR, bytes
    /// produced by another encoder).
    pub fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// A byte string, length-prefixed and zero-padded to 8.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.out.extend_from_slice(b);
        self.out.extend_from_slice(&[0u8; 8][..padding(b.len())]);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A full store path.
    pub fn store_path(&mut self, p: &StorePath) {
        self.str(&self.cx.store_dir.display(p));
    }

    /// An optional store path; none is the empty string.
    pub fn opt_store_path(&mut self, p: Option<&StorePath>) {
        match p {
            Some(p) => self.store_path(p),
            None => self.str(""),
        }
    }

    /// A list or set: the count, then each item written by `item`.
    pub fn list<'i, T: 'i, I>(
        &mut self,
        items: I,
        mut item: impl FnMut(&mut Self, &'i T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError>
    where
        I: IntoIterator<Item = &'i T>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        self.u64(items.len() as u64);
        for x in items {
            item(self, x)?;
        }
        Ok(())
    }

    /// A list or set of strings.
    pub fn strings<'i, I, S>(&mut self, items: I)
    where
        I: IntoIterator<Item = &'i S>,
        I::IntoIter: ExactSizeIterator,
        S: AsRef<str> + ?Sized + 'i,
    {
        let items = items.into_iter();
        self.u64(items.len() as u64);
        for s in items {
            self.str(s.as_ref());
        }
    }

    /// A set of store paths.
    pub fn path_set(&mut self, paths: &BTreeSet<StorePath>) {
        self.u64(paths.len() as u64);
        for p in paths {
            self.store_path(p);
        }
    }

    /// A map of strings to strings.
    pub fn string_map(&mut self, m: &BTreeMap<String, String>) {
        self.u64(m.len() as u64);
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }
}

/// Encodes `v` at the context's version, appending to `out`.
pub fn encode_into<T: WireEncode + ?Sized>(
    out: &mut Vec<u8>,
    cx: &WireContext,
    v: &T,
) -> Result<(), EncodeError> {
    v.encode(&mut Encoder::new(out, cx))
}

/// Encodes `v` into a fresh buffer.
pub fn encode_to_vec<T: WireEncode + ?Sized>(
    cx: &WireContext,
    v: &T,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(&mut out, cx, v)?;
    Ok(out)
}

impl WireEncode for u64 {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.u64(*self);
        Ok(())
    }
}

impl WireEncode for bool {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.bool(*self);
        Ok(())
    }
}

impl WireEncode for str {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.str(self);
        Ok(())
    }
}

impl WireEncode for String {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.str(self);
        Ok(())
    }
}

impl WireEncode for StorePath {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.store_path(self);
        Ok(())
    }
}

impl<T: WireEncode> WireEncode for [T] {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.list(self, |e, x| x.encode(e))
    }
}

impl<T: WireEncode> WireEncode for Vec<T> {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        self.as_slice().encode(e)
    }
}

impl<T: WireEncode> WireEncode for BTreeSet<T> {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.list(self, |e, x| x.encode(e))
    }
}

impl<K: WireEncode, V: WireEncode> WireEncode for BTreeMap<K, V> {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.u64(self.len() as u64);
        for (k, v) in self {
            k.encode(e)?;
            v.encode(e)?;
        }
        Ok(())
    }
}
