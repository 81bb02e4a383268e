//! BuildResult and KeyedBuildResult (§2.9).
//!
//! Field order: status, errorMsg, [≥1.29 timesBuilt, isNonDeterministic,
//! startTime, stopTime], [≥1.37 cpuUser, cpuSystem], [≥1.28 builtOutputs].
//! The 1.37 fields come *before* the 1.28 one.

use std::collections::BTreeMap;
use std::time::Duration;

use super::derived_path::DerivedPath;
use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::ser::{Encoder, WireEncode};

/// How a build (or substitution) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildStatus {
    Built = 0,
    Substituted = 1,
    AlreadyValid = 2,
    PermanentFailure = 3,
    InputRejected = 4,
    OutputRejected = 5,
    TransientFailure = 6,
    /// No longer produced by Nix.
    CachedFailure = 7,
    TimedOut = 8,
    MiscFailure = 9,
    DependencyFailed = 10,
    LogLimitExceeded = 11,
    NotDeterministic = 12,
    ResolvesToAlreadyValid = 13,
    NoSubstituters = 14,
}

impl BuildStatus {
    pub const ALL: [BuildStatus; 15] = [
        BuildStatus::Built,
        BuildStatus::Substituted,
        BuildStatus::AlreadyValid,
        BuildStatus::PermanentFailure,
        BuildStatus::InputRejected,
        BuildStatus::OutputRejected,
        BuildStatus::TransientFailure,
        BuildStatus::CachedFailure,
        BuildStatus::TimedOut,
        BuildStatus::MiscFailure,
        BuildStatus::DependencyFailed,
        BuildStatus::LogLimitExceeded,
        BuildStatus::NotDeterministic,
        BuildStatus::ResolvesToAlreadyValid,
        BuildStatus::NoSubstituters,
    ];

    pub fn from_u64(v: u64) -> Option<Self> {
        usize::try_from(v)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// Whether the wanted outputs are now valid.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            BuildStatus::Built
                | BuildStatus::Substituted
                | BuildStatus::AlreadyValid
                | BuildStatus::ResolvesToAlreadyValid
        )
    }
}

/// The result of building one derivation (reply of BuildDerivation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    pub status: BuildStatus,
    /// Empty on success; may quote builder output.
    pub error_msg: Vec<u8>,
    /// ≥ 1.29 (as the four fields below).
    pub times_built: u64,
    pub is_non_deterministic: bool,
    /// Unix seconds; 0 if nothing ran.
    pub start_time: u64,
    pub stop_time: u64,
    /// ≥ 1.37. Whole microseconds of at most `i64::MAX` travel; finer
    /// precision is dropped.
    pub cpu_user: Option<Duration>,
    pub cpu_system: Option<Duration>,
    /// ≥ 1.28: DrvOutput id (`sha256:<hex>!<output>`) → Realisation JSON.
    pub built_outputs: BTreeMap<String, String>,
}

impl BuildResult {
    /// A result with the given status and message and nothing else.
    pub fn new(status: BuildStatus, error_msg: impl Into<Vec<u8>>) -> Self {
        BuildResult {
            status,
            error_msg: error_msg.into(),
            times_built: 0,
            is_non_deterministic: false,
            start_time: 0,
            stop_time: 0,
            cpu_user: None,
            cpu_system: None,
            built_outputs: BTreeMap::new(),
        }
    }
}

fn decode_opt_micros(
    d: &mut Decoder<'_>,
    field: &'static str,
) -> Result<Option<Duration>, DecodeError> {
    let offset = d.pos();
    match d.u64()? {
        0 => Ok(None),
        1 => {
            let offset = d.pos();
            let v = d.u64()?;
            if v > i64::MAX as u64 {
                return Err(DecodeError::BadValue {
                    field,
                    offset,
                    expected: "i64 microseconds",
                    found: v,
                });
            }
            Ok(Some(Duration::from_micros(v)))
        }
        found => Err(DecodeError::BadValue {
            field,
            offset,
            expected: "optional tag (0 or 1)",
            found,
        }),
    }
}

fn encode_opt_micros(e: &mut Encoder<'_>, v: Option<Duration>) {
    match v {
        None => e.u64(0),
        Some(d) => {
            e.u64(1);
            e.u64(d.as_micros().min(i64::MAX as u128) as u64);
        }
    }
}

impl WireDecode for BuildResult {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = d.pos();
        let status = d.u64()?;
        let status = BuildStatus::from_u64(status).ok_or(DecodeError::BadValue {
            field: "build status",
            offset,
            expected: "build status",
            found: status,
        })?;
        let mut r = BuildResult::new(status, d.bytes("errorMsg")?);
        if d.version().at_least(29) {
            r.times_built = d.u64()?;
            r.is_non_deterministic = d.bool()?;
            r.start_time = d.u64()?;
            r.stop_time = d.u64()?;
        }
        if d.version().at_least(37) {
            r.cpu_user = decode_opt_micros(d, "cpuUser")?;
            r.cpu_system = decode_opt_micros(d, "cpuSystem")?;
        }
        if d.version().at_least(28) {
            r.built_outputs = d.string_map("builtOutputs")?;
        }
        Ok(r)
    }
}

impl WireEncode for BuildResult {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.u64(self.status as u64);
        e.bytes(&self.error_msg);
        if e.version().at_least(29) {
            e.u64(self.times_built);
            e.bool(self.is_non_deterministic);
            e.u64(self.start_time);
            e.u64(self.stop_time);
        }
        if e.version().at_least(37) {
            encode_opt_micros(e, self.cpu_user);
            encode_opt_micros(e, self.cpu_system);
        }
        if e.version().at_least(28) {
            e.string_map(&self.built_outputs);
        }
        Ok(())
    }
}

/// A BuildResult with the DerivedPath it answers (BuildPathsWithResults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedBuildResult {
    pub path: DerivedPath,
    pub result: BuildResult,
}

impl WireDecode for KeyedBuildResult {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(KeyedBuildResult {
            path: d.decode()?,
            result: d.decode()?,
        })
    }
}

impl WireEncode for KeyedBuildResult {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        self.path.encode(e)?;
        self.result.encode(e)
    }
}
