//! The enumerations of Nix's logger as they travel in stderr messages
//! (§2.15): verbosity levels, activity and result types, activity fields.

use super::de::{Decoder, WireDecode};
use super::error::{DecodeError, EncodeError};
use super::grammar::{FIELD_INT, FIELD_STRING};
use super::ser::{Encoder, WireEncode};

/// Log level. Sent as a u64; values above 7 are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Verbosity {
    #[default]
    Error = 0,
    Warn = 1,
    Notice = 2,
    Info = 3,
    Talkative = 4,
    Chatty = 5,
    Debug = 6,
    Vomit = 7,
}

impl Verbosity {
    pub const ALL: [Verbosity; 8] = [
        Verbosity::Error,
        Verbosity::Warn,
        Verbosity::Notice,
        Verbosity::Info,
        Verbosity::Talkative,
        Verbosity::Chatty,
        Verbosity::Debug,
        Verbosity::Vomit,
    ];

    pub fn from_u64(v: u64) -> Option<Self> {
        usize::try_from(v)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    pub fn to_u64(self) -> u64 {
        self as u64
    }

    pub(crate) fn decode_field(
        d: &mut Decoder<'_>,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        let offset = d.pos();
        let v = d.u64()?;
        Verbosity::from_u64(v).ok_or(DecodeError::BadValue {
            field,
            offset,
            expected: "verbosity (0-7)",
            found: v,
        })
    }
}

impl WireDecode for Verbosity {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Verbosity::decode_field(d, "verbosity")
    }
}

impl WireEncode for Verbosity {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.u64(self.to_u64());
        Ok(())
    }
}

/// An open-ended u64 enumeration: known values get names, others are kept
/// as they are so that newer peers' values pass through unchanged.
macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $num:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A value this version of the code has no name for. Never
            /// holds one of the named values.
            Other(u64),
        }

        impl $name {
            pub const KNOWN: &'static [$name] = &[$($name::$var,)*];

            pub fn from_u64(v: u64) -> Self {
                match v {
                    $($num => $name::$var,)*
                    other => $name::Other(other),
                }
            }

            pub fn to_u64(self) -> u64 {
                match self {
                    $($name::$var => $num,)*
                    $name::Other(v) => v,
                }
            }
        }

        impl WireDecode for $name {
            fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                d.u64().map($name::from_u64)
            }
        }

        impl WireEncode for $name {
            fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
                e.u64(self.to_u64());
                Ok(())
            }
        }
    };
}

open_enum! {
    /// What an activity is doing (STDERR_START_ACTIVITY).
    ActivityType {
        Unknown = 0,
        CopyPath = 100,
        FileTransfer = 101,
        Realise = 102,
        CopyPaths = 103,
        Builds = 104,
        Build = 105,
        OptimiseStore = 106,
        VerifyPaths = 107,
        Substitute = 108,
        QueryPathInfo = 109,
        PostBuildHook = 110,
        BuildWaiting = 111,
        FetchTree = 112,
    }
}

open_enum! {
    /// What an activity reports (STDERR_RESULT).
    ResultType {
        FileLinked = 100,
        BuildLogLine = 101,
        UntrustedPath = 102,
        CorruptedPath = 103,
        SetPhase = 104,
        Progress = 105,
        SetExpected = 106,
        PostBuildLogLine = 107,
        FetchStatus = 108,
    }
}

/// One field of an activity or result: an integer or a byte string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    Int(u64),
    String(Vec<u8>),
}

impl From<u64> for Field {
    fn from(v: u64) -> Self {
        Field::Int(v)
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::String(s.as_bytes().to_vec())
    }
}

impl From<String> for Field {
    fn from(s: String) -> Self {
        Field::String(s.into_bytes())
    }
}

impl WireDecode for Field {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = d.pos();
        match d.u64()? {
            FIELD_INT => d.u64().map(Field::Int),
            FIELD_STRING => d.bytes("field").map(Field::String),
            found => Err(DecodeError::BadValue {
                field: "field type",
                offset,
                expected: "field type (0 or 1)",
                found,
            }),
        }
    }
}

impl WireEncode for Field {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        match self {
            Field::Int(v) => {
                e.u64(FIELD_INT);
                e.u64(*v);
            }
            Field::String(s) => {
                e.u64(FIELD_STRING);
                e.bytes(s);
            }
        }
        Ok(())
    }
}

/// Reads the `u64 count` + fields list of an activity or result.
pub(crate) fn decode_fields(d: &mut Decoder<'_>) -> Result<Vec<Field>, DecodeError> {
    d.list("fields", Field::decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_name_known_values_only() {
        for &t in ActivityType::KNOWN {
            assert_eq!(ActivityType::from_u64(t.to_u64()), t);
        }
        for &t in ResultType::KNOWN {
            assert_eq!(ResultType::from_u64(t.to_u64()), t);
        }
        assert_eq!(ActivityType::from_u64(105), ActivityType::Build);
        assert_eq!(ActivityType::from_u64(999), ActivityType::Other(999));
        assert_eq!(ResultType::from_u64(101), ResultType::BuildLogLine);
        assert_eq!(Verbosity::from_u64(3), Some(Verbosity::Info));
        assert_eq!(Verbosity::from_u64(8), None);
    }
}
