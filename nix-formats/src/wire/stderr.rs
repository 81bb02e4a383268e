//! The stderr channel (§1.4): what the daemon sends while an op runs,
//! until STDERR_LAST (success, reply follows) or STDERR_ERROR.

use std::borrow::Cow;

use super::de::{Decoder, WireDecode};
use super::error::{DecodeError, EncodeError};
use super::error_info::ErrorInfo;
use super::grammar::*;
use super::logging::{ActivityType, Field, ResultType, Verbosity, decode_fields};
use super::ser::{Encoder, WireEncode};

/// Activities are understood by clients from this minor version on.
const ACTIVITIES_SINCE: u8 = 20;

/// STDERR_START_ACTIVITY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartActivity {
    /// Any unique u64; stops and results refer to it.
    pub id: u64,
    pub level: Verbosity,
    pub activity_type: ActivityType,
    pub text: Vec<u8>,
    pub fields: Vec<Field>,
    /// The enclosing activity, 0 for none.
    pub parent: u64,
}

/// One message of the stderr channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StderrMsg {
    /// A log line, sent as is (Nix ends it with `\n`; see
    /// [`StderrMsg::line`]).
    Next(Vec<u8>),
    /// The daemon asks for up to this many bytes; the client answers with
    /// one string (see [`decode_read_reply`]).
    Read(u64),
    /// Data for the client's sink (ExportPath).
    Write(Vec<u8>),
    /// End of the log; the op's reply follows.
    Last,
    /// The op failed.
    Error(ErrorInfo),
    StartActivity(StartActivity),
    StopActivity {
        id: u64,
    },
    Result {
        id: u64,
        result_type: ResultType,
        fields: Vec<Field>,
    },
}

impl StderrMsg {
    /// A log line as the daemon sends it: the text plus `\n`.
    pub fn line(text: impl Into<Vec<u8>>) -> Self {
        let mut v = text.into();
        v.push(b'\n');
        StderrMsg::Next(v)
    }

    /// The message code on the wire.
    pub fn code(&self) -> u64 {
        match self {
            StderrMsg::Next(_) => STDERR_NEXT,
            StderrMsg::Read(_) => STDERR_READ,
            StderrMsg::Write(_) => STDERR_WRITE,
            StderrMsg::Last => STDERR_LAST,
            StderrMsg::Error(_) => STDERR_ERROR,
            StderrMsg::StartActivity(_) => STDERR_START_ACTIVITY,
            StderrMsg::StopActivity { .. } => STDERR_STOP_ACTIVITY,
            StderrMsg::Result { .. } => STDERR_RESULT,
        }
    }

    /// What a client speaking `version` with log level `verbosity` should
    /// receive instead of this message, if anything.
    ///
    /// Clients before 1.20 know no activities: a started activity with
    /// text becomes the log line `text...` when its level is within the
    /// client's verbosity; stops, results and silent activities are
    /// dropped. Every other message is passed through unchanged.
    pub fn downgrade(
        &self,
        version: super::ProtocolVersion,
        verbosity: Verbosity,
    ) -> Option<Cow<'_, StderrMsg>> {
        if version.at_least(ACTIVITIES_SINCE) {
            return Some(Cow::Borrowed(self));
        }
        match self {
            StderrMsg::StartActivity(a) if !a.text.is_empty() && a.level <= verbosity => {
                let mut line = a.text.clone();
                line.extend_from_slice(b"...");
                Some(Cow::Owned(StderrMsg::line(line)))
            }
            StderrMsg::StartActivity(_)
            | StderrMsg::StopActivity { .. }
            | StderrMsg::Result { .. } => None,
            other => Some(Cow::Borrowed(other)),
        }
    }

    fn encode_as_is(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.u64(self.code());
        match self {
            StderrMsg::Next(s) | StderrMsg::Write(s) => e.bytes(s),
            StderrMsg::Read(n) => e.u64(*n),
            StderrMsg::Last => {}
            StderrMsg::Error(err) => err.encode(e)?,
            StderrMsg::StartActivity(a) => {
                e.u64(a.id);
                e.u64(a.level.to_u64());
                e.u64(a.activity_type.to_u64());
                e.bytes(&a.text);
                a.fields.encode(e)?;
                e.u64(a.parent);
            }
            StderrMsg::StopActivity { id } => e.u64(*id),
            StderrMsg::Result {
                id,
                result_type,
                fields,
            } => {
                e.u64(*id);
                e.u64(result_type.to_u64());
                fields.encode(e)?;
            }
        }
        Ok(())
    }
}

/// Encodes the message for the negotiated version: below 1.20, activity
/// messages are first [downgraded](StderrMsg::downgrade) (treating every
/// level as visible; call `downgrade` yourself to filter by the client's
/// verbosity).
impl WireEncode for StderrMsg {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        match self.downgrade(e.version(), Verbosity::Vomit) {
            Some(m) => m.encode_as_is(e),
            None => Ok(()),
        }
    }
}

impl WireDecode for StderrMsg {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = d.pos();
        let code = d.u64()?;
        let activities = d.version().at_least(ACTIVITIES_SINCE);
        Ok(match code {
            STDERR_NEXT => StderrMsg::Next(d.bytes("log line")?),
            STDERR_READ => StderrMsg::Read(d.u64()?),
            STDERR_WRITE => StderrMsg::Write(d.bytes("data")?),
            STDERR_LAST => StderrMsg::Last,
            STDERR_ERROR => StderrMsg::Error(ErrorInfo::decode(d)?),
            STDERR_START_ACTIVITY if activities => StderrMsg::StartActivity(StartActivity {
                id: d.u64()?,
                level: Verbosity::decode_field(d, "activity level")?,
                activity_type: ActivityType::decode(d)?,
                text: d.bytes("activity text")?,
                fields: decode_fields(d)?,
                parent: d.u64()?,
            }),
            STDERR_STOP_ACTIVITY if activities => StderrMsg::StopActivity { id: d.u64()? },
            STDERR_RESULT if activities => StderrMsg::Result {
                id: d.u64()?,
                result_type: ResultType::decode(d)?,
                fields: decode_fields(d)?,
            },
            found => {
                return Err(DecodeError::BadValue {
                    field: "stderr message",
                    offset,
                    expected: "STDERR_* code",
                    found,
                });
            }
        })
    }
}

/// Reads the client's answer to `StderrMsg::Read(wanted)`: one string of
/// at most `wanted` bytes. An empty answer means the client's source hit
/// end of file.
pub fn decode_read_reply<'a>(d: &mut Decoder<'a>, wanted: u64) -> Result<&'a [u8], DecodeError> {
    d.bytes_ref_max("read reply", usize::try_from(wanted).unwrap_or(usize::MAX))
}

/// Writes the client's answer to a STDERR_READ request.
pub fn encode_read_reply(e: &mut Encoder<'_>, data: &[u8]) {
    e.bytes(data);
}
