//! The `nix.conf` settings the daemon honours, read the way Nix reads them:
//! `$NIX_CONF_DIR/nix.conf` (default `/etc/nix/nix.conf`), `key = value`
//! lines, `#` comments, `include` / `!include`, and `extra-<key>` appending
//! to a list setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors reading `nix.conf`.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading '{path}'")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("syntax error in configuration line '{line}' in '{path}'")]
    Syntax { path: PathBuf, line: String },
    #[error("configuration setting '{key}' should be {what}, not '{value}'")]
    Value {
        key: &'static str,
        what: &'static str,
        value: String,
    },
}

/// The daemon's view of `nix.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub trusted_users: Vec<String>,
    pub allowed_users: Vec<String>,
    pub max_jobs: usize,
    pub cores: usize,
    pub sandbox: bool,
    pub sandbox_paths: Vec<String>,
    pub build_users_group: String,
    pub keep_outputs: bool,
    pub keep_derivations: bool,
    /// Keep a failed build's directory (`keep-failed`, `--keep-failed`).
    pub keep_failed: bool,
    /// `timeout` (alias `build-timeout`), seconds; 0 is none.
    pub timeout: u64,
    /// `max-silent-time` (alias `build-max-silent-time`), seconds; 0 is none.
    pub max_silent_time: u64,
    /// Parsed but not used yet (substitution comes from the chain).
    pub substituters: Vec<String>,
    pub trusted_substituters: Vec<String>,
    pub trusted_public_keys: Vec<String>,
    pub require_sigs: bool,
    /// Every raw setting, for anything not modelled above.
    pub raw: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        let ncpu = std::thread::available_parallelism().map_or(1, usize::from);
        Settings {
            trusted_users: vec!["root".into()],
            allowed_users: vec!["*".into()],
            max_jobs: 1,
            cores: ncpu,
            sandbox: true,
            sandbox_paths: Vec::new(),
            build_users_group: String::new(),
            keep_outputs: false,
            keep_derivations: true,
            keep_failed: false,
            timeout: 0,
            max_silent_time: 0,
            substituters: vec!["https://cache.nixos.org/".into()],
            trusted_substituters: Vec::new(),
            trusted_public_keys: vec![
                "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=".into(),
            ],
            require_sigs: true,
            raw: BTreeMap::new(),
        }
    }
}

fn parse_file(
    path: &Path,
    out: &mut BTreeMap<String, String>,
    depth: usize,
) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    for raw_line in text.lines() {
        let line = raw_line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if (words[0] == "include" || words[0] == "!include") && words.len() == 2 {
            let inc = path.parent().unwrap_or(Path::new("/")).join(words[1]);
            if depth < 16 && (inc.exists() || words[0] == "include") {
                parse_file(&inc, out, depth + 1)?;
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::Syntax {
                path: path.to_owned(),
                line: raw_line.to_owned(),
            });
        };
        let (key, value) = (key.trim(), value.trim());
        if let Some(base) = key.strip_prefix("extra-") {
            let e = out.entry(base.to_owned()).or_default();
            if !e.is_empty() && !value.is_empty() {
                e.push(' ');
            }
            e.push_str(value);
        } else {
            out.insert(key.to_owned(), value.to_owned());
        }
    }
    Ok(())
}

fn boolean(key: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::Value {
            key,
            what: "a Boolean ('true' or 'false')",
            value: v.to_owned(),
        }),
    }
}

fn seconds(key: &'static str, v: &str) -> Result<u64, ConfigError> {
    v.parse().map_err(|_| ConfigError::Value {
        key,
        what: "an integer",
        value: v.to_owned(),
    })
}

fn list(v: &str) -> Vec<String> {
    v.split_whitespace().map(str::to_owned).collect()
}

