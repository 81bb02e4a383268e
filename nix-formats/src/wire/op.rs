//! Operation codes: the u64 that starts every request after the handshake.

use std::fmt;
use thiserror::Error;

/// An op number no Nix version assigns (or one removed before Nix 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid operation {0}")]
pub struct UnknownOp(pub u64);

macro_rules! ops {
    ($($(#[$doc:meta])* $name:ident = $num:literal,)*) => {
        /// Every operation of the worker protocol up to 1.38, obsolete ones
        /// included (a daemon must still recognise them to refuse them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u64)]
        pub enum Op {
            $($(#[$doc])* $name = $num,)*
        }

        impl Op {
            /// All ops, in numeric order.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The name Nix uses for the op (without its `wop` prefix).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$name => stringify!($name),)*
                }
            }
        }

        impl TryFrom<u64> for Op {
            type Error = UnknownOp;

            fn try_from(n: u64) -> Result<Self, UnknownOp> {
                match n {
                    $($num => Ok(Op::$name),)*
                    _ => Err(UnknownOp(n)),
                }
            }
        }
    };
}

ops! {
    IsValidPath = 1,
    /// Obsolete (clients use it only with daemons < 1.12).
    HasSubstitutes = 3,
    /// Obsolete.
    QueryPathHash = 4,
    /// Obsolete.
    QueryReferences = 5,
    QueryReferrers = 6,
    AddToStore = 7,
    /// Used by clients only with daemons < 1.25.
    AddTextToStore = 8,
    BuildPaths = 9,
    EnsurePath = 10,
    AddTempRoot = 11,
    AddIndirectRoot = 12,
    /// Obsolete no-op.
    SyncWithGC = 13,
    FindRoots = 14,
    /// Obsolete (< 1.17).
    ExportPath = 16,
    /// Obsolete.
    QueryDeriver = 18,
    SetOptions = 19,
    CollectGarbage = 20,
    /// Obsolete (< 1.12).
    QuerySubstitutablePathInfo = 21,
    /// Used by clients only with daemons < 1.22.
    QueryDerivationOutputs = 22,
    QueryAllValidPaths = 23,
    /// Removed; a daemon answers with an error.
    QueryFailedPaths = 24,
    /// Removed; a daemon answers with an error.
    ClearFailedPaths = 25,
    QueryPathInfo = 26,
    /// Used by clients only with daemons < 1.18.
    ImportPaths = 27,
    /// Obsolete.
    QueryDerivationOutputNames = 28,
    QueryPathFromHashPart = 29,
    QuerySubstitutablePathInfos = 30,
    QueryValidPaths = 31,
    QuerySubstitutablePaths = 32,
    QueryValidDerivers = 33,
    OptimiseStore = 34,
    VerifyStore = 35,
    BuildDerivation = 36,
    AddSignatures = 37,
    NarFromPath = 38,
    AddToStoreNar = 39,
    QueryMissing = 40,
    QueryDerivationOutputMap = 41,
    RegisterDrvOutput = 42,
    QueryRealisation = 43,
    AddMultipleToStore = 44,
    AddBuildLog = 45,
    BuildPathsWithResults = 46,
    AddPermRoot = 47,
}

impl Op {
    /// The u64 sent on the wire.
    pub const fn to_wire(self) -> u64 {
        self as u64
    }
}

impl From<Op> for u64 {
    fn from(op: Op) -> u64 {
        op.to_wire()
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_gaps_are_unknown() {
        assert_eq!(Op::ALL.len(), 44);
        for &op in Op::ALL {
            assert_eq!(Op::try_from(op.to_wire()), Ok(op));
        }
        for n in [0, 2, 15, 17, 48, 1000, u64::MAX] {
            assert_eq!(Op::try_from(n), Err(UnknownOp(n)));
        }
        assert_eq!(Op::SetOptions.to_wire(), 19);
        assert_eq!(Op::AddPermRoot.to_wire(), 47);
        assert_eq!(
            Op::BuildPathsWithResults.to_string(),
            "BuildPathsWithResults"
        );
    }
}
