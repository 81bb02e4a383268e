//! Ed25519 signatures over store path fingerprints, in Nix's key formats.
//!
//! Keys and signatures are `<name>:<base64>`: a secret key is the 64-byte
//! libsodium form (seed followed by public key), a public key 32 bytes, a
//! signature 64 bytes. What is signed is the fingerprint
//! `1;<store path>;<sha256:nix32 narHash>;<narSize>;<refs, comma-separated>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, Verifier as _};
use std::collections::BTreeSet;
use thiserror::Error;

use crate::hash::{Hash, HashAlgo};
use crate::store_path::{StoreDir, StorePath};

/// Errors from keys, signatures and fingerprints.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("key or signature '{0}' is not of the form '<name>:<base64>'")]
    BadForm(String),
    #[error("{what} '{name}' has {found} bytes, expected {expected}")]
    BadLength {
        what: &'static str,
        name: String,
        found: usize,
        expected: usize,
    },
    #[error("secret key '{0}' does not match its embedded public key")]
    InconsistentSecretKey(String),
    #[error("cannot compute the fingerprint of '{0}': NAR hash is not SHA-256")]
    NarHashNotSha256(String),
    #[error("cannot compute the fingerprint of '{0}': NAR size is zero")]
    ZeroNarSize(String),
}

fn split_named(s: &str) -> Result<(&str, Vec<u8>), SignatureError> {
    let (name, b64) = s
        .split_once(':')
        .ok_or_else(|| SignatureError::BadForm(s.to_owned()))?;
    if name.is_empty() {
        return Err(SignatureError::BadForm(s.to_owned()));
    }
    let bytes = BASE64
        .decode(b64.trim())
        .map_err(|_| SignatureError::BadForm(s.to_owned()))?;
    Ok((name, bytes))
}

fn exact<const N: usize>(
    what: &'static str,
    name: &str,
    bytes: &[u8],
) -> Result<[u8; N], SignatureError> {
    bytes.try_into().map_err(|_| SignatureError::BadLength {
        what,
        name: name.to_owned(),
        found: bytes.len(),
        expected: N,
    })
}

/// The string Nix signs for a store path.
pub fn fingerprint(
    store_dir: &StoreDir,
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    references: &BTreeSet<StorePath>,
) -> Result<String, SignatureError> {
    let printed = store_dir.display(path);
    if nar_hash.algo() != HashAlgo::Sha256 {
        return Err(SignatureError::NarHashNotSha256(printed));
    }
    if nar_size == 0 {
        return Err(SignatureError::ZeroNarSize(printed));
    }
    let refs: Vec<String> = references.iter().map(|r| store_dir.display(r)).collect();
    Ok(format!(
        "1;{};{};{};{}",
        printed,
        nar_hash.to_prefixed_nix32(),
        nar_size,
        refs.join(",")
    ))
}

/// A named ed25519 secret key (`nix-store --generate-binary-cache-key`).
#[derive(Debug, Clone)]
pub struct SecretKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl SecretKey {
    /// Parses `<name>:<base64 of 64 bytes>`.
    pub fn parse(s: &str) -> Result<Self, SignatureError> {
        let (name, bytes) = split_named(s.trim())?;
        let full: [u8; 64] = exact("secret key", name, &bytes)?;
        let key = ed25519_dalek::SigningKey::from_keypair_bytes(&full)
            .map_err(|_| SignatureError::InconsistentSecretKey(name.to_owned()))?;
        Ok(SecretKey {
            name: name.to_owned(),
            key,
        })
    }

    /// A key from a 32-byte seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        SecretKey {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `<name>:<base64 seed ‖ public>`, the file format Nix reads.
    pub fn to_nix_string(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(self.key.to_keypair_bytes())
        )
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message`, giving `<name>:<base64 signature>`.
    pub fn sign(&self, message: &str) -> String {
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(self.key.sign(message.as_bytes()).to_bytes())
        )
    }
}

/// A named ed25519 public key (`trusted-public-keys` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Parses `<name>:<base64 of 32 bytes>`.
    pub fn parse(s: &str) -> Result<Self, SignatureError> {
        let (name, bytes) = split_named(s.trim())?;
        let raw: [u8; 32] = exact("public key", name, &bytes)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| {
            SignatureError::BadLength {
                what: "public key (not a curve point)",
                name: name.to_owned(),
                found: 32,
                expected: 32,
            }
        })?;
        Ok(PublicKey {
            name: name.to_owned(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn to_nix_string(&self) -> String {
        format!("{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }

    /// Whether `sig` (`<name>:<base64>`) is this key's valid signature of
    /// `message`. A signature by another key name is simply not valid.
    pub fn verify(&self, message: &str, sig: &str) -> bool {
        let Ok((name, bytes)) = split_named(sig) else {
            return false;
        };
        let Ok(raw) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        name == self.name
            && self
                .key
                .verify(
                    message.as_bytes(),
                    &ed25519_dalek::Signature::from_bytes(&raw),
                )
                .is_ok()
    }
}

/// True if any of `sigs` is a valid signature of `message` by one of `keys`
/// (how Nix checks `trusted-public-keys`).
pub fn verify_any(keys: &[PublicKey], message: &str, sigs: &BTreeSet<String>) -> bool {
    sigs.iter()
        .any(|s| keys.iter().any(|k| k.verify(message, s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_key_formats() {
        let sk = SecretKey::from_seed("test-key-1", &[7u8; 32]);
        let sk2 = SecretKey::parse(&sk.to_nix_string()).expect("parse own secret key");
        assert_eq!(sk2.to_nix_string(), sk.to_nix_string());
        let pk = PublicKey::parse(&sk.public_key().to_nix_string()).expect("parse public");
        let sig = sk.sign("hello");
        assert!(sig.starts_with("test-key-1:"));
        assert!(pk.verify("hello", &sig));
        assert!(!pk.verify("hellp", &sig));
        let other = SecretKey::from_seed("test-key-2", &[7u8; 32]).public_key();
        assert!(
            !other.verify("hello", &sig),
            "same key bytes but another name"
        );
        assert!(verify_any(&[other, pk], "hello", &BTreeSet::from([sig])));
        assert!(SecretKey::parse("nocolon").is_err());
        assert!(PublicKey::parse("k:AAAA").is_err());
    }

    #[test]
    fn fingerprint_form() {
        let d = StoreDir::default();
        let p = d
            .parse_path("/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh")
            .expect("path");
        let q = d
            .parse_path("/nix/store/jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir")
            .expect("path");
        let h = Hash::sha256(b"x");
        let fp = fingerprint(&d, &p, &h, 144, &BTreeSet::from([q.clone(), p.clone()])).expect("fp");
        assert_eq!(
            fp,
            format!(
                "1;/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh;{};144;/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh,/nix/store/jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir",
                h.to_prefixed_nix32()
            )
        );
        assert!(fingerprint(&d, &p, &h, 0, &BTreeSet::new()).is_err());
        assert!(
            fingerprint(
                &d,
                &p,
                &Hash::of_bytes(HashAlgo::Sha1, b"x"),
                1,
                &BTreeSet::new()
            )
            .is_err()
        );
    }
}
