//! Shared by the builtins tests: a private Nix 2.8 store to compare with,
//! tree and NAR comparisons, and a small HTTP server.
//!
//! Every test that needs Nix fails (it does not skip) when `nix-env`,
//! `nix-store` or `nix-build` is missing. Nix only ever sees a store under
//! a temporary directory (`--store local?root=…`) and configuration there
//! (`NIX_CONF_DIR`, `HOME`, `XDG_*`); the machine's `/nix` is not touched.

#![allow(dead_code, clippy::unwrap_used)]

pub mod http;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use daemon::builtins::{BuiltinContext, BuiltinError, BuiltinOutcome, run_builtin};
use nix_formats::StoreDir;
use nix_formats::derivation::{Derivation, DerivationOutput};

/// A private store with its own configuration.
pub struct NixSandbox {
    pub dir: tempfile::TempDir,
}

impl NixSandbox {
    /// `extra_conf` is appended to a `nix.conf` that builds in the sandbox
    /// without build users and substitutes nothing.
    pub fn new(extra_conf: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = dir.path().join("conf");
        fs::create_dir_all(&conf).expect("conf dir");
        fs::write(
            conf.join("nix.conf"),
            format!(
                "build-users-group =\nsandbox = true\nextra-sandbox-paths = /bin/busybox\n\
                 substituters =\n{extra_conf}\n"
            ),
        )
        .expect("nix.conf");
        NixSandbox { dir }
    }

    /// Adds a line to `nix.conf`.
    pub fn append_conf(&self, line: &str) {
        let conf = self.path("conf/nix.conf");
        let mut text = fs::read_to_string(&conf).expect("read nix.conf");
        text.push_str(line);
        text.push('\n');
        fs::write(conf, text).expect("write nix.conf");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `local?root=…`.
    pub fn store_uri(&self) -> String {
        format!("local?root={}", self.path("root").display())
    }

    /// Where the store's files are on the host.
    pub fn store_root(&self) -> PathBuf {
        self.path("root/nix/store")
    }

    /// The host path of a `/nix/store/…` path.
    pub fn host(&self, store_path: &str) -> PathBuf {
        let rest = store_path
            .strip_prefix("/nix/store/")
            .unwrap_or_else(|| panic!("{store_path} is not in /nix/store"));
        self.store_root().join(rest)
    }

    /// A Nix command with this sandbox's environment (the caller adds
    /// `--store` where the command takes it).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("NIX_CONF_DIR", self.path("conf"))
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("xdg-config"))
            .env("XDG_CACHE_HOME", self.path("xdg-cache"))
            .env("XDG_DATA_HOME", self.path("xdg-data"))
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_PATH")
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs a prepared command; panics (failing the test) if the program
    /// does not exist.
    pub fn output(&self, mut cmd: Command) -> Output {
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.output().unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): the builtins tests compare with Nix 2.8 and need \
                 nix-env, nix-store and nix-build on PATH"
            )
        })
    }

    /// Runs `program args…` (with `--store` first) and returns its output.
    pub fn nix(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(program);
        cmd.arg("--store").arg(self.store_uri()).args(args);
        self.output(cmd)
    }

    /// Reads a `.drv` from the store.
    pub fn read_drv(&self, drv_path: &str) -> Derivation {
        let text = fs::read(self.host(drv_path)).expect("read .drv");
        Derivation::from_aterm(&text, &StoreDir::default()).expect("parse .drv")
    }

    /// Runs our builtin on a derivation of this store, writing `$out` to a
    /// fresh host path. Returns that path and the result.
    pub fn run_ours(
        &self,
        drv: &Derivation,
        tag: &str,
    ) -> (PathBuf, Result<BuiltinOutcome, BuiltinError>) {
        self.run_ours_with(drv, tag, |_| {})
    }

    /// [`Self::run_ours`] with a context the caller adjusts (by default one
    /// download attempt).
    pub fn run_ours_with<'a>(
        &self,
        drv: &Derivation,
        tag: &str,
        adjust: impl FnOnce(&mut BuiltinContext<'a>),
    ) -> (PathBuf, Result<BuiltinOutcome, BuiltinError>) {
        let ours = self.path("ours");
        fs::create_dir_all(&ours).expect("ours dir");
        let out_host = ours.join(tag);
        let mut ctx = BuiltinContext::new(StoreDir::default(), self.store_root(), out_host.clone());
        ctx.fetch.tries = 1;
        adjust(&mut ctx);
        let builder = drv.builder.to_str().expect("utf-8 builder").to_owned();
        let result = run_builtin(&builder, &env_of(drv), &ctx);
        (out_host, result)
    }

    /// `nix-store --dump PATH` (any path).
    pub fn dump(&self, path: &Path) -> Vec<u8> {
        let out = self.nix("nix-store", &["--dump", path.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "nix-store --dump {}: {}",
            path.display(),
            stderr(&out)
        );
        out.stdout
    }

    /// The narHash Nix registered for a store path (`sha256:<nix32>`).
    pub fn registered_hash(&self, store_path: &str) -> String {
        let out = self.nix("nix-store", &["-q", "--hash", store_path]);
        assert!(
            out.status.success(),
            "nix-store -q --hash: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }
}

/// A derivation's environment as strings.
pub fn env_of(drv: &Derivation) -> BTreeMap<String, String> {
    drv.env
        .iter()
        .map(|(k, v)| (k.to_str_lossy().into_owned(), v.to_str_lossy().into_owned()))
        .collect()
}

/// The path of output `out`.
pub fn out_path(drv: &Derivation) -> String {
    match &drv.outputs["out"] {
        DerivationOutput::InputAddressed(p) => format!("/nix/store/{p}"),
        DerivationOutput::CAFixed { path, .. } => format!("/nix/store/{path}"),
        other => panic!("unexpected output {other:?}"),
    }
}

/// A command's stderr with escape codes removed.
pub fn stderr(out: &Output) -> String {
    strip_ansi(&String::from_utf8_lossy(&out.stderr))
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The store derivations a Nix command said it built, in order.
pub fn built_drvs(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("building '"))
        .filter_map(|l| l.split('\'').next())
        .map(str::to_owned)
        .collect()
}

/// One entry of a file tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Directory,
    Symlink(String),
    File { executable: bool, contents: Vec<u8> },
}

/// Every entry under `root`, by relative path (`""` is `root` itself).
pub fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    walk(root, "", &mut entries);
    entries
}

fn walk(path: &Path, rel: &str, entries: &mut BTreeMap<String, Entry>) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entry = if meta.file_type().is_symlink() {
        Entry::Symlink(
            fs::read_link(path)
                .expect("readlink")
                .to_string_lossy()
                .into_owned(),
        )
    } else if meta.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            walk(&path.join(&name), &format!("{rel}/{name}"), entries);
        }
        Entry::Directory
    } else {
        Entry::File {
            executable: meta.permissions().mode() & 0o100 != 0,
            contents: fs::read(path).expect("read"),
        }
    };
    entries.insert(rel.to_owned(), entry);
}
