//! Nix's base-32 encoding ("nix32").
//!
//! The alphabet omits `e`, `o`, `u` and `t`. The encoding treats the input as
//! a little-endian bit string and emits the most significant 5-bit group
//! first, so it is *not* RFC 4648 base32 read backwards byte for byte.

use thiserror::Error;

/// The 32 characters, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Errors from [`decode`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("invalid character {found:?} at offset {offset} in nix32 string")]
    InvalidChar { offset: usize, found: char },
    #[error("nix32 string has non-zero bits beyond the hash length")]
    TrailingBits,
    #[error("nix32 string of length {0} does not encode a whole number of bytes")]
    BadLength(usize),
}

/// Length of the nix32 encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    if n == 0 { 0 } else { (n * 8 - 1) / 5 + 1 }
}

/// Number of bytes encoded by a nix32 string of `len` characters, if `len`
/// is a length [`encoded_len`] can produce.
pub const fn decoded_len(len: usize) -> Option<usize> {
    let n = len * 5 / 8;
    if encoded_len(n) == len { Some(n) } else { None }
}

/// Encodes `bytes` as nix32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for k in (0..len).rev() {
        let bit = k * 5;
        let i = bit / 8;
        let j = bit % 8;
        let mut c = u16::from(bytes[i]) >> j;
        if let Some(next) = bytes.get(i + 1) {
            c |= u16::from(*next) << (8 - j);
        }
        out.push(char::from(ALPHABET[usize::from(c & 0x1f)]));
    }
    out
}

fn digit_value(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Decodes a nix32 string. Rejects characters outside the alphabet and
/// non-zero bits past the end of the hash, as Nix does.
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let raw = s.as_bytes();
    let n = decoded_len(raw.len()).ok_or(DecodeError::BadLength(raw.len()))?;
    let mut out = vec![0u8; n];
    for (pos, &ch) in raw.iter().enumerate() {
        let digit = digit_value(ch).ok_or(DecodeError::InvalidChar {
            offset: pos,
            found: char::from(ch),
        })?;
        let k = raw.len() - 1 - pos;
        let bit = k * 5;
        let i = bit / 8;
        let j = bit % 8;
        let lo = digit << j;
        let hi = u16::from(digit) >> (8 - j);
        if i < n {
            out[i] |= lo;
        } else if lo != 0 {
            return Err(DecodeError::TrailingBits);
        }
        if i + 1 < n {
            out[i + 1] |= hi as u8;
        } else if hi != 0 {
            return Err(DecodeError::TrailingBits);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_lengths() {
        assert_eq!(encoded_len(20), 32);
        assert_eq!(encoded_len(32), 52);
        assert_eq!(encoded_len(64), 103);
        assert_eq!(encoded_len(16), 26);
    }

    #[test]
    fn empty_sha256_vector() {
        // `nix-hash --type sha256 --to-base32` of the SHA-256 of "".
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex literal"))
            .collect();
        let s = encode(&bytes);
        assert_eq!(s, "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
        assert_eq!(decode(&s).expect("round trip"), bytes);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(decode("e"), Err(DecodeError::BadLength(1))));
        let mut s = encode(&[0u8; 20]);
        s.replace_range(3..4, "e");
        assert!(matches!(
            decode(&s),
            Err(DecodeError::InvalidChar { offset: 3, .. })
        ));
        // 32 chars carry 160 bits exactly; 52 chars carry 260 bits for 256:
        // the top 4 bits of the first char must be zero.
        let mut s = encode(&[0u8; 32]);
        s.replace_range(0..1, "z");
        assert_eq!(decode(&s), Err(DecodeError::TrailingBits));
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = encode(&bytes);
            prop_assert_eq!(s.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(&s).expect("valid"), bytes);
        }
    }
}
