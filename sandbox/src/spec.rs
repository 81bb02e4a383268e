//! [`BuildSpec`]: everything one sandboxed build needs, and its checks.
//!
//! The daemon fills a spec, encodes it with [`BuildSpec::encode`] (see
//! [`crate::codec`] for the bytes) and hands it to `pkgchain-sandbox` on its
//! standard input. Strings a derivation supplies (builder, arguments,
//! environment) are raw bytes: `.drv` files are not always UTF-8.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// One bind mount from the host into the sandbox, as Nix's `sandbox-paths`
/// and `extra-sandbox-paths` settings describe them (`inside=host`, `path`,
/// a trailing `?` making it optional). See [`crate::parse_sandbox_paths`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPath {
    /// Where the path appears inside the sandbox (absolute).
    pub inside: PathBuf,
    /// The host path that is bind-mounted there.
    pub host: PathBuf,
    /// If true, a missing host path is skipped instead of failing the build.
    pub optional: bool,
}

/// Everything the helper needs to run one builder.
///
/// Paths are host paths unless named otherwise. `inputs` and `outputs` are
/// store paths (`<store_dir>/<basename>`); inputs are bind-mounted read-only
/// from the same path on the host, outputs are created by the builder and end
/// up at `<chroot_root>/<store_dir>/<basename>` on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// The store directory, `/nix/store` by default (Nix's `store`).
    pub store_dir: PathBuf,
    /// The program to execute (inside the sandbox), as the derivation says.
    pub builder: Vec<u8>,
    /// Arguments after `argv[0]` (which is the builder's base name, as in Nix).
    pub args: Vec<Vec<u8>>,
    /// The builder's whole environment, in the order it is passed to
    /// `execve` (see [`crate::BuilderInvocation`] for the one Nix computes).
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    /// Store paths made visible, read-only.
    pub inputs: Vec<PathBuf>,
    /// Store paths the builder may create.
    pub outputs: Vec<PathBuf>,
    /// Host directory (on real disk) in which the chroot is built. It must
    /// not exist yet, or be an empty directory.
    pub chroot_root: PathBuf,
    /// Host directory mounted at `sandbox_build_dir` and used as the cwd.
    pub build_dir: PathBuf,
    /// Nix's `sandbox-build-dir`, `/build` by default.
    pub sandbox_build_dir: PathBuf,
    /// Nix's `sandbox-paths` plus `extra-sandbox-paths`.
    pub sandbox_paths: Vec<SandboxPath>,
    /// Keep the host network (fixed-output derivations). Otherwise the build
    /// gets a fresh network namespace with only `lo` up.
    pub network: bool,
    /// Host uid of the build user; it is uid 1000 inside.
    pub build_uid: u32,
    /// Host gid of the build group; it is gid 100 inside.
    pub build_gid: u32,
    /// Nix's `timeout` in seconds; 0 means none.
    pub timeout_secs: u64,
    /// Nix's `max-silent-time` in seconds; 0 means none.
    pub max_silent_secs: u64,
    /// Nix's `cores` (the builder sees it as `NIX_BUILD_CORES`, which is
    /// part of `env`; the helper does not enforce it).
    pub cores: u32,
    /// The derivation's `system`, which selects a 32-bit personality for
    /// `i686-linux` on x86_64 and for `armv6l-linux`/`armv7l-linux`.
    pub system: String,
    /// Bind `/dev/kvm` when it exists (Nix does when `system-features`
    /// contains `kvm`).
    pub kvm: bool,
    /// Nix's `sandbox-dev-shm-size` (`size=` of the `/dev/shm` tmpfs).
    pub shm_size: String,
    /// Nix's `impersonate-linux-26`.
    pub impersonate_linux_26: bool,
    /// Nix's `filter-syscalls`: forbid setuid/setgid modes and extended
    /// attributes with a seccomp filter.
    pub filter_syscalls: bool,
    /// Nix's `allow-new-privileges` (otherwise `no_new_privs` is set).
    pub allow_new_privileges: bool,
}

/// Uid of the build user inside the sandbox (Nix's `sandboxUid()`).
pub const SANDBOX_UID: u32 = 1000;
/// Gid of the build group inside the sandbox (Nix's `sandboxGid()`).
pub const SANDBOX_GID: u32 = 100;

impl BuildSpec {
    /// A spec with Nix 2.8's defaults for everything but the builder and
    /// the two host directories: no inputs, outputs or arguments, an empty
    /// environment, no network, build user 1000/100 on the host too, no time
    /// limits, one core.
    pub fn new(
        builder: impl Into<Vec<u8>>,
        chroot_root: impl Into<PathBuf>,
        build_dir: impl Into<PathBuf>,
    ) -> Self {
        BuildSpec {
            store_dir: PathBuf::from("/nix/store"),
            builder: builder.into(),
            args: Vec::new(),
            env: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            chroot_root: chroot_root.into(),
            build_dir: build_dir.into(),
            sandbox_build_dir: PathBuf::from("/build"),
            sandbox_paths: Vec::new(),
            network: false,
            build_uid: SANDBOX_UID,
            build_gid: SANDBOX_GID,
            timeout_secs: 0,
            max_silent_secs: 0,
            cores: 1,
            system: String::new(),
            kvm: false,
            shm_size: "50%".to_owned(),
            impersonate_linux_26: false,
            filter_syscalls: true,
            allow_new_privileges: false,
        }
    }

