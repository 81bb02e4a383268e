//! The SetOptions request (§3.2): twelve u64 fields, then (from 1.12, so
//! always for the clients we serve) a map of setting overrides.

use std::collections::BTreeMap;

use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::logging::Verbosity;
use crate::wire::ser::{Encoder, WireEncode};

/// The override map is sent from this minor on.
const OVERRIDES_SINCE: u8 = 12;

/// The settings a client sends with SetOptions (op 19). Obsolete fields
/// are kept as sent so that a request re-encodes to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub keep_failed: bool,
    pub keep_going: bool,
    pub try_fallback: bool,
    /// The client's log level; the daemon filters STDERR_NEXT lines by it.
    pub verbosity: Verbosity,
    pub max_build_jobs: u64,
    pub max_silent_time: u64,
    /// Obsolete; clients send 1.
    pub use_build_hook: bool,
    /// Nix only checks `== Verbosity::Error`, which means "verbose build on".
    pub verbose_build: Verbosity,
    /// Obsolete; clients send 0.
    pub log_type: u64,
    /// Obsolete; clients send 0.
    pub print_build_trace: u64,
    pub build_cores: u64,
    pub use_substitutes: bool,
    /// Settings the client set explicitly (`--option`, `--substituters`).
    pub overrides: BTreeMap<String, String>,
}

impl ClientSettings {
    /// Whether the client wants build output shown (`verboseBuild`).
    pub fn verbose_build(&self) -> bool {
        self.verbose_build == Verbosity::Error
    }
}

impl Default for ClientSettings {
    /// Nix's defaults: verbosity Info, one build job, verbose build on,
    /// build hook and substituters on.
    fn default() -> Self {
        ClientSettings {
            keep_failed: false,
            keep_going: false,
            try_fallback: false,
            verbosity: Verbosity::Info,
            max_build_jobs: 1,
            max_silent_time: 0,
            use_build_hook: true,
            verbose_build: Verbosity::Error,
            log_type: 0,
            print_build_trace: 0,
            build_cores: 0,
            use_substitutes: true,
            overrides: BTreeMap::new(),
        }
    }
}

impl WireDecode for ClientSettings {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(ClientSettings {
            keep_failed: d.bool()?,
            keep_going: d.bool()?,
            try_fallback: d.bool()?,
            verbosity: Verbosity::decode_field(d, "verbosity")?,
            max_build_jobs: d.u64()?,
            max_silent_time: d.u64()?,
            use_build_hook: d.bool()?,
            verbose_build: Verbosity::decode_field(d, "verboseBuild")?,
            log_type: d.u64()?,
            print_build_trace: d.u64()?,
            build_cores: d.u64()?,
            use_substitutes: d.bool()?,
            overrides: if d.version().at_least(OVERRIDES_SINCE) {
                d.string_map("overrides")?
            } else {
                BTreeMap::new()
            },
        })
    }
}

impl WireEncode for ClientSettings {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.bool(self.keep_failed);
        e.bool(self.keep_going);
        e.bool(self.try_fallback);
        e.u64(self.verbosity.to_u64());
        e.u64(self.max_build_jobs);
        e.u64(self.max_silent_time);
        e.bool(self.use_build_hook);
        e.u64(self.verbose_build.to_u64());
        e.u64(self.log_type);
        e.u64(self.print_build_trace);
        e.u64(self.build_cores);
        e.bool(self.use_substitutes);
        if e.version().at_least(OVERRIDES_SINCE) {
            e.string_map(&self.overrides);
        }
        Ok(())
    }
}
