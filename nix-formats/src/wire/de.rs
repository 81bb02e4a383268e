//! The decoding cursor: typed values out of a byte slice, or "need N more
//! bytes".
//!
//! A [`Decoder`] never reads past its slice and never allocates for a
//! length it has not checked against [`Limits`](super::Limits). When a
//! value is cut short it returns [`DecodeError::Incomplete`]; the caller
//! keeps its buffer, reads more, and decodes again from the same start.

use std::collections::{BTreeMap, BTreeSet};

use crate::store_path::{MAX_NAME_LEN, StoreDir, StorePath};

use super::context::{Limits, WireContext};
use super::error::DecodeError;
use super::grammar::padding;
use super::version::ProtocolVersion;

/// A value with a wire form that may depend on the negotiated version.
pub trait WireDecode: Sized {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError>;
}

/// A cursor over received bytes.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    cx: &'a WireContext,
    canonical: bool,
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8], cx: &'a WireContext) -> Self {
        Decoder {
            input,
            pos: 0,
            cx,
            canonical: true,
        }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes not consumed yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }

    pub fn version(&self) -> ProtocolVersion {
        self.cx.version
    }

    pub fn store_dir(&self) -> &'a StoreDir {
        &self.cx.store_dir
    }

    pub fn limits(&self) -> &'a Limits {
        &self.cx.limits
    }

    pub fn context(&self) -> &'a WireContext {
        self.cx
    }

    /// False once the decoder has accepted a form that encodes differently
    /// (a bool other than 0/1, an unsorted or repeated set, a hash not in
    /// base16, …): the values are what Nix would read, but encoding them
    /// gives the canonical bytes instead of these.
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// Records that the input used a non-canonical form.
    pub fn mark_non_canonical(&mut self) {
        self.canonical = false;
    }

    /// Decodes any [`WireDecode`] value.
    pub fn decode<T: WireDecode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// Checks that `n` more bytes are at hand. A value that would reach
    /// past [`Limits::max_message_len`] from the decoder's start is an
    /// error whether or not its bytes arrived, so the outcome never
    /// depends on how the input was split.
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        let limit = self.cx.limits.max_message_len;
        if self.pos.saturating_add(n) > limit {
            return Err(DecodeError::MessageTooLong {
                offset: self.pos,
                len: n,
                limit,
            });
        }
        let have = self.input.len() - self.pos;
        if have < n {
            Err(DecodeError::Incomplete { needed: n - have })
        } else {
            Ok(())
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.need(n)?;
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A u64, little-endian.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().expect("take(8) returns 8 bytes"),
        ))
    }

    /// A bool: any non-zero u64 is true (as Nix reads it).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let v = self.u64()?;
        if v > 1 {
            self.mark_non_canonical();
        }
        Ok(v != 0)
    }

    /// A u64 that must be below `bound`; `expected` names the type for the
    /// error.
    pub fn u64_below(
        &mut self,
        field: &'static str,
        expected: &'static str,
        bound: u64,
    ) -> Result<u64, DecodeError> {
        let offset = self.pos;
        let v = self.u64()?;
        if v >= bound {
            return Err(DecodeError::BadValue {
                field,
                offset,
                expected,
                found: v,
            });
        }
        Ok(v)
    }

    /// A padded byte string, borrowed from the input.
    pub fn bytes_ref(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        self.bytes_ref_max(field, self.cx.limits.max_string_len)
    }

    /// A padded byte string of at most `limit` bytes (and never more than
    /// [`Limits::max_string_len`]), borrowed from the input. The length is
    /// checked before the data is waited for.
    pub fn bytes_ref_max(
        &mut self,
        field: &'static str,
        limit: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let offset = self.pos;
        let len = self.u64()?;
        let limit = limit.min(self.cx.limits.max_string_len);
        let n = usize::try_from(len)
            .ok()
            .filter(|&n| n <= limit)
            .ok_or(DecodeError::TooLong {
                field,
                offset,
                len,
                limit,
            })?;
        let pad = padding(n);
        self.need(n + pad)?;
        let data = self.take(n)?;
        if self.take(pad)?.iter().any(|&b| b != 0) {
            return Err(DecodeError::BadPadding { field, offset });
        }
        Ok(data)
    }

    /// A padded byte string, copied.
    pub fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        self.bytes_ref(field).map(<[u8]>::to_vec)
    }

    /// A padded string that must be UTF-8, borrowed.
    pub fn str_ref(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let offset = self.pos;
        let b = self.bytes_ref(field)?;
        std::str::from_utf8(b).map_err(|source| DecodeError::NotUtf8 {
            field,
            offset: offset + 8,
            source,
        })
    }

    /// A padded string that must be UTF-8.
    pub fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        self.str_ref(field).map(str::to_owned)
    }

    /// The longest string that can be a store path in our store dir: the
    /// directory, `/`, the 32-character hash, `-` and the longest name.
    /// Longer claims are refused before their bytes are waited for.
    pub fn max_store_path_len(&self) -> usize {
        self.cx.store_dir.as_str().len() + 2 + 32 + MAX_NAME_LEN
    }

    /// A padded UTF-8 string of at most `limit` bytes, borrowed.
    fn str_ref_max(&mut self, field: &'static str, limit: usize) -> Result<&'a str, DecodeError> {
        let offset = self.pos;
        let b = self.bytes_ref_max(field, limit)?;
        std::str::from_utf8(b).map_err(|source| DecodeError::NotUtf8 {
            field,
            offset: offset + 8,
            source,
        })
    }

    /// A store path's base name (`<hash>-<name>`), sent without its
    /// directory.
    pub fn base_name(&mut self, field: &'static str) -> Result<StorePath, DecodeError> {
        let offset = self.pos;
        let s = self.str_ref_max(field, 1 + 32 + MAX_NAME_LEN)?;
        StorePath::from_base_name(s).map_err(|source| DecodeError::StorePath {
            field,
            offset,
            source,
        })
    }

    /// A full store path (`/nix/store/<hash>-<name>`) in our store dir.
    pub fn store_path(&mut self, field: &'static str) -> Result<StorePath, DecodeError> {
        let offset = self.pos;
        let s = self.str_ref_max(field, self.max_store_path_len())?;
        self.cx
            .store_dir
            .parse_path(s)
            .map_err(|source| DecodeError::StorePath {
                field,
                offset,
                source,
            })
    }

    /// An optional store path: the empty string means none.
    pub fn opt_store_path(
        &mut self,
        field: &'static str,
    ) -> Result<Option<StorePath>, DecodeError> {
        let offset = self.pos;
        let s = self.str_ref_max(field, self.max_store_path_len())?;
        if s.is_empty() {
            return Ok(None);
        }
        self.cx
            .store_dir
            .parse_path(s)
            .map(Some)
            .map_err(|source| DecodeError::StorePath {
                field,
                offset,
                source,
            })
    }

    /// The count that starts a list, set or map, checked against the limit.
    /// Returns it with a safe capacity to reserve: every item takes at least
    /// 8 bytes, so no more than the remaining input can hold.
    pub fn count(&mut self, field: &'static str) -> Result<(usize, usize), DecodeError> {
        let offset = self.pos;
        let count = self.u64()?;
        let limit = self.cx.limits.max_collection_len;
        let n =
            usize::try_from(count)
                .ok()
                .filter(|&n| n <= limit)
                .ok_or(DecodeError::TooMany {
                    field,
                    offset,
                    count,
                    limit,
                })?;
        Ok((n, n.min((self.input.len() - self.pos) / 8)))
    }

    /// A list, each item read by `item`.
    ///
    /// When an item is cut short, the bytes asked for include the least
    /// the items after it can take (8 each: every wire value holds at
    /// least one u64), so a reader that retries from the start waits for
    /// the bulk of a long collection at once instead of item by item.
    pub fn list<T>(
        &mut self,
        field: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let (n, cap) = self.count(field)?;
        let mut v = Vec::with_capacity(cap);
        for i in 0..n {
            v.push(item(self).map_err(|e| rest_needed(e, n - i - 1, 8))?);
        }
        Ok(v)
    }

    /// A set. Nix sends sets sorted; unsorted or repeated items are
    /// accepted (as Nix does) but make the input non-canonical.
    pub fn set<T: Ord>(
        &mut self,
        field: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<BTreeSet<T>, DecodeError> {
        let (n, _) = self.count(field)?;
        let mut s = BTreeSet::new();
        for i in 0..n {
            let x = item(self).map_err(|e| rest_needed(e, n - i - 1, 8))?;
            if s.last().is_some_and(|last| *last >= x) {
                self.mark_non_canonical();
            }
            s.insert(x);
        }
        Ok(s)
    }

    /// A map (count, then key/value pairs). Later duplicates win, as in Nix.
    pub fn map<K: Ord, V>(
        &mut self,
        field: &'static str,
        mut key: impl FnMut(&mut Self) -> Result<K, DecodeError>,
        mut value: impl FnMut(&mut Self) -> Result<V, DecodeError>,
    ) -> Result<BTreeMap<K, V>, DecodeError> {
        let (n, _) = self.count(field)?;
        let mut m = BTreeMap::new();
        for i in 0..n {
            let k = key(self).map_err(|e| rest_needed(e, 2 * (n - i) - 1, 8))?;
            let v = value(self).map_err(|e| rest_needed(e, 2 * (n - i - 1), 8))?;
            if m.last_key_value().is_some_and(|(last, _)| *last >= k) {
                self.mark_non_canonical();
            }
            m.insert(k, v);
        }
        Ok(m)
    }

    /// A list of UTF-8 strings.
    pub fn strings(&mut self, field: &'static str) -> Result<Vec<String>, DecodeError> {
        self.list(field, |d| d.string(field))
    }

    /// A set of UTF-8 strings.
    pub fn string_set(&mut self, field: &'static str) -> Result<BTreeSet<String>, DecodeError> {
        self.set(field, |d| d.string(field))
    }

    /// A set of store paths.
    pub fn path_set(&mut self, field: &'static str) -> Result<BTreeSet<StorePath>, DecodeError> {
        self.set(field, |d| d.store_path(field))
    }

    /// A map of UTF-8 strings to UTF-8 strings.
    pub fn string_map(
        &mut self,
        field: &'static str,
    ) -> Result<BTreeMap<String, String>, DecodeError> {
        self.map(field, |d| d.string(field), |d| d.string(field))
    }
}

/// Adds the least that `items` more values of at least `each` bytes take
/// to an [`DecodeError::Incomplete`]; other errors pass unchanged.
fn rest_needed(e: DecodeError, items: usize, each: usize) -> DecodeError {
    match e {
        DecodeError::Incomplete { needed } => DecodeError::Incomplete {
            needed: needed.saturating_add(items.saturating_mul(each)),
        },
        other => other,
    }
}

/// Decodes one `T` from the start of `input`, returning it with the number
/// of bytes it took.
pub fn decode_prefix<T: WireDecode>(
    input: &[u8],
    cx: &WireContext,
) -> Result<(T, usize), DecodeError> {
    let mut d = Decoder::new(input, cx);
    let v = T::decode(&mut d)?;
    Ok((v, d.pos()))
}

impl WireDecode for u64 {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.u64()
    }
}

impl WireDecode for bool {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.bool()
    }
}

impl WireDecode for StorePath {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.store_path("store path")
    }
}

impl WireDecode for String {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.string("string")
    }
}

impl<T: WireDecode> WireDecode for Vec<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.list("list", T::decode)
    }
}

impl<T: WireDecode + Ord> WireDecode for BTreeSet<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.set("set", T::decode)
    }
}

impl<K: WireDecode + Ord, V: WireDecode> WireDecode for BTreeMap<K, V> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.map("map", K::decode, V::decode)
    }
}
