//! What every encoder and decoder of one connection shares: the negotiated
//! version, the store directory paths are printed in, and the limits that
//! bound what a peer can make us allocate.

use crate::store_path::StoreDir;

use super::version::ProtocolVersion;

/// Bounds on what a decoder accepts. Every length and count read from the
/// wire is compared with these *before* anything is allocated or more
/// input is asked for.
///
/// What a peer can make a reader hold is therefore one message of at most
/// `max_message_len` bytes: the fixed part of a request or a reply (a
/// request's data stream — a NAR, a dump, a log — is not a message; it is
/// streamed). Store paths are further bounded by what a valid path can be
/// (see [`Decoder::store_path`](super::Decoder::store_path)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest byte string (default 64 MiB: the text of AddTextToStore is
    /// the only large string in the protocol).
    pub max_string_len: usize,
    /// Most items in one list, set or map (default 2^20).
    pub max_collection_len: usize,
    /// Largest single frame of a framed stream (default 64 MiB; Nix sends
    /// frames of at most a few tens of KiB). Frames are handed on as they
    /// arrive, so this bounds nothing a reader holds; it only refuses
    /// absurd headers.
    pub max_frame_len: usize,
    /// Most bytes one decoded value may span, from where its decoding
    /// started (default 96 MiB: the largest string plus room for the rest
    /// of a request).
    pub max_message_len: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_string_len: 64 << 20,
        max_collection_len: 1 << 20,
        max_frame_len: 64 << 20,
        max_message_len: 96 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// The settings of one connection, borrowed by every
/// [`Decoder`](super::Decoder) and [`Encoder`](super::Encoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireContext {
    /// The negotiated version (`min(client, daemon)`).
    pub version: ProtocolVersion,
    /// Store paths travel as full paths in this directory.
    pub store_dir: StoreDir,
    pub limits: Limits,
}

impl WireContext {
    /// `/nix/store`, default limits, at `version`.
    pub fn new(version: ProtocolVersion) -> Self {
        WireContext {
            version,
            store_dir: StoreDir::default(),
            limits: Limits::default(),
        }
    }

    /// The same context at another version (AddMultipleToStore items are
    /// always encoded at 1.16, whatever was negotiated).
    pub fn at_version(&self, version: ProtocolVersion) -> Self {
        WireContext {
            version,
            ..self.clone()
        }
    }
}

impl Default for WireContext {
    fn default() -> Self {
        WireContext::new(ProtocolVersion::CURRENT)
    }
}
