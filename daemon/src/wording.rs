//! Messages whose words changed between Nix releases.
//!
//! A Nix client prints what its daemon says, so the same client shows
//! different words in front of different nix-daemon releases. Ours says it
//! the way the nix-daemon of the client's own generation does, chosen from
//! the negotiated protocol version (one place, [`Wording::for_version`]):
//!
//! | protocol | clients | words of |
//! |---|---|---|
//! | ≤ 1.34 | Nix 2.3 – 2.14 | Nix 2.8 (2.12 – 2.14 already had some later words) |
//! | 1.35 – 1.37 | Nix 2.15 – 2.23, Lix | Nix 2.15 – 2.23 |
//! | ≥ 1.38 | Nix 2.24 – 2.34 | Nix 2.26 and later (2.24 – 2.25 had the older build-log hint) |
//!
//! (2.23, at 1.37, already had the newer `--delete` advice.)
//!
//! compat-tests checks the first row against nix-daemon 2.8 and the last
//! against nix-daemon 2.26.

use nix_formats::wire::{ProtocolVersion, Verbosity};

/// Which release's words a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// Protocol ≤ 1.34.
    Nix2_8,
    /// Protocol 1.35 – 1.37.
    Nix2_15,
    /// Protocol ≥ 1.38.
    Nix2_26,
}

impl Wording {
    /// The words for a client that negotiated `v`.
    pub fn for_version(v: ProtocolVersion) -> Self {
        if v.at_least(38) {
            Wording::Nix2_26
        } else if v.at_least(35) {
            Wording::Nix2_15
        } else {
            Wording::Nix2_8
        }
    }

    /// Where a sandboxed build's missing output was looked for: Nix 2.26
    /// builds in `<drv>.chroot/root/…` where 2.8 used `<drv>.chroot/…`.
    /// The build itself (shared by every client waiting for it) says it the
    /// 2.8 way; this rewrites that for the session's client.
    pub fn chroot_path(self, message: &str) -> String {
        match self {
            Wording::Nix2_26 => message.replace(".drv.chroot/", ".drv.chroot/root/"),
            Wording::Nix2_8 | Wording::Nix2_15 => message.to_owned(),
        }
    }

    /// An upload refused for want of a trusted signature (Nix 2.12 changed
    /// "a valid signature" to "a signature by a trusted key").
    pub fn lacks_signature(self, shown_path: &str) -> String {
        match self {
            Wording::Nix2_8 => {
                format!("cannot add path '{shown_path}' because it lacks a valid signature")
            }
            Wording::Nix2_15 | Wording::Nix2_26 => format!(
                "cannot add path '{shown_path}' because it lacks a signature by a trusted key"
            ),
        }
    }

    /// `nix-store --delete` of a live path (Nix 2.23 added the second
    /// query).
    pub fn still_alive(self, shown_path: &str) -> String {
        let why = match self {
            Wording::Nix2_8 | Wording::Nix2_15 => "nix-store --query --roots",
            Wording::Nix2_26 => "nix-store --query --roots and nix-store --query --referrers",
        };
        format!(
            "Cannot delete path '{shown_path}' since it is still alive. To find out why, use: {why}"
        )
    }

    /// The last line of a failed build's message, after the log tail. Nix
    /// 2.26 put the command on a line of its own and, without the
    /// `nix-command` feature (in the daemon's `nix.conf`), names
    /// `nix-store -l` instead of `nix log`.
    pub fn full_log_hint(self, shown_drv: &str, nix_command: bool) -> String {
        match self {
            Wording::Nix2_8 | Wording::Nix2_15 => {
                format!("For full logs, run '\x1b[1mnix log {shown_drv}\x1b[0m'.")
            }
            Wording::Nix2_26 => {
                let cmd = if nix_command {
                    "nix log"
                } else {
                    "nix-store -l"
                };
                format!("For full logs, run:\n  \x1b[1m{cmd} {shown_drv}\x1b[0m")
            }
        }
    }

    /// Whether an untrusted client may add signatures to a path (Nix 2.17
    /// allowed it; before, "you are not privileged to add signatures").
    pub fn untrusted_may_sign(self) -> bool {
        match self {
            Wording::Nix2_8 => false,
            Wording::Nix2_15 | Wording::Nix2_26 => true,
        }
    }

    /// Whether an untrusted client's override of `name` to `value` is
    /// taken (Nix 2.12 added `max-silent-time` and `poll-interval`; 2.15
    /// dropped the removed `repeat`). Nix compares the setting's own name,
    /// which is what clients send (`timeout`, not its alias).
    pub fn untrusted_may_set(self, name: &str, value: &str) -> bool {
        let timeouts = match self {
            Wording::Nix2_8 => &["timeout", "repeat", "connect-timeout"][..],
            Wording::Nix2_15 | Wording::Nix2_26 => &[
                "timeout",
                "max-silent-time",
                "poll-interval",
                "connect-timeout",
            ][..],
        };
        timeouts.contains(&name) || (name == "builders" && value.is_empty())
    }

    /// What an untrusted client is told when its override of a restricted
    /// setting is ignored: Nix 2.22 made the debug message a warning.
    pub fn restricted_setting(self, name: &str) -> (Verbosity, String) {
        let text = format!(
            "ignoring the client-specified setting '{name}', because it is a restricted setting and you are not a trusted user"
        );
        match self {
            Wording::Nix2_8 | Wording::Nix2_15 => (Verbosity::Debug, text),
            Wording::Nix2_26 => (Verbosity::Warn, warning(&text)),
        }
    }

