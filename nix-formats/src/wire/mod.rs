//! The Nix daemon worker protocol, sans-io.
//!
//! This module owns the bytes of the protocol up to Nix 2.28 (protocol
//! 1.38) for clients from 1.21 (Nix 2.3) on: protocol versions and op
//! codes, the primitive encodings (u64, padded strings, collections, store
//! paths), framed streams, the handshake on both sides, the stderr
//! channel, and the wire types shared by many ops. See
//! `shared/reference/nix-worker-protocol.md` for the layouts.
//!
//! It does no I/O: decoders take byte slices and say either "here is a
//! value and the bytes it used" or "need N more bytes"
//! ([`DecodeError::Incomplete`]); encoders append to a `Vec<u8>` that the
//! caller flushes. Every length read from a peer is checked against
//! [`Limits`] before anything is allocated or waited for, and no decoder
//! panics on any input. What to *do* with an op (and whether an error is
//! fatal to the connection) is the daemon's business, not this module's.
//!
//! Layout: [`version`] and [`op`] (constants), [`grammar`] (byte-level
//! tokens), `de` / `ser` (the cursor and the writer), [`framed`],
//! [`handshake`], [`stderr`] with [`logging`] and `error_info`,
//! [`types`], and [`request`] (the fields of every op's request).

mod context;
mod de;
mod error;
mod error_info;
pub mod framed;
pub mod grammar;
pub mod handshake;
pub mod logging;
pub mod op;
pub mod request;
mod ser;
pub mod stderr;
pub mod types;
pub mod version;

#[cfg(test)]
mod tests;

pub use context::{Limits, WireContext};
pub use de::{Decoder, WireDecode, decode_prefix};
pub use error::{DecodeError, EncodeError};
pub use error_info::ErrorInfo;
pub use framed::{FrameDecoder, FrameEncoder, FrameError, FrameEvent};
pub use handshake::{
    ClientConfig, ClientHandshake, DaemonInfo, HandshakeError, HandshakeStatus, Negotiated,
    ServerConfig, ServerHandshake,
};
pub use logging::{ActivityType, Field, ResultType, Verbosity};
pub use op::{Op, UnknownOp};
pub use request::{DrvOutputRegistration, GcRequest, Payload, Request};
pub use ser::{Encoder, WireEncode, encode_into, encode_to_vec};
pub use stderr::{StartActivity, StderrMsg, decode_read_reply, encode_read_reply};
pub use types::*;
pub use version::{ProtocolVersion, WORKER_MAGIC_1, WORKER_MAGIC_2};
