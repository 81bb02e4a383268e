//! One output of a derivation and its `(path, hashAlgo, hash)` triple.
//!
//! The triple is how both the ATerm text and the worker protocol's
//! `BasicDerivation` (BuildDerivation) carry an output:
//!
//! | kind            | path        | hashAlgo               | hash          |
//! |-----------------|-------------|------------------------|---------------|
//! | input-addressed | output path | `""`                   | `""`          |
//! | fixed CA        | output path | `r:sha256`, `sha1`, …  | base16 digest |
//! | floating CA     | `""`        | `r:sha256`, …          | `""`          |
//! | deferred        | `""`        | `""`                   | `""`          |
//! | impure          | `""`        | `r:sha256`, …          | `impure`      |

use thiserror::Error;

use crate::content_address::{ContentAddress, FileIngestionMethod};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{StoreDir, StorePath, StorePathError};

/// The `hash` field of an impure output.
const IMPURE: &str = "impure";

/// The content hash a fixed-output derivation promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedOutputHash {
    pub method: FileIngestionMethod,
    pub hash: Hash,
}

impl FixedOutputHash {
    /// Nix's `printMethodAlgo`: `sha256`, `r:sha256`, `git:sha1`.
    pub fn method_algo(&self) -> String {
        method_algo(self.method, self.hash.algo())
    }

    /// The `ca` the output will have once built (`fixed:r:sha256:…`).
    pub fn content_address(&self) -> ContentAddress {
        ContentAddress::Fixed {
            method: self.method,
            hash: self.hash,
        }
    }
}

fn method_algo(method: FileIngestionMethod, algo: HashAlgo) -> String {
    format!("{}{}", method.prefix(), algo)
}

/// One output of a derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DerivationOutput {
    /// Path fixed by the derivation's hash modulo (the usual kind).
    InputAddressed(StorePath),
    /// Fixed-output: the content hash is known in advance. The path is kept
    /// as written; [`super::Derivation::validate`] checks it is the one
    /// the hash determines.
    CAFixed {
        hash: FixedOutputHash,
        path: StorePath,
    },
    /// Content-addressed, path known only after the build (`ca-derivations`).
    CAFloating {
        method: FileIngestionMethod,
        algo: HashAlgo,
    },
    /// Input-addressed, but the path depends on a floating input's result.
    Deferred,
    /// Impure derivation output (`impure-derivations`).
    Impure {
        method: FileIngestionMethod,
        algo: HashAlgo,
    },
}

/// The three strings an output is written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFields {
    pub path: String,
    pub hash_algo: String,
    pub hash: String,
}

/// Why an output triple does not describe an output Nix 2.8 can read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OutputFieldsError {
    #[error("bad path '{path}' in derivation: {error}")]
    BadPath { path: String, error: StorePathError },
    #[error("unknown hash algorithm '{0}' in derivation output")]
    UnknownAlgo(String),
    #[error("hash algorithm '{0}' uses git hashing, which Nix 2.8 does not support")]
    GitUnsupported(String),
    #[error("hash '{hash}' of a fixed output is not the lowercase base16 form of a {algo} digest")]
    BadHash { hash: String, algo: HashAlgo },
    #[error(
        "output with hash algorithm '{hash_algo}' and hash '{hash}' must have an empty path, not '{path}'"
    )]
    UnexpectedPath {
        path: String,
        hash_algo: String,
        hash: String,
    },
    #[error("output without a hash algorithm has hash '{0}'; it must be empty")]
    HashWithoutAlgo(String),
}

impl DerivationOutput {
    /// The `(path, hashAlgo, hash)` triple.
    pub fn fields(&self, store_dir: &StoreDir) -> OutputFields {
        let (path, hash_algo, hash) = match self {
            DerivationOutput::InputAddressed(p) => {
                (store_dir.display(p), String::new(), String::new())
            }
            DerivationOutput::CAFixed { hash, path } => (
                store_dir.display(path),
                hash.method_algo(),
                hash.hash.to_base16(),
            ),
            DerivationOutput::CAFloating { method, algo } => {
                (String::new(), method_algo(*method, *algo), String::new())
            }
            DerivationOutput::Deferred => (String::new(), String::new(), String::new()),
            DerivationOutput::Impure { method, algo } => (
                String::new(),
                method_algo(*method, *algo),
                IMPURE.to_owned(),
            ),
        };
        OutputFields {
            path,
            hash_algo,
            hash,
        }
    }