    /// The warning for a substituter an untrusted client asked for that is
    /// neither configured nor trusted (Nix 2.15 added the advice).
    pub fn untrusted_substituter(self, sub: &str) -> String {
        match self {
            Wording::Nix2_8 => warning(&format!("ignoring untrusted substituter '{sub}'")),
            Wording::Nix2_15 | Wording::Nix2_26 => warning(&format!(
                "ignoring untrusted substituter '{sub}', you are not a trusted user.\nRun `man nix.conf` for more information on the `substituters` configuration option."
            )),
        }
    }

    /// Why nothing can be built when `max-jobs` is 0: `remote` says whether
    /// remote builders are configured (which then lacked a feature). Nix
    /// 2.21 reworded it (as an indented raw string, sent as it stands);
    /// the 1.35 – 1.37 clients are mostly older than that.
    pub fn no_build_slot(self, remote: bool) -> String {
        match (self, remote) {
            (Wording::Nix2_8 | Wording::Nix2_15, false) => "unable to start any build; either increase '--max-jobs' or enable remote builds.\nhttps://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html".to_owned(),
            (Wording::Nix2_8 | Wording::Nix2_15, true) => "unable to start any build; remote machines may not have all required system features.\nhttps://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html".to_owned(),
            (Wording::Nix2_26, remote) => {
                let indent = " ".repeat(20);
                let why = if remote {
                    "remote machines may not have all required system features."
                } else {
                    "either increase '--max-jobs' or enable remote builds."
                };
                format!(
                    "\n{indent}Unable to start any build;\n{indent}{why}\n\n{indent}For more information run 'man nix.conf' and search for '/machines'.\n{indent}"
                )
            }
        }
    }

    /// Said to any client that passes `plugin-files` (from Nix 2.15);
    /// `None` where the daemon said nothing.
    pub fn plugin_files(self) -> Option<String> {
        match self {
            Wording::Nix2_8 => None,
            Wording::Nix2_15 | Wording::Nix2_26 => Some(warning(
                "Ignoring the client-specified plugin-files.\nThe client specifying plugins to the daemon never made sense, and was removed in Nix >=2.14.",
            )),
        }
    }
}

/// A warning as Nix's logger words it (the client strips the colours when
/// its output is not a terminal).
pub fn warning(text: &str) -> String {
    format!("\x1b[35;1mwarning:\x1b[0m {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_generations() {
        assert_eq!(
            Wording::for_version(ProtocolVersion::v1(21)),
            Wording::Nix2_8
        );
        assert_eq!(
            Wording::for_version(ProtocolVersion::v1(34)),
            Wording::Nix2_8
        );
        assert_eq!(
            Wording::for_version(ProtocolVersion::v1(35)),
            Wording::Nix2_15
        );
        assert_eq!(
            Wording::for_version(ProtocolVersion::v1(37)),
            Wording::Nix2_15
        );
        assert_eq!(
            Wording::for_version(ProtocolVersion::v1(38)),
            Wording::Nix2_26
        );
    }

    #[test]
    fn untrusted_clients_policy_per_generation() {
        assert!(!Wording::Nix2_8.untrusted_may_sign());
        assert!(Wording::Nix2_26.untrusted_may_sign());
        assert!(Wording::Nix2_8.untrusted_may_set("repeat", "1"));
        assert!(Wording::Nix2_8.untrusted_may_set("timeout", "1"));
        assert!(!Wording::Nix2_8.untrusted_may_set("max-silent-time", "1"));
        assert!(Wording::Nix2_26.untrusted_may_set("max-silent-time", "1"));
        assert!(!Wording::Nix2_26.untrusted_may_set("sandbox", "false"));
        assert!(Wording::Nix2_26.untrusted_may_set("builders", ""));
        assert!(!Wording::Nix2_26.untrusted_may_set("builders", "ssh://x"));
        assert_eq!(
            Wording::Nix2_8.restricted_setting("sandbox").0,
            Verbosity::Debug
        );
        let (level, text) = Wording::Nix2_26.restricted_setting("sandbox");
        assert_eq!(level, Verbosity::Warn);
        assert_eq!(
            text,
            "\x1b[35;1mwarning:\x1b[0m ignoring the client-specified setting 'sandbox', because it is a restricted setting and you are not a trusted user"
        );
        assert_eq!(Wording::Nix2_8.plugin_files(), None);
        assert!(
            Wording::Nix2_15
                .untrusted_substituter("http://x")
                .contains("you are not a trusted user.\nRun `man nix.conf`")
        );
    }

    #[test]
    fn words_as_each_release_prints_them() {
        let p = "/nix/store/00000000000000000000000000000000-x";
        assert!(
            Wording::Nix2_8
                .lacks_signature(p)
                .ends_with("lacks a valid signature")
        );
        assert!(
            Wording::Nix2_26
                .lacks_signature(p)
                .ends_with("lacks a signature by a trusted key")
        );
        assert!(
            Wording::Nix2_8
                .still_alive(p)
                .ends_with("use: nix-store --query --roots")
        );
        assert!(
            Wording::Nix2_26
                .still_alive(p)
                .ends_with("--roots and nix-store --query --referrers")
        );
        assert_eq!(
            Wording::Nix2_8.full_log_hint("/d.drv", false),
            "For full logs, run '\x1b[1mnix log /d.drv\x1b[0m'."
        );
        assert_eq!(
            Wording::Nix2_26.full_log_hint("/d.drv", false),
            "For full logs, run:\n  \x1b[1mnix-store -l /d.drv\x1b[0m"
        );
        assert_eq!(
            Wording::Nix2_26.full_log_hint("/d.drv", true),
            "For full logs, run:\n  \x1b[1mnix log /d.drv\x1b[0m"
        );
    }
}
