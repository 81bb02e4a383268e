//! What one run of a scenario produced. `Outcome` is what must be identical
//! between the reference daemon and ours; `RunReport` adds what is only
//! reported (timings, the daemon's log).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The compared result of one scenario run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// One entry per client command, in step order.
    pub commands: Vec<CommandOutcome>,
    /// The store as the client sees it after the last step.
    pub store: StoreState,
}

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// Step name (`<step>#<n>` for parallel steps).
    pub step: String,
    /// Exit code; `128 + n` when killed by signal `n`; `-1` on timeout.
    pub exit: i32,
    /// Normalised stdout, `sha256:<hex>`, or empty when ignored.
    pub stdout: String,
    /// The compared stderr lines, normalised.
    pub stderr: Vec<String>,
}

/// Facts about one valid store path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathFacts {
    /// `narHash` from the daemon (SRI), or `<unstable>`.
    pub nar_hash: String,
    /// `narSize` from the daemon.
    pub nar_size: u64,
    /// References from the daemon.
    pub references: Vec<String>,
    /// Deriver from the daemon.
    pub deriver: Option<String>,
    /// Content address from the daemon.
    pub ca: Option<String>,
    /// Whether the daemon built the path itself.
    pub ultimate: bool,
    /// Signatures.
    pub signatures: Vec<String>,
    /// SHA-256 (SRI) of `nix-store --dump`, which the client makes from the
    /// store directory itself; `<unstable>` for unstable paths.
    pub dump_hash: String,
    /// `dump_hash` equals the daemon's `narHash` (checked even when unstable).
    pub dump_matches_nar_hash: bool,
}

/// The store after the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreState {
    /// Every valid path (`nix path-info --all`).
    pub paths: BTreeMap<String, PathFacts>,
    /// Entries of the store directory that are not valid paths (lock files
    /// and `.links` excluded).
    pub unregistered_entries: Vec<String>,
    /// Valid paths that the store directory does not list.
    pub missing_entries: Vec<String>,
    /// Symlinks in the work directory (`result`, `result-dev`, …) and their
    /// targets.
    pub result_links: BTreeMap<String, String>,
    /// `nix-store --gc --print-roots`, normalised, without temp and runtime
    /// roots.
    pub roots: Vec<String>,
}

/// Everything a run prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Which daemon ran (`reference` or the path of ours).
    pub daemon: String,
    /// Which client ran the steps (`host`, or `root:<path>`).
    pub client: String,
    /// The compared part.
    pub outcome: Outcome,
    /// Seconds per step (parallel steps: the whole step).
    pub step_secs: Vec<(String, f64)>,
    /// Seconds from namespace set-up to tear-down.
    pub total_secs: f64,
    /// Raw stdout/stderr per command, for debugging a diff.
    pub raw: Vec<RawOutput>,
    /// The last lines of the daemon's own output.
    pub daemon_log_tail: String,
}

/// What a command printed, before normalisation (truncated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawOutput {
    /// Step name.
    pub step: String,
    /// Stdout (lossy UTF-8, truncated).
    pub stdout: String,
    /// Stderr (lossy UTF-8, truncated).
    pub stderr: String,
}
