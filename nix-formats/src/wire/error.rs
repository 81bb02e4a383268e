//! Errors of the wire decoders and encoders.

use std::str::Utf8Error;
use thiserror::Error;

use crate::content_address::ContentAddressError;
use crate::hash::ParseHashError;
use crate::store_path::StorePathError;

use super::types::DerivedPathError;
use super::version::ProtocolVersion;

/// Why bytes could not be decoded.
///
/// [`DecodeError::Incomplete`] is not a failure of the peer: the value may
/// still arrive, and the caller should retry from the same start once it
/// holds at least `needed` more bytes. Every other variant is final.
#[derive(Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("need at least {needed} more bytes")]
    Incomplete { needed: usize },

    #[error("{field} at offset {offset}: length {len} exceeds the limit of {limit} bytes")]
    TooLong {
        field: &'static str,
        offset: usize,
        len: u64,
        limit: usize,
    },

    #[error(
        "message too long: {len} more bytes at offset {offset} would pass the limit of {limit} bytes"
    )]
    MessageTooLong {
        offset: usize,
        len: usize,
        limit: usize,
    },

    #[error("{field} at offset {offset}: {count} items exceed the limit of {limit}")]
    TooMany {
        field: &'static str,
        offset: usize,
        count: u64,
        limit: usize,
    },

    #[error("{field} at offset {offset}: string padding is not zero")]
    BadPadding { field: &'static str, offset: usize },

    #[error("{field} at offset {offset} is not valid UTF-8")]
    NotUtf8 {
        field: &'static str,
        offset: usize,
        #[source]
        source: Utf8Error,
    },

    #[error("{field} at offset {offset}: {found} is not a valid {expected}")]
    BadValue {
        field: &'static str,
        offset: usize,
        expected: &'static str,
        found: u64,
    },

    #[error("{field} at offset {offset}: expected {expected:?}, found {found:?}")]
    Unexpected {
        field: &'static str,
        offset: usize,
        expected: &'static str,
        found: String,
    },

    #[error("{field} at offset {offset}: {source}")]
    StorePath {
        field: &'static str,
        offset: usize,
        #[source]
        source: StorePathError,
    },

    #[error("{field} at offset {offset}: {source}")]
    Hash {
        field: &'static str,
        offset: usize,
        #[source]
        source: ParseHashError,
    },

    #[error("{field} at offset {offset}: {source}")]
    ContentAddress {
        field: &'static str,
        offset: usize,
        #[source]
        source: ContentAddressError,
    },

    #[error("{field} at offset {offset}: {source}")]
    DerivedPath {
        field: &'static str,
        offset: usize,
        #[source]
        source: DerivedPathError,
    },
}

impl DecodeError {
    /// Whether more input could make the decode succeed.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, DecodeError::Incomplete { .. })
    }
}

/// A value that cannot be said at the negotiated version.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("cannot send {what} to a peer speaking protocol {version}")]
    NotRepresentable {
        what: String,
        version: ProtocolVersion,
    },
}
