//! Small enumerations sent as u64: BuildMode, GCAction, the trust flag.

use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::ser::{Encoder, WireEncode};

/// A closed u64 enumeration; unknown values are decode errors.
macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $var:ident = $num:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $var = $num,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var,)*];

            pub fn from_u64(v: u64) -> Option<Self> {
                match v {
                    $($num => Some($name::$var),)*
                    _ => None,
                }
            }

            pub fn to_u64(self) -> u64 {
                self as u64
            }
        }

        impl WireDecode for $name {
            fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                let offset = d.pos();
                let v = d.u64()?;
                $name::from_u64(v).ok_or(DecodeError::BadValue { field: $what, offset, expected: $what, found: v })
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

closed_enum! {
    /// How BuildPaths / BuildDerivation treat existing outputs.
    #[derive(Default)]
    BuildMode, "build mode" {
        #[default]
        Normal = 0,
        Repair = 1,
        Check = 2,
    }
}

closed_enum! {
    /// What CollectGarbage does.
    GcAction, "GC action" {
        ReturnLive = 0,
        ReturnDead = 1,
        DeleteDead = 2,
        DeleteSpecific = 3,
    }
}

closed_enum! {
    /// Whether the daemon trusts the client, sent at the end of the
    /// handshake from 1.35 on (an optional bool: 0 none, 1 yes, 2 no).
    #[derive(Default)]
    Trust, "trust flag" {
        #[default]
        Unknown = 0,
        Trusted = 1,
        NotTrusted = 2,
    }
}
