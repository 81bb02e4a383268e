//! How `pkgchain-sandbox` talks to the daemon.
//!
//! * **stdin**: the encoded [`BuildSpec`](crate::BuildSpec) (see
//!   [`crate::codec`]), read to end of file before anything else happens.
//! * **stdout**: the build log — everything the builder writes to its
//!   standard output and standard error (both are the slave side of a
//!   pseudo-terminal in raw mode, as in Nix), copied as it arrives.
//! * **stderr**: empty, unless the helper itself ends the build; then one
//!   line that starts with `sandbox: ` and says what failed.
//! * **exit status**:
//!   - the builder's exit code when it exits (0–255);
//!   - 128 + *n* when the builder is killed by signal *n*;
//!   - [`EXIT_SETUP_FAILED`] when the sandbox could not be set up or the
//!     builder could not be executed (or the spec was unreadable);
//!   - [`EXIT_TIMEOUT`] when `timeout` expired;
//!   - [`EXIT_SILENT`] when `max-silent-time` expired.
//!
//!   The three helper codes can also be builder exit codes; they are the
//!   helper's exactly when its stderr is not empty. [`Outcome::decode`]
//!   applies that rule.
//!
//! When the helper ends the build (timeout, silence), or is itself killed,
//! every process of the build is killed with it: the builder is PID 1 of its
//! own PID namespace and gets `SIGKILL` when the helper dies.

use std::process::ExitStatus;

/// Exit code: setting up the sandbox or executing the builder failed.
pub const EXIT_SETUP_FAILED: i32 = 250;
/// Exit code: the build ran longer than `timeout`.
pub const EXIT_TIMEOUT: i32 = 251;
/// Exit code: the build was silent longer than `max-silent-time`.
pub const EXIT_SILENT: i32 = 252;

/// The prefix of the helper's own message on stderr.
pub const MESSAGE_PREFIX: &str = "sandbox: ";

/// How a build ended, from the daemon's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The builder exited with this code.
    Exited(i32),
    /// The builder was killed by this signal.
    Signaled(i32),
    /// The helper killed the build after `timeout` seconds.
    TimedOut { message: String },
    /// The helper killed the build after `max-silent-time` seconds of
    /// silence.
    Silent { message: String },
    /// The sandbox could not be set up; the message says why.
    SetupFailed { message: String },
    /// The helper itself was killed by this signal (by the daemon, say).
    HelperKilled(i32),
}

impl Outcome {
    /// Whether the builder ran and exited 0.
    pub fn is_success(&self) -> bool {
        *self == Outcome::Exited(0)
    }

    /// Reads the helper's exit status together with what it wrote on stderr.
    pub fn decode(status: ExitStatus, stderr: &[u8]) -> Outcome {
        use std::os::unix::process::ExitStatusExt;
        let Some(code) = status.code() else {
            return Outcome::HelperKilled(status.signal().unwrap_or(0));
        };
        let text = String::from_utf8_lossy(stderr);
        let message = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(MESSAGE_PREFIX))
            .map(str::to_owned);
        match (code, message) {
            (EXIT_TIMEOUT, Some(message)) => Outcome::TimedOut { message },
            (EXIT_SILENT, Some(message)) => Outcome::Silent { message },
            (_, Some(message)) => Outcome::SetupFailed { message },
            (c, None) if c > 128 && c < 128 + 65 => Outcome::Signaled(c - 128),
            (c, None) => Outcome::Exited(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn builder_codes_pass_through_when_stderr_is_empty() {
        assert_eq!(Outcome::decode(exited(0), b""), Outcome::Exited(0));
        assert_eq!(Outcome::decode(exited(250), b""), Outcome::Exited(250));
        assert_eq!(Outcome::decode(exited(137), b""), Outcome::Signaled(9));
    }

    #[test]
    fn helper_codes_need_the_message() {
        assert_eq!(
            Outcome::decode(
                exited(EXIT_TIMEOUT),
                b"sandbox: build timed out after 1 seconds\n"
            ),
            Outcome::TimedOut {
                message: "build timed out after 1 seconds".into()
            }
        );
        assert_eq!(
            Outcome::decode(exited(EXIT_SETUP_FAILED), b"sandbox: cannot x\n"),
            Outcome::SetupFailed {
                message: "cannot x".into()
            }
        );
        assert_eq!(
            Outcome::decode(ExitStatus::from_raw(9), b""),
            Outcome::HelperKilled(9)
        );
    }
}
