//! Store paths: parsing, validation, and the way Nix computes them.
//!
//! A store path is `<store dir>/<hash>-<name>`, where `<hash>` is 32 nix32
//! characters: the SHA-256 of a fingerprint, XOR-folded to 20 bytes. The
//! fingerprint is `<type>:sha256:<inner hex>:<store dir>:<name>`; see
//! [`StoreDir::make_store_path`] and the helpers built on it.

use std::collections::BTreeSet;
use std::fmt;
use thiserror::Error;

use crate::content_address::{ContentAddress, FileIngestionMethod};
use crate::hash::{Hash, HashAlgo, fold};
use crate::nix32;

/// Length of the hash part of a store path, in characters.
pub const HASH_PART_LEN: usize = 32;
/// Longest name Nix accepts.
pub const MAX_NAME_LEN: usize = 211;

/// Errors from parsing or building a store path.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StorePathError {
    #[error("path '{0}' is not in the Nix store")]
    NotInStore(String),
    #[error("path '{0}' is not a valid store path: it is too short")]
    TooShort(String),
    #[error("store path '{path}' has an invalid hash part")]
    BadHash { path: String },
    #[error("store path '{path}' has an empty name")]
    EmptyName { path: String },
    #[error("store path '{path}' has a name longer than {MAX_NAME_LEN} characters")]
    NameTooLong { path: String },
    #[error("store path '{path}' contains illegal character '{found}'")]
    BadNameChar { path: String, found: char },
    #[error(
        "store path '{path}' has a name that Nix forbids ('.', '..', or starting with '.-' / '..-')"
    )]
    ForbiddenName { path: String },
    #[error("content-addressed path '{name}' cannot have references with method {method}")]
    ReferencesNotAllowed { name: String, method: String },
}

/// A store path without its store directory: `<hash>-<name>`.
///
/// Ordering is that of the textual form, which is how Nix sorts paths.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    hash: [u8; HASH_PART_LEN],
    name: String,
}

fn valid_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"+-._?=".contains(&c)
}

/// Checks a store path name against Nix's rules.
pub fn check_name(name: &str, whole: &str) -> Result<(), StorePathError> {
    let path = || whole.to_owned();
    if name.is_empty() {
        return Err(StorePathError::EmptyName { path: path() });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong { path: path() });
    }
    if let Some(&c) = name.as_bytes().iter().find(|&&c| !valid_name_char(c)) {
        return Err(StorePathError::BadNameChar {
            path: path(),
            found: char::from(c),
        });
    }
    if name == "." || name == ".." || name.starts_with(".-") || name.starts_with("..-") {
        return Err(StorePathError::ForbiddenName { path: path() });
    }
    Ok(())
}

impl StorePath {
    /// Parses a basename `<hash>-<name>`.
    pub fn from_base_name(s: &str) -> Result<Self, StorePathError> {
        let b = s.as_bytes();
        if b.len() < HASH_PART_LEN + 2 || b[HASH_PART_LEN] != b'-' {
            return Err(StorePathError::TooShort(s.to_owned()));
        }
        let mut hash = [0u8; HASH_PART_LEN];
        hash.copy_from_slice(&b[..HASH_PART_LEN]);
        if !hash.iter().all(|c| nix32::ALPHABET.contains(c)) {
            return Err(StorePathError::BadHash { path: s.to_owned() });
        }
        let name = &s[HASH_PART_LEN + 1..];
        check_name(name, s)?;
        Ok(StorePath {
            hash,
            name: name.to_owned(),
        })
    }

    /// Builds a store path from a 20-byte digest and a name.
    pub fn from_digest(digest: &[u8; 20], name: &str) -> Result<Self, StorePathError> {
        let mut hash = [0u8; HASH_PART_LEN];
        hash.copy_from_slice(nix32::encode(digest).as_bytes());
        check_name(name, name)?;
        Ok(StorePath {
            hash,
            name: name.to_owned(),
        })
    }

    /// The 32-character hash part.
    pub fn hash_part(&self) -> &str {
        std::str::from_utf8(&self.hash).expect("hash part is ASCII nix32")
    }

    /// The 20 bytes the hash part encodes.
    pub fn digest(&self) -> [u8; 20] {
        let v = nix32::decode(self.hash_part()).expect("hash part was validated");
        let mut d = [0u8; 20];
        d.copy_from_slice(&v);
        d
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the name ends in `.drv`.
    pub fn is_derivation(&self) -> bool {
        self.name.ends_with(".drv")
    }

    /// `<hash>-<name>`.
    pub fn to_base_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.hash_part(), self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({self})")
    }
}

