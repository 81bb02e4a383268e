//! Content addresses (`ca` fields) and the method strings of AddToStore.
//!
//! Rendered forms: `text:sha256:<nix32>`, `fixed:<algo>:<nix32>` (flat),
//! `fixed:r:<algo>:<nix32>` (NAR), `fixed:git:<algo>:<nix32>`.

use std::fmt;
use std::str::FromStr;
use thiserror::Error;

use crate::hash::{Hash, HashAlgo, ParseHashError};

/// How file system objects are turned into bytes to hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileIngestionMethod {
    /// The raw bytes of a single regular file.
    Flat,
    /// The NAR serialisation.
    Recursive,
    /// Git's tree hashing (experimental in Nix).
    Git,
}

impl FileIngestionMethod {
    /// The prefix used inside `fixed:` strings: ``, `r:` or `git:`.
    pub fn prefix(self) -> &'static str {
        match self {
            FileIngestionMethod::Flat => "",
            FileIngestionMethod::Recursive => "r:",
            FileIngestionMethod::Git => "git:",
        }
    }
}

/// A content-addressing method without its hash (AddToStore's
/// `ContentAddressMethodWithAlgo` drops the algorithm into [`ContentAddressMethod::parse_with_algo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentAddressMethod {
    Text,
    Fixed(FileIngestionMethod),
}

impl ContentAddressMethod {
    /// Parses `text:sha256`, `fixed:sha1`, `fixed:r:sha256`, `fixed:git:sha1`.
    pub fn parse_with_algo(s: &str) -> Result<(Self, HashAlgo), ContentAddressError> {
        let bad = || ContentAddressError::BadMethod(s.to_owned());
        if let Some(algo) = s.strip_prefix("text:") {
            let algo: HashAlgo = algo.parse().map_err(|_| bad())?;
            return Ok((ContentAddressMethod::Text, algo));
        }
        let rest = s.strip_prefix("fixed:").ok_or_else(bad)?;
        let (method, algo) = split_method(rest);
        Ok((
            ContentAddressMethod::Fixed(method),
            algo.parse().map_err(|_| bad())?,
        ))
    }

    /// Renders `<method>:<algo>` as [`Self::parse_with_algo`] reads it.
    pub fn render_with_algo(self, algo: HashAlgo) -> String {
        match self {
            ContentAddressMethod::Text => format!("text:{algo}"),
            ContentAddressMethod::Fixed(m) => format!("fixed:{}{algo}", m.prefix()),
        }
    }
}

fn split_method(rest: &str) -> (FileIngestionMethod, &str) {
    if let Some(r) = rest.strip_prefix("r:") {
        (FileIngestionMethod::Recursive, r)
    } else if let Some(r) = rest.strip_prefix("git:") {
        (FileIngestionMethod::Git, r)
    } else {
        (FileIngestionMethod::Flat, rest)
    }
}

/// Errors from parsing a content address.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContentAddressError {
    #[error("'{0}' is not a content address because it is not in the form '<prefix>:<rest>'")]
    BadForm(String),
    #[error("content address method '{0}' is not recognised")]
    BadMethod(String),
    #[error("text content address '{0}' must use sha256")]
    TextNotSha256(String),
    #[error("bad hash in content address '{ca}': {source}")]
    BadHash {
        ca: String,
        #[source]
        source: ParseHashError,
    },
}

/// A content address: what a content-addressed path's name hash commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentAddress {
    /// `text:sha256:…` — `.drv` files and `builtins.toFile`.
    Text(Hash),
    /// `fixed:[r:|git:]<algo>:…` — sources and fixed-output results.
    Fixed {
        method: FileIngestionMethod,
        hash: Hash,
    },
}

impl ContentAddress {
    pub fn method(&self) -> ContentAddressMethod {
        match self {
            ContentAddress::Text(_) => ContentAddressMethod::Text,
            ContentAddress::Fixed { method, .. } => ContentAddressMethod::Fixed(*method),
        }
    }

    pub fn hash(&self) -> &Hash {
        match self {
            ContentAddress::Text(h) | ContentAddress::Fixed { hash: h, .. } => h,
        }
    }
}

impl FromStr for ContentAddress {
    type Err = ContentAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (prefix, rest) = s
            .split_once(':')
            .ok_or_else(|| ContentAddressError::BadForm(s.to_owned()))?;
        let parse_hash = |algo_and_hash: &str| -> Result<Hash, ContentAddressError> {
            let (algo, digest) = algo_and_hash
                .split_once(':')
                .ok_or_else(|| ContentAddressError::BadForm(s.to_owned()))?;
            let algo: HashAlgo = algo
                .parse()
                .map_err(|source| ContentAddressError::BadHash {
                    ca: s.to_owned(),
                    source,
                })?;
            Hash::parse_digest(algo, digest).map_err(|source| ContentAddressError::BadHash {
                ca: s.to_owned(),
                source,
            })
        };
        match prefix {
            "text" => {
                let h = parse_hash(rest)?;
                if h.algo() != HashAlgo::Sha256 {
                    return Err(ContentAddressError::TextNotSha256(s.to_owned()));
                }
                Ok(ContentAddress::Text(h))
            }
            "fixed" => {
                let (method, rest) = split_method(rest);
                Ok(ContentAddress::Fixed {
                    method,
                    hash: parse_hash(rest)?,
                })
            }
            _ => Err(ContentAddressError::BadMethod(prefix.to_owned())),
        }
    }
}

impl fmt::Display for ContentAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentAddress::Text(h) => write!(f, "text:{}", h.to_prefixed_nix32()),
            ContentAddress::Fixed { method, hash } => {
                write!(f, "fixed:{}{}", method.prefix(), hash.to_prefixed_nix32())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nix_strings() {
        for s in [
            "text:sha256:0rvb94qcnzrg5l1n50y4y8pd0afc4y1iimsdcaiaxhx02lr70kzx",
            "fixed:r:sha256:044y1rh1p74s3xij2y990wqrs1ic8avfkx829s83jkab3qkrrpa8",
            "fixed:r:sha1:wwbvk1h4dadp01wkbnyjf0d34bpmfhms",
        ] {
            let ca: ContentAddress = s.parse().expect(s);
            assert_eq!(ca.to_string(), s);
        }
        assert!(
            "text:sha1:wwbvk1h4dadp01wkbnyjf0d34bpmfhms"
                .parse::<ContentAddress>()
                .is_err()
        );
        assert!("nope".parse::<ContentAddress>().is_err());
        assert!("weird:sha256:00".parse::<ContentAddress>().is_err());
    }

    #[test]
    fn methods_with_algo() {
        for s in [
            "text:sha256",
            "fixed:sha256",
            "fixed:r:sha1",
            "fixed:git:sha1",
        ] {
            let (m, a) = ContentAddressMethod::parse_with_algo(s).expect(s);
            assert_eq!(m.render_with_algo(a), s);
        }
        assert!(ContentAddressMethod::parse_with_algo("fixed:r:blake3").is_err());
    }
}
