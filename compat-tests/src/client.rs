//! Which Nix client runs a scenario's steps, and which `nix-daemon` it is
//! compared against.
//!
//! * [`Client::Host`]: the machine's Nix (2.8, Debian 12's `nix-bin`); the
//!   reference is the machine's `nix-daemon`.
//! * [`Client::Root`]: another Nix unpacked in a root file system — Debian
//!   trixie's `nix-bin` 2.26, made by `scripts/trixie-root.sh`. Steps run
//!   chrooted into it and the reference daemon is its `nix-daemon`, also
//!   chrooted; ours still runs outside, as it would be deployed. The root is
//!   shared by every run and never written: each run sees it through a
//!   read-only bind mount at `<run>/chroot` with `/proc`, `/dev`, a tmpfs
//!   `/tmp` and the run's `/nix` mounted inside, all in the run's private
//!   namespace.
//!
//! The harness's own queries after the last step (`observe.rs`) always use
//! the host's Nix 2.8 client, so the store state of both client modes is
//! gathered the same way.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::RunError;
use crate::layout::{bind_read_only, mount};

/// Environment variable naming the Nix 2.26 root. When it is set, the
/// 2.26 tests fail if the root is missing; when it is unset they use
/// [`DEFAULT_NIX226_ROOT`] if it exists and are skipped (saying so)
/// otherwise.
pub const ENV_NIX226_ROOT: &str = "COMPAT_NIX226_ROOT";

/// Where `scripts/setup.sh` makes the trixie root.
pub const DEFAULT_NIX226_ROOT: &str = "/var/cache/pkgchain/trixie";

/// Who runs the client commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// The host's Nix.
    Host,
    /// The Nix of a root file system (absolute path).
    Root(PathBuf),
}

/// Files a root must hold to serve as a client and reference daemon.
const ROOT_NEEDS: &[&str] = &[
    "usr/bin/nix",
    "usr/bin/nix-daemon",
    "usr/bin/nix-store",
    "usr/bin/env",
    "usr/bin/umount",
    "bin/sh",
    "nix",
    "proc",
    "dev",
    "tmp",
    "mnt",
];

impl Client {
    /// The 2.26 client from the environment: `Ok(None)` when
    /// [`ENV_NIX226_ROOT`] is unset and the default root does not exist;
    /// an error when the chosen root is incomplete.
    pub fn nix226_from_env() -> Result<Option<Client>, RunError> {
        let (root, required) = match std::env::var_os(ENV_NIX226_ROOT).filter(|v| !v.is_empty()) {
            Some(v) => (PathBuf::from(v), true),
            None => (PathBuf::from(DEFAULT_NIX226_ROOT), false),
        };
        if !required && !root.exists() {
            return Ok(None);
        }
        Client::root(root).map(Some)
    }

    /// A root client, after checking that the root has what a run needs.
    pub fn root(path: impl Into<PathBuf>) -> Result<Client, RunError> {
        let path = path.into();
        let abs = fs::canonicalize(&path).map_err(|e| RunError::BadClientRoot {
            path: path.clone(),
            why: e.to_string(),
        })?;
        for need in ROOT_NEEDS {
            if fs::symlink_metadata(abs.join(need)).is_err() {
                return Err(RunError::BadClientRoot {
                    path,
                    why: format!("it has no /{need} (make it with scripts/trixie-root.sh)"),
                });
            }
        }
        Ok(Client::Root(abs))
    }

    /// How it is named on the runner's command line and in reports.
    pub fn label(&self) -> String {
        match self {
            Client::Host => "host".to_owned(),
            Client::Root(p) => format!("root:{}", p.display()),
        }
    }

    /// Inverse of [`Client::label`].
    pub fn from_label(label: &str) -> Option<Client> {
        match label {
            "host" => Some(Client::Host),
            _ => label
                .strip_prefix("root:")
                .map(|p| Client::Root(PathBuf::from(p))),
        }
    }

    /// A short name for summaries (`nix 2.8` / `nix in <root>`).
    pub fn short(&self) -> String {
        match self {
            Client::Host => "host nix".to_owned(),
            Client::Root(p) => format!("nix of {}", p.display()),
        }
    }
}

/// The read-only view of a client root inside one run's namespace.
#[derive(Debug)]
pub struct RootView {
    path: PathBuf,
    nix_bound: bool,
}

impl RootView {
    /// Mount `<run>/chroot`: the root read-only, with `/proc`, `/dev` and a
    /// tmpfs `/tmp`. `/nix` comes later ([`RootView::bind_nix`]), so that
    /// our daemon's FUSE store, mounted when it starts, is included.
    pub fn prepare(root: &Path, run: &Path) -> Result<RootView, RunError> {
        let path = run.join("chroot");
        fs::create_dir_all(&path).map_err(RunError::io("mkdir", &path))?;
        bind_read_only(root, &path, false)?;
        mount(&["-t", "proc"], Path::new("proc"), &path.join("proc"))?;
        mount(&["--rbind"], Path::new("/dev"), &path.join("dev"))?;
        mount(&["-t", "tmpfs"], Path::new("tmpfs"), &path.join("tmp"))?;
        // Users the scenario made (on the host's files) exist in the root's
        // too, for its client and its reference daemon.
        crate::users::graft(&path)?;
        // So do the files it planted in the host's directories.
        crate::layout::graft_planted(&path)?;
        Ok(RootView {
            path,
            nix_bound: false,
        })
    }

    /// Bind the run's `/nix`, with whatever is mounted below it, into the
    /// view.
    pub fn bind_nix(&mut self) -> Result<(), RunError> {
        mount(&["--rbind"], Path::new("/nix"), &self.path.join("nix"))?;
        self.nix_bound = true;
        Ok(())
    }

    /// Detach the view's `/nix` (with the copy of our daemon's FUSE mount,
    /// which would otherwise keep it from finishing its unmount).
    pub fn release_nix(&mut self) -> Result<(), RunError> {
        if !self.nix_bound {
            return Ok(());
        }
        let target = self.path.join("nix");
        let status = Command::new("umount")
            .arg("--lazy")
            .arg(&target)
            .status()
            .map_err(RunError::spawn("umount"))?;
        if !status.success() {
            return Err(RunError::Unmount { path: target });
        }
        self.nix_bound = false;
        Ok(())
    }

    /// The view's directory (what to chroot into).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for c in [Client::Host, Client::Root("/var/cache/x".into())] {
            assert_eq!(Client::from_label(&c.label()), Some(c));
        }
        assert_eq!(Client::from_label("nope"), None);
    }

    #[test]
    fn an_incomplete_root_is_refused() {
        let dir = std::env::temp_dir().join(format!("compat-client-root-{}", std::process::id()));
        fs::create_dir_all(dir.join("usr/bin")).expect("mkdir");
        let err = Client::root(&dir).expect_err("no nix in it");
        assert!(err.to_string().contains("/usr/bin/nix"), "{err}");
        fs::remove_dir_all(&dir).expect("rm");
    }
}
