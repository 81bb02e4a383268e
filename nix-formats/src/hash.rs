//! Hash algorithms and the textual forms Nix writes and reads.
//!
//! Nix prints hashes as `<algo>:<nix32>` by default, as bare base16 in path
//! infos (`narHash` on the wire), and as SRI (`sha256-<base64>`) in newer
//! tools. [`Hash::parse_any`] accepts every form Nix accepts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::Digest as _;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

use crate::nix32;

/// The hash algorithms Nix supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    pub const ALL: [HashAlgo; 4] = [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ];

    /// Digest size in bytes.
    pub const fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// The name Nix uses (`md5`, `sha1`, `sha256`, `sha512`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashAlgo::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| ParseHashError::UnknownAlgo(s.to_owned()))
    }
}

/// Errors from parsing a hash.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseHashError {
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    #[error("hash '{0}' does not include a type")]
    MissingAlgo(String),
    #[error("hash '{hash}' has wrong length for hash type '{algo}'")]
    WrongLength { hash: String, algo: HashAlgo },
    #[error("invalid base-16 hash '{0}'")]
    BadBase16(String),
    #[error("invalid base-32 hash '{hash}': {source}")]
    BadNix32 {
        hash: String,
        #[source]
        source: nix32::DecodeError,
    },
    #[error("invalid base-64 hash '{0}'")]
    BadBase64(String),
    #[error("hash '{found}' should have type '{expected}'")]
    AlgoMismatch { found: String, expected: HashAlgo },
}

/// A digest together with its algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; 64],
}

impl Hash {
    /// Wraps a digest. Panics only if `digest` has the wrong length for
    /// `algo`, which is a programming error; use [`Hash::try_from_digest`]
    /// for untrusted input.
    pub fn from_digest(algo: HashAlgo, digest: &[u8]) -> Self {
        Self::try_from_digest(algo, digest).expect("digest length matches the algorithm")
    }

    /// Wraps a digest, checking its length.
    pub fn try_from_digest(algo: HashAlgo, digest: &[u8]) -> Option<Self> {
        if digest.len() != algo.size() {
            return None;
        }
        let mut bytes = [0u8; 64];
        bytes[..digest.len()].copy_from_slice(digest);
        Some(Hash { algo, bytes })
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    pub fn digest(&self) -> &[u8] {
        &self.bytes[..self.algo.size()]
    }

    /// Lowercase hex, no prefix (the `narHash` form on the wire).
    pub fn to_base16(&self) -> String {
        to_base16(self.digest())
    }

    /// nix32, no prefix.
    pub fn to_nix32(&self) -> String {
        nix32::encode(self.digest())
    }

    /// Standard padded base64, no prefix.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.digest())
    }

    /// `<algo>:<nix32>`, the form Nix prints by default.
    pub fn to_prefixed_nix32(&self) -> String {
        format!("{}:{}", self.algo, self.to_nix32())
    }

    /// `<algo>:<base16>`.
    pub fn to_prefixed_base16(&self) -> String {
        format!("{}:{}", self.algo, self.to_base16())
    }

    /// Subresource-integrity form, `<algo>-<base64>`.
    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, self.to_base64())
    }

    /// Parses a digest in base16, nix32 or base64 (chosen by length) for a
    /// known algorithm, without any prefix.
    pub fn parse_digest(algo: HashAlgo, s: &str) -> Result<Self, ParseHashError> {
        let size = algo.size();
        let bytes = if s.len() == 2 * size {
            from_base16(s).ok_or_else(|| ParseHashError::BadBase16(s.to_owned()))?
        } else if s.len() == nix32::encoded_len(size) {
            nix32::decode(s).map_err(|source| ParseHashError::BadNix32 {
                hash: s.to_owned(),
                source,
            })?
        } else if s.len() == size.div_ceil(3) * 4 {
            BASE64
                .decode(s)
                .ok()
                .filter(|b| b.len() == size)
                .ok_or_else(|| ParseHashError::BadBase64(s.to_owned()))?
        } else {
            return Err(ParseHashError::WrongLength {
                hash: s.to_owned(),
                algo,
            });
        };
        Ok(Hash::from_digest(algo, &bytes))
    }

    /// Parses `<algo>:<digest>` or SRI `<algo>-<base64>`; if neither prefix
    /// is present, `default` must name the algorithm. A prefix that
    /// contradicts `default` is an error, as in Nix's `parseAny`.
    pub fn parse_any(s: &str, default: Option<HashAlgo>) -> Result<Self, ParseHashError> {
        let (algo, rest, sri) = if let Some((a, rest)) = s.split_once(':') {
            (Some(a.parse::<HashAlgo>()?), rest, false)
        } else if let Some((a, rest)) = s
            .split_once('-')
            .filter(|(a, _)| a.parse::<HashAlgo>().is_ok())
        {
            (Some(a.parse::<HashAlgo>()?), rest, true)
        } else {
            (None, s, false)
        };
        let algo = match (algo, default) {
            (Some(a), Some(d)) if a != d => {
                return Err(ParseHashError::AlgoMismatch {
                    found: s.to_owned(),
                    expected: d,
                });
            }
            (Some(a), _) => a,
            (None, Some(d)) => d,
            (None, None) => return Err(ParseHashError::MissingAlgo(s.to_owned())),
        };
        if sri {
            let bytes = BASE64
                .decode(rest)
                .ok()
                .filter(|b| b.len() == algo.size())
                .ok_or_else(|| ParseHashError::BadBase64(s.to_owned()))?;
            return Ok(Hash::from_digest(algo, &bytes));
        }
        Self::parse_digest(algo, rest)
    }

    /// Hashes a byte string (Nix's `hashString`).
    pub fn of_bytes(algo: HashAlgo, data: &[u8]) -> Self {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    /// SHA-256 shortcut.
    pub fn sha256(data: &[u8]) -> Self {
        Self::of_bytes(HashAlgo::Sha256, data)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_prefixed_base16())
    }
}