    /// Reads a triple the way Nix 2.8's `parseDerivationOutput` does, but
    /// only in its canonical form (see [`OutputFieldsError`]).
    pub fn from_fields(
        store_dir: &StoreDir,
        path: &str,
        hash_algo: &str,
        hash: &str,
    ) -> Result<Self, OutputFieldsError> {
        let store_path = || {
            store_dir
                .parse_path(path)
                .map_err(|error| OutputFieldsError::BadPath {
                    path: path.to_owned(),
                    error,
                })
        };
        let path_must_be_empty = || {
            if path.is_empty() {
                Ok(())
            } else {
                Err(OutputFieldsError::UnexpectedPath {
                    path: path.to_owned(),
                    hash_algo: hash_algo.to_owned(),
                    hash: hash.to_owned(),
                })
            }
        };
        if hash_algo.is_empty() {
            if !hash.is_empty() {
                return Err(OutputFieldsError::HashWithoutAlgo(hash.to_owned()));
            }
            if path.is_empty() {
                return Ok(DerivationOutput::Deferred);
            }
            return Ok(DerivationOutput::InputAddressed(store_path()?));
        }
        let (method, algo) = parse_method_algo(hash_algo)?;
        if hash == IMPURE {
            path_must_be_empty()?;
            Ok(DerivationOutput::Impure { method, algo })
        } else if hash.is_empty() {
            path_must_be_empty()?;
            Ok(DerivationOutput::CAFloating { method, algo })
        } else {
            let parsed = Hash::parse_digest(algo, hash)
                .ok()
                .filter(|h| h.to_base16() == hash)
                .ok_or_else(|| OutputFieldsError::BadHash {
                    hash: hash.to_owned(),
                    algo,
                })?;
            Ok(DerivationOutput::CAFixed {
                hash: FixedOutputHash {
                    method,
                    hash: parsed,
                },
                path: store_path()?,
            })
        }
    }
}

/// `r:sha256` → (Recursive, Sha256); `sha1` → (Flat, Sha1). Nix 2.8 knows
/// only the `r:` prefix.
fn parse_method_algo(s: &str) -> Result<(FileIngestionMethod, HashAlgo), OutputFieldsError> {
    if s.starts_with("git:") {
        return Err(OutputFieldsError::GitUnsupported(s.to_owned()));
    }
    let (method, algo) = match s.strip_prefix("r:") {
        Some(algo) => (FileIngestionMethod::Recursive, algo),
        None => (FileIngestionMethod::Flat, s),
    };
    let algo = algo
        .parse()
        .map_err(|_| OutputFieldsError::UnknownAlgo(s.to_owned()))?;
    Ok((method, algo))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/nix/store/866mvdn1i73b7mgkzqf6kx7lkc5p808i-fod";
    const H: &str = "1f636e9f20d09560d42ad111b96de1020091b901efbb67593b155886d6a4e5e0";

    fn round_trip(path: &str, algo: &str, hash: &str) -> DerivationOutput {
        let sd = StoreDir::default();
        let out = DerivationOutput::from_fields(&sd, path, algo, hash).expect("parses");
        let f = out.fields(&sd);
        assert_eq!(
            (f.path.as_str(), f.hash_algo.as_str(), f.hash.as_str()),
            (path, algo, hash)
        );
        out
    }

    #[test]
    fn every_kind_round_trips() {
        assert!(matches!(
            round_trip(P, "", ""),
            DerivationOutput::InputAddressed(_)
        ));
        assert!(matches!(
            round_trip(P, "sha256", H),
            DerivationOutput::CAFixed { .. }
        ));
        assert!(matches!(
            round_trip(P, "r:sha256", H),
            DerivationOutput::CAFixed { .. }
        ));
        assert!(matches!(
            round_trip("", "r:sha256", ""),
            DerivationOutput::CAFloating { .. }
        ));
        assert_eq!(round_trip("", "", ""), DerivationOutput::Deferred);
        assert!(matches!(
            round_trip("", "r:sha512", "impure"),
            DerivationOutput::Impure { .. }
        ));
    }

    #[test]
    fn rejects_what_nix_rejects_and_non_canonical_forms() {
        let sd = StoreDir::default();
        let err = |p: &str, a: &str, h: &str| {
            DerivationOutput::from_fields(&sd, p, a, h).expect_err("must fail")
        };
        assert!(matches!(
            err("relative", "", ""),
            OutputFieldsError::BadPath { .. }
        ));
        assert!(matches!(
            err("/tmp/x", "", ""),
            OutputFieldsError::BadPath { .. }
        ));
        assert!(matches!(
            err("", "sha256", H),
            OutputFieldsError::BadPath { .. }
        ));
        assert!(matches!(
            err(P, "blake3", H),
            OutputFieldsError::UnknownAlgo(_)
        ));
        assert!(matches!(
            err(P, "git:sha1", H),
            OutputFieldsError::GitUnsupported(_)
        ));
        assert!(matches!(
            err(P, "sha1", H),
            OutputFieldsError::BadHash { .. }
        ));
        let upper = H.to_uppercase();
        assert!(matches!(
            err(P, "sha256", &upper),
            OutputFieldsError::BadHash { .. }
        ));
        let nix32 = Hash::parse_digest(HashAlgo::Sha256, H)
            .expect("hex")
            .to_nix32();
        assert!(matches!(
            err(P, "sha256", &nix32),
            OutputFieldsError::BadHash { .. }
        ));
        assert!(matches!(
            err(P, "sha256", ""),
            OutputFieldsError::UnexpectedPath { .. }
        ));
        assert!(matches!(
            err(P, "sha256", "impure"),
            OutputFieldsError::UnexpectedPath { .. }
        ));
        assert!(matches!(
            err(P, "", H),
            OutputFieldsError::HashWithoutAlgo(_)
        ));
    }
}