impl Settings {
    /// Reads `nix.conf` from `NIX_CONF_DIR` (or `/etc/nix`); a missing file
    /// means defaults.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = std::env::var_os("NIX_CONF_DIR")
            .map_or_else(|| PathBuf::from("/etc/nix"), PathBuf::from);
        let file = dir.join("nix.conf");
        let mut raw = BTreeMap::new();
        if file.exists() {
            parse_file(&file, &mut raw, 0)?;
        }
        Self::from_raw(raw)
    }

    pub fn from_raw(raw: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut s = Settings::default();
        let ncpu = s.cores;
        for (k, v) in &raw {
            match k.as_str() {
                "trusted-users" => s.trusted_users = list(v),
                "allowed-users" => s.allowed_users = list(v),
                "max-jobs" => {
                    s.max_jobs = if v == "auto" {
                        ncpu
                    } else {
                        v.parse().map_err(|_| ConfigError::Value {
                            key: "max-jobs",
                            what: "an integer or 'auto'",
                            value: v.clone(),
                        })?
                    }
                }
                "cores" => {
                    let n: usize = v.parse().map_err(|_| ConfigError::Value {
                        key: "cores",
                        what: "an integer",
                        value: v.clone(),
                    })?;
                    s.cores = if n == 0 { ncpu } else { n };
                }
                "sandbox" => {
                    s.sandbox = match v.as_str() {
                        "relaxed" => true,
                        other => boolean("sandbox", other)?,
                    }
                }
                "sandbox-paths" | "build-chroot-dirs" | "build-sandbox-paths" => {
                    s.sandbox_paths = list(v)
                }
                "build-users-group" => s.build_users_group = v.clone(),
                "keep-outputs" => s.keep_outputs = boolean("keep-outputs", v)?,
                "keep-derivations" => s.keep_derivations = boolean("keep-derivations", v)?,
                "substituters" | "binary-caches" => s.substituters = list(v),
                "trusted-substituters" => s.trusted_substituters = list(v),
                "trusted-public-keys" | "binary-cache-public-keys" => {
                    s.trusted_public_keys = list(v)
                }
                "require-sigs" => s.require_sigs = boolean("require-sigs", v)?,
                "keep-failed" => s.keep_failed = boolean("keep-failed", v)?,
                "timeout" | "build-timeout" => s.timeout = seconds("timeout", v)?,
                "max-silent-time" | "build-max-silent-time" => {
                    s.max_silent_time = seconds("max-silent-time", v)?
                }
                _ => {}
            }
        }
        s.raw = raw;
        Ok(s)
    }

    /// The settings one client's builds run with, as a nix-daemon worker
    /// applies the client's SetOptions: first the fields every client sets
    /// (`--keep-failed`, `--max-silent-time`, `--cores`, `--max-jobs`), then
    /// the `--option` overrides the client may make (all of them when it is
    /// trusted; see [`Wording::untrusted_may_set`]). An override whose value
    /// does not parse is left out, as Nix ignores it with a warning.
    ///
    /// [`Wording::untrusted_may_set`]: crate::wording::Wording::untrusted_may_set
    pub fn for_client(
        &self,
        o: &nix_formats::wire::ClientSettings,
        trusted: bool,
        wording: crate::wording::Wording,
    ) -> Settings {
        // The overrides go into the raw settings one by one, each kept only
        // if the settings still parse with it.
        let mut raw = self.raw.clone();
        let mut overridden = std::collections::BTreeSet::new();
        for (name, value) in &o.overrides {
            if !trusted && !wording.untrusted_may_set(name, value) {
                continue;
            }
            let mut candidate = raw.clone();
            let base = name.strip_prefix("extra-").unwrap_or(name);
            let v = candidate.entry(base.to_owned()).or_default();
            if base != name.as_str() && !v.is_empty() {
                v.push(' ');
                v.push_str(value);
            } else {
                *v = value.clone();
            }
            if Settings::from_raw(candidate.clone()).is_ok() {
                raw = candidate;
                overridden.insert(base);
            }
        }
        let mut s = Settings::from_raw(raw).unwrap_or_else(|_| self.clone());
        // The fields every client sends count unless overridden by name.
        let fixed = |keys: &[&str]| !keys.iter().any(|k| overridden.contains(k));
        if fixed(&["keep-failed"]) {
            s.keep_failed = o.keep_failed;
        }
        if fixed(&["max-silent-time", "build-max-silent-time"]) {
            s.max_silent_time = o.max_silent_time;
        }
        // As sent: Nix passes 0 on as NIX_BUILD_CORES=0 ("all of them").
        if let (true, Ok(cores)) = (fixed(&["cores"]), usize::try_from(o.build_cores)) {
            s.cores = cores;
        }
        if let (true, Ok(jobs)) = (fixed(&["max-jobs"]), usize::try_from(o.max_build_jobs)) {
            s.max_jobs = jobs;
        }
        s
    }

    /// Whether `builders` names any remote machine: entries separated by
    /// newlines or `;`, `@FILE` read from FILE (Nix's default is
    /// `@/etc/nix/machines`), `#` starting a comment.
    pub fn has_remote_builders(&self) -> bool {
        let spec = self
            .raw
            .get("builders")
            .map_or("@/etc/nix/machines", String::as_str);
        fn any_machine(text: &str, depth: u32) -> bool {
            text.split(['\n', ';']).any(|line| {
                let line = line.split('#').next().unwrap_or("").trim();
                match line.strip_prefix('@') {
                    Some(file) if depth < 4 => std::fs::read_to_string(file.trim())
                        .is_ok_and(|t| any_machine(&t, depth + 1)),
                    Some(_) => false,
                    None => !line.is_empty(),
                }
            })
        }
        any_machine(spec, 0)
    }

    /// Whether `experimental-features` (with its `extra-` additions) names
    /// `feature`.
    pub fn experimental_feature(&self, feature: &str) -> bool {
        self.raw
            .get("experimental-features")
            .is_some_and(|v| v.split_whitespace().any(|f| f == feature))
    }

    /// Whether `user` (with groups `groups`) matches a `trusted-users` /
    /// `allowed-users` list: names, `@group`, or `*`.
    pub fn matches(list: &[String], user: &str, groups: &[String]) -> bool {
        list.iter().any(|e| {
            e == "*"
                || e == user
                || e.strip_prefix('@')
                    .is_some_and(|g| groups.iter().any(|x| x == g))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_clients_settings_apply_as_a_nix_daemon_worker_applies_them() {
        use crate::wording::Wording;
        let daemon =
            Settings::from_raw(BTreeMap::from([("cores".into(), "2".into())])).expect("settings");
        let mut o = nix_formats::wire::ClientSettings {
            keep_failed: true,
            max_silent_time: 7,
            build_cores: 3,
            ..Default::default()
        };
        for (k, v) in [
            ("sandbox", "false"),
            ("max-silent-time", "9"),
            ("keep-outputs", "maybe"),
        ] {
            o.overrides.insert(k.into(), v.into());
        }
        let trusted = daemon.for_client(&o, true, Wording::Nix2_26);
        assert!(!trusted.sandbox);
        assert!(trusted.keep_failed);
        assert_eq!(trusted.max_silent_time, 9, "an override beats the field");
        assert_eq!(trusted.cores, 3);
        assert!(
            !trusted.keep_outputs,
            "a value that does not parse is ignored"
        );
        let untrusted = daemon.for_client(&o, false, Wording::Nix2_26);
        assert!(untrusted.sandbox, "sandbox is restricted");
        assert_eq!(untrusted.max_silent_time, 9, "allowed since Nix 2.12");
        assert_eq!(
            daemon
                .for_client(&o, false, Wording::Nix2_8)
                .max_silent_time,
            7
        );
    }

    use super::*;

    #[test]
    fn parses_like_nix() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("nix.conf"),
            "# comment\nsandbox = false\nmax-jobs = 4 # trailing\ntrusted-users = root @wheel\n\
             sandbox-paths = /bin/sh=/x/sh\nextra-sandbox-paths = /usr?\ninclude other.conf\n!include missing.conf\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("other.conf"), "keep-outputs = true\n").expect("write");
        let mut raw = BTreeMap::new();
        parse_file(&dir.path().join("nix.conf"), &mut raw, 0).expect("parse");
        let s = Settings::from_raw(raw).expect("settings");
        assert!(!s.sandbox);
        assert_eq!(s.max_jobs, 4);
        assert!(s.keep_outputs);
        assert_eq!(s.sandbox_paths, vec!["/bin/sh=/x/sh", "/usr?"]);
        assert!(Settings::matches(
            &s.trusted_users,
            "alice",
            &["wheel".into()]
        ));
        assert!(!Settings::matches(
            &s.trusted_users,
            "alice",
            &["users".into()]
        ));
        let bad = BTreeMap::from([("sandbox".to_owned(), "maybe".to_owned())]);
        assert!(Settings::from_raw(bad).is_err());
    }

    #[test]
    fn remote_builders_are_found_inline_and_in_machines_files() {
        let with = |v: &str| {
            Settings::from_raw(BTreeMap::from([("builders".to_owned(), v.to_owned())]))
                .expect("settings")
                .has_remote_builders()
        };
        assert!(!with(""));
        assert!(!with("  # none\n"));
        assert!(with("ssh://builder x86_64-linux"));
        assert!(with("; ssh://a x86_64-linux"));
        assert!(!with("@/nonexistent/machines"));
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "# nothing here\n\n").expect("write");
        assert!(!with(&format!("@{}", empty.display())));
        let one = dir.path().join("one");
        std::fs::write(&one, "# a builder\nssh-ng://b aarch64-linux\n").expect("write");
        assert!(with(&format!("@{}", one.display())));
        // A file naming itself is not followed forever.
        let own = dir.path().join("own");
        std::fs::write(&own, format!("@{}\n", own.display())).expect("write");
        assert!(!with(&format!("@{}", own.display())));
    }
}
