//! The opening of a connection (§1.2), as two sans-io state machines.
//!
//! ```text
//! C→S  magic1                 S→C  magic2, daemon version
//! C→S  client version         -- both sides now use v = min(client, daemon)
//! [v ≥ 1.38] C→S client features;  S→C daemon features
//! [v ≥ 1.14] C→S cpu-affinity flag (+ one more u64 if non-zero)
//! [v ≥ 1.11] C→S reserveSpace
//! [v ≥ 1.33] S→C daemon Nix version string
//! [v ≥ 1.35] S→C trust flag
//! ```
//!
//! Each side is fed whatever bytes have arrived and appends what it has to
//! say to a caller-owned buffer, which the caller must flush before
//! waiting for more input (a 2.8 client waits for magic2 before sending
//! its version; a 2.24 client sends both at once). Neither side consumes a
//! byte beyond the handshake.
//!
//! After the handshake the daemon opens a stderr window for it and closes
//! it with STDERR_LAST (or STDERR_ERROR); that is the caller's, not part of
//! these machines.

mod client;
mod server;

use std::collections::BTreeSet;
use thiserror::Error;

use super::error::DecodeError;
use super::version::ProtocolVersion;

pub use client::{ClientConfig, ClientHandshake, DaemonInfo};
pub use server::{ServerConfig, ServerHandshake};

/// What both peers agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `min(client, daemon)`: the version every later message uses.
    pub version: ProtocolVersion,
    /// The version the other side announced.
    pub peer_version: ProtocolVersion,
    /// Features both sides announced (always empty before 1.38).
    pub features: BTreeSet<String>,
}

/// Where a handshake stands after consuming input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeStatus<T> {
    /// At least `needed` more bytes must arrive (after flushing the output).
    NeedMore {
        needed: usize,
    },
    Done(T),
}

/// Why a handshake failed. The connection should be closed.
#[derive(Debug, PartialEq, Eq, Error)]
pub enum HandshakeError {
    #[error("protocol mismatch: expected magic {expected:#x}, found {found:#x}")]
    BadMagic { expected: u64, found: u64 },
    #[error("protocol version word {0:#x} is not a version")]
    BadVersion(u64),
    #[error("peer speaks protocol {found}; only major version 1 exists")]
    UnsupportedMajor { found: ProtocolVersion },
    #[error("peer speaks protocol {found}, older than the oldest supported ({minimum})")]
    PeerTooOld {
        found: ProtocolVersion,
        minimum: ProtocolVersion,
    },
    #[error("handshake: {0}")]
    Decode(#[from] DecodeError),
    #[error("the handshake has already failed")]
    AlreadyFailed,
}

/// Checks a version word read from the peer.
fn check_peer_version(
    word: u64,
    minimum: ProtocolVersion,
) -> Result<ProtocolVersion, HandshakeError> {
    let found = ProtocolVersion::from_wire(word).ok_or(HandshakeError::BadVersion(word))?;
    if found.major() != 1 {
        return Err(HandshakeError::UnsupportedMajor { found });
    }
    if found < minimum {
        return Err(HandshakeError::PeerTooOld { found, minimum });
    }
    Ok(found)
}

/// Splits a step's result into "done", "wait" or "fail" for the drivers.
enum Step {
    Continue,
    Wait(usize),
}

fn step_result(r: Result<(), HandshakeError>) -> Result<Step, HandshakeError> {
    match r {
        Ok(()) => Ok(Step::Continue),
        Err(HandshakeError::Decode(DecodeError::Incomplete { needed })) => Ok(Step::Wait(needed)),
        Err(e) => Err(e),
    }
}
