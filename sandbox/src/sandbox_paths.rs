//! Nix's `sandbox-paths` / `extra-sandbox-paths` setting syntax.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::spec::SandboxPath;

/// Parses the value of `sandbox-paths` (with `extra-sandbox-paths` appended
/// after a space, as Nix merges them).
///
/// Like Nix: the value is a set of whitespace-separated tokens (duplicates
/// collapse, tokens are taken in byte order); a trailing `?` makes a token
/// optional; `inside=host` mounts `host` at `inside`, a bare `path` mounts it
/// at the same place. A later token for the same `inside` path replaces an
/// earlier one. The result is ordered by `inside`, which is also the order in
/// which the mounts are made (a parent before its children).
pub fn parse_sandbox_paths(setting: &str) -> Vec<SandboxPath> {
    let tokens: BTreeSet<&str> = setting
        .split([' ', '\t', '\n', '\r'])
        .filter(|t| !t.is_empty())
        .collect();
    let mut by_inside: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for token in tokens {
        let (token, optional) = match token.strip_suffix('?') {
            Some(t) => (t, true),
            None => (token, false),
        };
        let (inside, host) = token.split_once('=').unwrap_or((token, token));
        by_inside.insert(inside, (host, optional));
    }
    by_inside
        .into_iter()
        .map(|(inside, (host, optional))| SandboxPath {
            inside: PathBuf::from(inside),
            host: PathBuf::from(host),
            optional,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(inside: &str, host: &str, optional: bool) -> SandboxPath {
        SandboxPath {
            inside: inside.into(),
            host: host.into(),
            optional,
        }
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse_sandbox_paths(
                "/bin/sh=/nix/store/x-busybox/bin/busybox  /usr/bin/env\n/dev/kvm?"
            ),
            vec![
                sp("/bin/sh", "/nix/store/x-busybox/bin/busybox", false),
                sp("/dev/kvm", "/dev/kvm", true),
                sp("/usr/bin/env", "/usr/bin/env", false),
            ]
        );
    }

    #[test]
    fn question_mark_applies_to_the_host_side() {
        assert_eq!(parse_sandbox_paths("/a=/b?"), vec![sp("/a", "/b", true)]);
    }

    #[test]
    fn empty_setting_is_empty() {
        assert!(parse_sandbox_paths(" \t\n").is_empty());
    }

    #[test]
    fn same_inside_path_keeps_the_later_token() {
        // Tokens are a sorted set: "/a=/x" sorts after "/a", so it wins.
        assert_eq!(
            parse_sandbox_paths("/a=/x /a /a"),
            vec![sp("/a", "/x", false)]
        );
    }
}
