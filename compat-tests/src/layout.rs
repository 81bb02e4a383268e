//! The file system a run sees, set up inside its private mount namespace.
//!
//! On the host a run owns one fresh directory `<root>`; inside the namespace
//! `<root>/nix` is bind-mounted over `/nix`, and everything else a run needs
//! (work directory, `TMPDIR`, `HOME`, `NIX_CONF_DIR`) lives under
//! `/nix/compat`, so every path a client or daemon sees (store paths, build
//! directories, `result` links, indirect GC roots) is the same in every run,
//! and nothing of the host (such as a checkout under `/tmp`) is hidden. The
//! machine's own `/nix` is never touched: the runner refuses to mount
//! anything unless its mount namespace differs from its parent's and `/`
//! propagation is private.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::RunError;

/// Where the client runs its commands (the scenario files are copied here).
pub const WORK: &str = "/nix/compat/work";
/// `TMPDIR` of daemon and client (build directories are made here).
pub const TMP: &str = "/nix/compat/tmp";
/// `NIX_CONF_DIR` of daemon and client.
pub const CONF_DIR: &str = "/nix/compat/conf";
/// `HOME` of the client.
pub const HOME: &str = "/nix/compat/home";
/// Daemon log file.
pub const DAEMON_LOG: &str = "/nix/compat/daemon.log";
/// The store directory.
pub const STORE: &str = "/nix/store";
/// The daemon socket (the default one, which `NIX_REMOTE=daemon` uses).
pub const SOCKET: &str = "/nix/var/nix/daemon-socket/socket";
/// The harness's mount namespace (`mnt:[…]`), for a runner that is the
/// init of its own PID namespace and so cannot see its parent.
pub const ENV_PARENT_MNT_NS: &str = "COMPAT_PARENT_MNT_NS";
/// `--state-dir` given to our daemon.
pub const OURS_STATE: &str = "/nix/var/pkgchain";

/// Make sure this process is in its own mount namespace with private
/// propagation, so that the mounts below cannot leak to the host.
pub fn ensure_private_namespace() -> Result<(), RunError> {
    let own = fs::read_link("/proc/self/ns/mnt")
        .map_err(RunError::io("readlink", "/proc/self/ns/mnt"))?;
    let ppid = std::os::unix::process::parent_id();
    let theirs = if ppid == 0 {
        // The init of a new PID namespace: the parent is outside it, so
        // the harness says which namespace it was in.
        std::env::var_os(ENV_PARENT_MNT_NS)
            .map(std::path::PathBuf::from)
            .ok_or_else(|| {
                RunError::NotIsolated(format!(
                    "started as the init of a PID namespace without {ENV_PARENT_MNT_NS}"
                ))
            })?
    } else {
        let parent = format!("/proc/{ppid}/ns/mnt");
        fs::read_link(&parent).map_err(RunError::io("readlink", &parent))?
    };
    if own == theirs {
        return Err(RunError::NotIsolated(
            "the runner shares its parent's mount namespace (run it under `unshare -m --propagation private`)".into(),
        ));
    }
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(RunError::io("read", "/proc/self/mountinfo"))?;
    for l in info.lines() {
        let fields: Vec<&str> = l.split(' ').collect();
        if fields.get(4) == Some(&"/") && fields.iter().any(|f| f.starts_with("shared:")) {
            return Err(RunError::NotIsolated(
                "`/` still has shared mount propagation".into(),
            ));
        }
    }
    Ok(())
}

/// Bind `<root>/nix` over `/nix` and create the directories every run needs.
pub fn enter(root: &Path) -> Result<(), RunError> {
    ensure_private_namespace()?;
    let nix = root.join("nix");
    fs::create_dir_all(&nix).map_err(RunError::io("mkdir", &nix))?;
    bind(&nix, Path::new("/nix"))?;
    for d in [WORK, TMP, CONF_DIR, HOME, STORE, "/nix/var/nix"] {
        fs::create_dir_all(d).map_err(RunError::io("mkdir", d))?;
    }
    set_mode(Path::new(TMP), 0o1777)?;
    Ok(())
}

fn bind(from: &Path, to: &Path) -> Result<(), RunError> {
    let status = Command::new("mount")
        .arg("--bind")
        .arg(from)
        .arg(to)
        .status()
        .map_err(RunError::spawn("mount"))?;
    if !status.success() {
        return Err(RunError::Mount {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }
    Ok(())
}

/// `chmod`.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), RunError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(RunError::io("chmod", path))
}

/// Copy the scenario files into the work directory (`cp -a` keeps
/// executable bits and symlinks), and put a directory `busybox/bin/busybox`
/// next to them that the expressions import as their builder.
pub fn populate_work(scenarios: &Path) -> Result<(), RunError> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", scenarios.display()))
        .arg(WORK)
        .status()
        .map_err(RunError::spawn("cp"))?;
    if !status.success() {
        return Err(RunError::io("cp -a", scenarios)(io::Error::other(
            "cp failed",
        )));
    }
    let bin = PathBuf::from(WORK).join("busybox/bin");
    fs::create_dir_all(&bin).map_err(RunError::io("mkdir", &bin))?;
    fs::copy("/bin/busybox", bin.join("busybox")).map_err(RunError::io("copy", "/bin/busybox"))?;
    set_mode(&bin.join("busybox"), 0o555)?;
    Ok(())
}