impl fmt::Display for Hash {
    /// `<algo>:<nix32>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_prefixed_nix32())
    }
}

/// A streaming hasher for any [`HashAlgo`].
#[derive(Clone)]
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algo())
    }
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn algo(&self) -> HashAlgo {
        match self {
            Hasher::Md5(_) => HashAlgo::Md5,
            Hasher::Sha1(_) => HashAlgo::Sha1,
            Hasher::Sha256(_) => HashAlgo::Sha256,
            Hasher::Sha512(_) => HashAlgo::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Hash {
        match self {
            Hasher::Md5(h) => Hash::from_digest(HashAlgo::Md5, &h.finalize()),
            Hasher::Sha1(h) => Hash::from_digest(HashAlgo::Sha1, &h.finalize()),
            Hasher::Sha256(h) => Hash::from_digest(HashAlgo::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Hash::from_digest(HashAlgo::Sha512, &h.finalize()),
        }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lowercase hex.
pub fn to_base16(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Hex (either case) to bytes.
pub fn from_base16(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Nix's `compressHash`: XOR-fold a digest into `size` bytes.
pub fn fold(digest: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    for (i, b) in digest.iter().enumerate() {
        out[i % size] ^= b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms_of_empty_sha256() {
        let h = Hash::sha256(b"");
        assert_eq!(
            h.to_base16(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            h.to_sri(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        for s in [
            h.to_prefixed_base16(),
            h.to_prefixed_nix32(),
            h.to_sri(),
            format!("sha256:{}", h.to_base64()),
        ] {
            assert_eq!(Hash::parse_any(&s, None).expect(&s), h);
        }
        assert_eq!(
            Hash::parse_any(&h.to_nix32(), Some(HashAlgo::Sha256)).expect("bare"),
            h
        );
        assert!(matches!(
            Hash::parse_any(&h.to_nix32(), None),
            Err(ParseHashError::MissingAlgo(_))
        ));
        assert!(matches!(
            Hash::parse_any(&h.to_prefixed_nix32(), Some(HashAlgo::Sha1)),
            Err(ParseHashError::AlgoMismatch { .. })
        ));
        assert!(matches!(
            Hash::parse_any("sha256:abc", None),
            Err(ParseHashError::WrongLength { .. })
        ));
        assert!(matches!(
            Hash::parse_any("blake3:abc", None),
            Err(ParseHashError::UnknownAlgo(_))
        ));
    }

    #[test]
    fn other_algos() {
        assert_eq!(
            Hash::of_bytes(HashAlgo::Md5, b"").to_base16(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            Hash::of_bytes(HashAlgo::Sha1, b"").to_base16(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(Hash::of_bytes(HashAlgo::Sha512, b"").to_nix32().len(), 103);
    }

    proptest! {
        #[test]
        fn every_form_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64), i in 0usize..4) {
            let algo = HashAlgo::ALL[i];
            let h = Hash::of_bytes(algo, &data);
            for s in [h.to_prefixed_base16(), h.to_prefixed_nix32(), h.to_sri(), format!("{}:{}", algo, h.to_base64())] {
                prop_assert_eq!(Hash::parse_any(&s, None).expect("parses"), h);
            }
        }
    }
}
