//! The payload of STDERR_ERROR, in its two forms.
//!
//! From 1.26 on (§2.14): `"Error"`, u64 level, `"Error"` (an old name
//! field), message, `havePos` = 0, then the traces, each `havePos` = 0 and
//! its text. Before 1.26: the message and a u64 exit status.

use super::de::{Decoder, WireDecode};
use super::error::{DecodeError, EncodeError};
use super::logging::Verbosity;
use super::ser::{Encoder, WireEncode};

/// The only error type name Nix sends or accepts.
const ERROR_TYPE: &str = "Error";

/// An error as sent to a client. Messages are bytes: they often quote
/// builder output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Sent from 1.26 on; read as [`Verbosity::Error`] before.
    pub level: Verbosity,
    pub message: Vec<u8>,
    /// Sent from 1.26 on; read as empty before.
    pub traces: Vec<Vec<u8>>,
    /// Sent only before 1.26; read as 1 from 1.26 on.
    pub exit_status: u64,
}

impl ErrorInfo {
    /// An error at level Error with exit status 1 and no traces.
    pub fn new(message: impl Into<Vec<u8>>) -> Self {
        ErrorInfo {
            level: Verbosity::Error,
            message: message.into(),
            traces: Vec::new(),
            exit_status: 1,
        }
    }

    /// Adds a trace line ("while …").
    pub fn with_trace(mut self, trace: impl Into<Vec<u8>>) -> Self {
        self.traces.push(trace.into());
        self
    }
}

impl WireDecode for ErrorInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        if !d.version().at_least(26) {
            let message = d.bytes("error message")?;
            let exit_status = d.u64()?;
            return Ok(ErrorInfo {
                level: Verbosity::Error,
                message,
                traces: Vec::new(),
                exit_status,
            });
        }
        let offset = d.pos();
        let ty = d.bytes_ref("error type")?;
        if ty != ERROR_TYPE.as_bytes() {
            let found = String::from_utf8_lossy(ty).into_owned();
            return Err(DecodeError::Unexpected {
                field: "error type",
                offset,
                expected: ERROR_TYPE,
                found,
            });
        }
        let level = Verbosity::decode_field(d, "error level")?;
        // The old name field: Nix ignores it, and so do we.
        if d.bytes_ref("error name")? != ERROR_TYPE.as_bytes() {
            d.mark_non_canonical();
        }
        let message = d.bytes("error message")?;
        no_position(d, "error position")?;
        let traces = d.list("error traces", |d| {
            no_position(d, "trace position")?;
            d.bytes("trace")
        })?;
        Ok(ErrorInfo {
            level,
            message,
            traces,
            exit_status: 1,
        })
    }
}

/// Nix never sends positions and asserts `havePos` is 0.
fn no_position(d: &mut Decoder<'_>, field: &'static str) -> Result<(), DecodeError> {
    let offset = d.pos();
    match d.u64()? {
        0 => Ok(()),
        v => Err(DecodeError::Unexpected {
            field,
            offset,
            expected: "0 (no position)",
            found: v.to_string(),
        }),
    }
}

impl WireEncode for ErrorInfo {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        if !e.version().at_least(26) {
            e.bytes(&self.message);
            e.u64(self.exit_status);
            return Ok(());
        }
        e.str(ERROR_TYPE);
        e.u64(self.level.to_u64());
        e.str(ERROR_TYPE);
        e.bytes(&self.message);
        e.u64(0);
        e.u64(self.traces.len() as u64);
        for t in &self.traces {
            e.u64(0);
            e.bytes(t);
        }
        Ok(())
    }
}
