//! Path metadata on the wire (§2.7, §2.8): ValidPathInfo with and without
//! its path, and SubstitutablePathInfo.

use std::collections::BTreeSet;

use crate::content_address::ContentAddress;
use crate::hash::{Hash, HashAlgo};
use crate::store_path::StorePath;
use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::ser::{Encoder, WireEncode};

/// `ultimate`, `sigs` and `ca` are on the wire from this minor on.
const TRUST_FIELDS_SINCE: u8 = 16;

/// What the store knows about a valid path (reply of QueryPathInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnkeyedValidPathInfo {
    pub deriver: Option<StorePath>,
    /// SHA-256 of the NAR; sent as bare base16.
    pub nar_hash: Hash,
    pub references: BTreeSet<StorePath>,
    /// Unix seconds.
    pub registration_time: u64,
    pub nar_size: u64,
    /// Built locally or otherwise trusted (≥ 1.16).
    pub ultimate: bool,
    /// `<key name>:<base64 signature>` strings (≥ 1.16).
    pub sigs: BTreeSet<String>,
    /// Content address, if the path is content-addressed (≥ 1.16).
    pub ca: Option<ContentAddress>,
}

impl UnkeyedValidPathInfo {
    /// Info with the given NAR hash and size and nothing else.
    pub fn new(nar_hash: Hash, nar_size: u64) -> Self {
        UnkeyedValidPathInfo {
            deriver: None,
            nar_hash,
            references: BTreeSet::new(),
            registration_time: 0,
            nar_size,
            ultimate: false,
            sigs: BTreeSet::new(),
            ca: None,
        }
    }
}

/// Reads a NAR hash as Nix does: any base, with or without `sha256:`.
/// Only bare base16 is canonical.
pub(crate) fn decode_nar_hash(d: &mut Decoder<'_>) -> Result<Hash, DecodeError> {
    let (field, offset) = ("narHash", d.pos());
    let s = d.str_ref(field)?;
    let h = Hash::parse_any(s, Some(HashAlgo::Sha256)).map_err(|source| DecodeError::Hash {
        field,
        offset,
        source,
    })?;
    if h.to_base16() != s {
        d.mark_non_canonical();
    }
    Ok(h)
}

/// Reads an optional content address: the empty string means none.
pub(crate) fn decode_opt_ca(d: &mut Decoder<'_>) -> Result<Option<ContentAddress>, DecodeError> {
    let (field, offset) = ("ca", d.pos());
    let s = d.str_ref(field)?;
    if s.is_empty() {
        return Ok(None);
    }
    let ca: ContentAddress = s.parse().map_err(|source| DecodeError::ContentAddress {
        field,
        offset,
        source,
    })?;
    if ca.to_string() != s {
        d.mark_non_canonical();
    }
    Ok(Some(ca))
}

pub(crate) fn encode_opt_ca(e: &mut Encoder<'_>, ca: Option<&ContentAddress>) {
    match ca {
        Some(ca) => e.str(&ca.to_string()),
        None => e.str(""),
    }
}

impl WireDecode for UnkeyedValidPathInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let mut info = UnkeyedValidPathInfo {
            deriver: d.opt_store_path("deriver")?,
            nar_hash: decode_nar_hash(d)?,
            references: d.path_set("references")?,
            registration_time: d.u64()?,
            nar_size: d.u64()?,
            ultimate: false,
            sigs: BTreeSet::new(),
            ca: None,
        };
        if d.version().at_least(TRUST_FIELDS_SINCE) {
            info.ultimate = d.bool()?;
            info.sigs = d.string_set("sigs")?;
            info.ca = decode_opt_ca(d)?;
        }
        Ok(info)
    }
}

impl WireEncode for UnkeyedValidPathInfo {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.opt_store_path(self.deriver.as_ref());
        e.str(&self.nar_hash.to_base16());
        e.path_set(&self.references);
        e.u64(self.registration_time);
        e.u64(self.nar_size);
        if e.version().at_least(TRUST_FIELDS_SINCE) {
            e.bool(self.ultimate);
            e.strings(&self.sigs);
            encode_opt_ca(e, self.ca.as_ref());
        }
        Ok(())
    }
}

/// A path and its info (reply of AddToStore, items of AddMultipleToStore,
/// start of the AddToStoreNar request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPathInfo {
    pub path: StorePath,
    pub info: UnkeyedValidPathInfo,
}

impl WireDecode for ValidPathInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(ValidPathInfo {
            path: d.store_path("path")?,
            info: d.decode()?,
        })
    }
}

impl WireEncode for ValidPathInfo {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.store_path(&self.path);
        self.info.encode(e)
    }
}

/// What a substituter offers for a path (ops 21, 30).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubstitutablePathInfo {
    pub deriver: Option<StorePath>,
    pub references: BTreeSet<StorePath>,
    pub download_size: u64,
    pub nar_size: u64,
}

impl WireDecode for SubstitutablePathInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(SubstitutablePathInfo {
            deriver: d.opt_store_path("deriver")?,
            references: d.path_set("references")?,
            download_size: d.u64()?,
            nar_size: d.u64()?,
        })
    }
}

impl WireEncode for SubstitutablePathInfo {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.opt_store_path(self.deriver.as_ref());
        e.path_set(&self.references);
        e.u64(self.download_size);
        e.u64(self.nar_size);
        Ok(())
    }
}