/// A store directory such as `/nix/store`. It is part of every path's hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir("/nix/store".to_owned())
    }
}

impl StoreDir {
    /// A store directory; must be absolute and have no trailing slash.
    pub fn new(dir: impl Into<String>) -> Result<Self, StorePathError> {
        let dir = dir.into();
        if !dir.starts_with('/') || (dir.len() > 1 && dir.ends_with('/')) {
            return Err(StorePathError::NotInStore(dir));
        }
        Ok(StoreDir(dir))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses an absolute store path (a direct child of this directory).
    pub fn parse_path(&self, path: &str) -> Result<StorePath, StorePathError> {
        let rest = path
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore(path.to_owned()))?;
        if rest.contains('/') {
            return Err(StorePathError::NotInStore(path.to_owned()));
        }
        StorePath::from_base_name(rest)
    }

    /// Parses a path that is in the store, possibly below a store path
    /// (`/nix/store/<hash>-<name>/bin/x`), returning the store path and the
    /// rest (`/bin/x`, or empty).
    pub fn parse_path_within<'a>(
        &self,
        path: &'a str,
    ) -> Result<(StorePath, &'a str), StorePathError> {
        let rest = path
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore(path.to_owned()))?;
        let (base, sub) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        Ok((StorePath::from_base_name(base)?, sub))
    }

    /// The absolute path of `p` in this store.
    pub fn display(&self, p: &StorePath) -> String {
        format!("{}/{}", self.0, p)
    }

    /// Nix's `makeStorePath`: `type` is e.g. `text:/nix/store/…`, `source`,
    /// `output:out`; `inner` is the SHA-256 the fingerprint names.
    pub fn make_store_path(
        &self,
        ty: &str,
        inner: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        let fingerprint = format!(
            "{}:{}:{}:{}:{}",
            ty,
            inner.algo(),
            inner.to_base16(),
            self.0,
            name
        );
        let folded = fold(Hash::sha256(fingerprint.as_bytes()).digest(), 20);
        let mut d = [0u8; 20];
        d.copy_from_slice(&folded);
        StorePath::from_digest(&d, name)
    }

    /// Output path of a derivation output: `output:<id>` over the (masked)
    /// hash modulo; the name gets `-<id>` unless the output is `out`.
    pub fn make_output_path(
        &self,
        id: &str,
        drv_hash: &Hash,
        drv_name: &str,
    ) -> Result<StorePath, StorePathError> {
        let name = if id == "out" {
            drv_name.to_owned()
        } else {
            format!("{drv_name}-{id}")
        };
        self.make_store_path(&format!("output:{id}"), drv_hash, &name)
    }

    fn type_with_refs(&self, base: &str, refs: &BTreeSet<StorePath>, self_ref: bool) -> String {
        let mut ty = base.to_owned();
        for r in refs {
            ty.push(':');
            ty.push_str(&self.display(r));
        }
        if self_ref {
            ty.push_str(":self");
        }
        ty
    }

    /// Path of a text file (`.drv`, `builtins.toFile`): `hash` is the
    /// SHA-256 of the contents.
    pub fn make_text_path(
        &self,
        name: &str,
        hash: &Hash,
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StorePathError> {
        self.make_store_path(&self.type_with_refs("text", refs, false), hash, name)
    }

    /// Path of a fixed-output / source object. Recursive SHA-256 gives a
    /// `source` path (which may have references); anything else goes through
    /// the `fixed:out:` indirection and must not have references.
    pub fn make_fixed_output_path(
        &self,
        name: &str,
        method: FileIngestionMethod,
        hash: &Hash,
        refs: &BTreeSet<StorePath>,
        self_ref: bool,
    ) -> Result<StorePath, StorePathError> {
        if method == FileIngestionMethod::Recursive && hash.algo() == HashAlgo::Sha256 {
            return self.make_store_path(
                &self.type_with_refs("source", refs, self_ref),
                hash,
                name,
            );
        }
        if !refs.is_empty() || self_ref {
            return Err(StorePathError::ReferencesNotAllowed {
                name: name.to_owned(),
                method: method.prefix().to_owned(),
            });
        }
        let inner = format!(
            "fixed:out:{}{}:{}:",
            method.prefix(),
            hash.algo(),
            hash.to_base16()
        );
        self.make_store_path("output:out", &Hash::sha256(inner.as_bytes()), name)
    }

    /// The path a content address determines, given the references.
    pub fn make_path_from_ca(
        &self,
        name: &str,
        ca: &ContentAddress,
        refs: &BTreeSet<StorePath>,
        self_ref: bool,
    ) -> Result<StorePath, StorePathError> {
        match ca {
            ContentAddress::Text(h) => {
                if self_ref {
                    return Err(StorePathError::ReferencesNotAllowed {
                        name: name.to_owned(),
                        method: "text (self reference)".to_owned(),
                    });
                }
                self.make_text_path(name, h, refs)
            }
            ContentAddress::Fixed { method, hash } => {
                self.make_fixed_output_path(name, *method, hash, refs, self_ref)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str) -> StorePath {
        StoreDir::default().parse_path(s).expect(s)
    }

    #[test]
    fn parse_and_print() {
        let p = sp("/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh");
        assert_eq!(p.hash_part(), "fxcbk40d9jdfssp87nfq506279vbh33d");
        assert_eq!(p.name(), "script.sh");
        assert_eq!(
            StoreDir::default().display(&p),
            "/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh"
        );
        assert_eq!(
            StorePath::from_digest(&p.digest(), "script.sh").expect("same"),
            p
        );
    }

    #[test]
    fn rejects_bad_paths() {
        let d = StoreDir::default();
        assert!(matches!(
            d.parse_path("/tmp/x"),
            Err(StorePathError::NotInStore(_))
        ));
        assert!(matches!(
            d.parse_path("/nix/store/abc"),
            Err(StorePathError::TooShort(_))
        ));
        assert!(matches!(
            d.parse_path("/nix/store/exxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-a"),
            Err(StorePathError::BadHash { .. })
        ));
        let h = "00000000000000000000000000000000";
        assert!(matches!(
            d.parse_path(&format!("/nix/store/{h}-a b")),
            Err(StorePathError::BadNameChar { .. })
        ));
        assert!(matches!(
            d.parse_path(&format!("/nix/store/{h}-..")),
            Err(StorePathError::ForbiddenName { .. })
        ));
        assert!(matches!(
            d.parse_path(&format!("/nix/store/{h}-.-x")),
            Err(StorePathError::ForbiddenName { .. })
        ));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            d.parse_path(&format!("/nix/store/{h}-{long}")),
            Err(StorePathError::NameTooLong { .. })
        ));
        assert!(
            d.parse_path(&format!("/nix/store/{h}-{}", "a".repeat(MAX_NAME_LEN)))
                .is_ok()
        );
        assert!(matches!(
            d.parse_path(&format!("/nix/store/{h}-a/b")),
            Err(StorePathError::NotInStore(_))
        ));
        let within = format!("/nix/store/{h}-a/b/c");
        let (p, rest) = d.parse_path_within(&within).expect("within");
        assert_eq!((p.name(), rest), ("a", "/b/c"));
    }

    /// Vectors computed by Nix 2.8 (see shared/reference/nix-worker-protocol.md §5.4).
    #[test]
    fn nix_vectors() {
        let d = StoreDir::default();
        let text = d
            .make_text_path(
                "script.sh",
                &Hash::sha256(b"echo building; echo hello > $out"),
                &BTreeSet::new(),
            )
            .expect("text path");
        assert_eq!(
            d.display(&text),
            "/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh"
        );

        let nar = Hash::parse_any(
            "sha256:48dd9c271e4b4d39904e02f5e9b6422c069d3107297921631f9a9c1b600e9e10",
            None,
        )
        .expect("hash");
        let src = d
            .make_fixed_output_path(
                "srcdir",
                FileIngestionMethod::Recursive,
                &nar,
                &BTreeSet::new(),
                false,
            )
            .expect("source");
        assert_eq!(
            d.display(&src),
            "/nix/store/jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir"
        );

        let flat = d
            .make_fixed_output_path(
                "flat.txt",
                FileIngestionMethod::Flat,
                &Hash::sha256(b"flat content\n"),
                &BTreeSet::new(),
                false,
            )
            .expect("flat");
        assert_eq!(
            d.display(&flat),
            "/nix/store/a9g0x6sd3ncdcmdy8kk6ks9l3a0m042a-flat.txt"
        );
        assert!(
            d.make_fixed_output_path(
                "x",
                FileIngestionMethod::Flat,
                &nar,
                &BTreeSet::from([text]),
                false
            )
            .is_err()
        );
    }
}
