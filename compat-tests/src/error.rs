//! Errors of the harness itself (not of the commands under test, whose
//! failures are results).

use std::io;
use std::path::{Path, PathBuf};

/// Why a scenario could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// A `mount` failed.
    #[error("mounting {from} on {to} failed")]
    Mount { from: PathBuf, to: PathBuf },
    /// `umount` failed.
    #[error("umount {path} failed")]
    Unmount { path: PathBuf },
    /// The runner is not safely isolated from the host.
    #[error("refusing to touch /nix: {0}")]
    NotIsolated(String),
    /// The daemon did not create its socket.
    #[error("{daemon} did not create {socket} within {secs} s; its log ends with:\n{log}")]
    DaemonStart {
        daemon: String,
        socket: &'static str,
        secs: u64,
        log: String,
    },
    /// The daemon did not stop after SIGTERM.
    #[error("{daemon} did not exit within {secs} s of SIGTERM")]
    DaemonStop { daemon: String, secs: u64 },
    /// A command the harness relies on (not one under test) failed.
    #[error("harness command `{command}` failed with exit code {exit}: {stderr}")]
    Harness {
        command: String,
        exit: i32,
        stderr: String,
    },
    /// Output that should be JSON was not.
    #[error("cannot parse the output of {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// No scenario has this name.
    #[error("no scenario named {0:?}")]
    UnknownScenario(String),
    /// A scenario's setup step failed.
    #[error("setup of the scenario failed: {0}")]
    Setup(String),
    /// Bad command line of the runner.
    #[error("usage: {0}")]
    Usage(String),
    /// The runner process failed.
    #[error("the runner for {scenario} ({daemon}) failed with exit code {exit}:\n{stderr}")]
    Runner {
        scenario: String,
        daemon: String,
        exit: i32,
        stderr: String,
    },
    /// The root of another Nix client is unusable.
    #[error("client root {path}: {why}")]
    BadClientRoot { path: PathBuf, why: String },
    /// `PKGCHAIN_DAEMON` names something that cannot be our daemon.
    #[error("PKGCHAIN_DAEMON={path}: {why}")]
    BadDaemon { path: PathBuf, why: String },
}

impl RunError {
    /// `map_err` helper for file-system errors.
    pub fn io(op: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> RunError {
        let path = path.as_ref().to_owned();
        move |source| RunError::Io { op, path, source }
    }

    /// `map_err` helper for spawn errors.
    pub fn spawn(program: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
        let program = program.into();
        move |source| RunError::Spawn { program, source }
    }
}