    /// Where an output (or any path inside the sandbox) lives on the host.
    pub fn host_path_of(&self, inside: &Path) -> PathBuf {
        under(&self.chroot_root, inside)
    }

    /// Checks what the helper relies on before it touches anything.
    pub fn validate(&self) -> Result<(), SpecError> {
        let store = &self.store_dir;
        if !is_clean_absolute(store) || store == Path::new("/") {
            return Err(SpecError::BadStoreDir(store.clone()));
        }
        if self.builder.is_empty() {
            return Err(SpecError::EmptyBuilder);
        }
        for (kind, paths) in [("input", &self.inputs), ("output", &self.outputs)] {
            for p in paths {
                let ok = p.parent() == Some(store.as_path())
                    && p.file_name().is_some()
                    && is_clean_absolute(p);
                if !ok {
                    return Err(SpecError::NotInStore {
                        kind,
                        path: p.clone(),
                        store_dir: store.clone(),
                    });
                }
            }
        }
        if let Some(p) = self.outputs.iter().find(|o| self.inputs.contains(o)) {
            return Err(SpecError::OutputIsInput(p.clone()));
        }
        for (what, p) in [
            ("chroot root", &self.chroot_root),
            ("build directory", &self.build_dir),
            ("sandbox build directory", &self.sandbox_build_dir),
        ] {
            if !is_clean_absolute(p) || p == Path::new("/") {
                return Err(SpecError::NotAbsolute {
                    what,
                    path: p.clone(),
                });
            }
        }
        for sp in &self.sandbox_paths {
            if !is_clean_absolute(&sp.inside) || sp.inside == Path::new("/") {
                return Err(SpecError::NotAbsolute {
                    what: "sandbox path",
                    path: sp.inside.clone(),
                });
            }
        }
        if self.shm_size.contains(',') || self.shm_size.is_empty() {
            return Err(SpecError::BadShmSize(self.shm_size.clone()));
        }
        Ok(())
    }
}

/// A spec the helper refuses.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("store directory '{}' must be an absolute path without '..'", .0.display())]
    BadStoreDir(PathBuf),
    #[error("the builder is empty")]
    EmptyBuilder,
    #[error("{kind} '{}' is not a path directly in the store directory '{}'", path.display(), store_dir.display())]
    NotInStore {
        kind: &'static str,
        path: PathBuf,
        store_dir: PathBuf,
    },
    #[error("'{}' is both an input and an output", .0.display())]
    OutputIsInput(PathBuf),
    #[error("{what} '{}' must be an absolute path other than '/' without '.' or '..'", path.display())]
    NotAbsolute { what: &'static str, path: PathBuf },
    #[error("invalid sandbox-dev-shm-size '{0}'")]
    BadShmSize(String),
}

/// Absolute, and every component a plain name (no empty, `.` or `..`
/// components, no trailing `/`).
fn is_clean_absolute(p: &Path) -> bool {
    let bytes = p.as_os_str().as_bytes();
    match bytes.strip_prefix(b"/") {
        Some(b"") => true,
        Some(rest) => rest
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b".."),
        None => false,
    }
}

/// `root` joined with the absolute path `inside` (whose leading `/` is
/// dropped), as Nix's `chrootRootDir + path`.
pub(crate) fn under(root: &Path, inside: &Path) -> PathBuf {
    let rel = inside.as_os_str().as_bytes();
    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
    root.join(OsStr::from_bytes(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BuildSpec {
        let mut s = BuildSpec::new("/s/bb/busybox", "/tmp/c", "/tmp/b");
        s.store_dir = "/s".into();
        s.inputs = vec!["/s/bb".into()];
        s.outputs = vec!["/s/out".into()];
        s
    }

    #[test]
    fn accepts_a_plain_spec() {
        assert_eq!(spec().validate(), Ok(()));
    }

    #[test]
    fn refuses_paths_outside_the_store() {
        for bad in ["/t/x", "/s/a/b", "/s/..", "/s/./x", "s/x", "/s"] {
            let mut s = spec();
            s.inputs.push(bad.into());
            assert!(
                matches!(s.validate(), Err(SpecError::NotInStore { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_escaping_sandbox_paths() {
        let mut s = spec();
        s.sandbox_paths.push(SandboxPath {
            inside: "/a/../../etc".into(),
            host: "/etc".into(),
            optional: false,
        });
        assert!(matches!(s.validate(), Err(SpecError::NotAbsolute { .. })));
    }

    #[test]
    fn refuses_an_output_that_is_an_input() {
        let mut s = spec();
        s.outputs.push("/s/bb".into());
        assert_eq!(s.validate(), Err(SpecError::OutputIsInput("/s/bb".into())));
    }

    #[test]
    fn joins_under_the_chroot() {
        assert_eq!(
            under(Path::new("/c"), Path::new("/nix/store/x")),
            PathBuf::from("/c/nix/store/x")
        );
    }
}
