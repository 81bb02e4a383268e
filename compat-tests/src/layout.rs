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
//! propagation is private, and its network namespace differs too. Files a
//! scenario plants outside `/nix` ([`plant_host_file`]) go on tmpfs mounts of
//! this namespace, never on the host's disk.

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
/// The process id of the daemon the runner started.
pub const DAEMON_PID: &str = "/nix/compat/daemon.pid";
/// The store directory.
pub const STORE: &str = "/nix/store";
/// The daemon socket (the default one, which `NIX_REMOTE=daemon` uses).
pub const SOCKET: &str = "/nix/var/nix/daemon-socket/socket";
/// The harness's mount namespace (`mnt:[…]`), for a runner that is the
/// init of its own PID namespace and so cannot see its parent.
pub const ENV_PARENT_MNT_NS: &str = "COMPAT_PARENT_MNT_NS";
/// The harness's network namespace (`net:[…]`), likewise.
pub const ENV_PARENT_NET_NS: &str = "COMPAT_PARENT_NET_NS";

/// The namespace of kind `kind` (`mnt`, `net`) this process's parent is
/// in; for the init of a PID namespace, whose parent is outside it, the
/// one the harness named in `env`.
fn parent_namespace(kind: &str, env: &str) -> Result<std::path::PathBuf, RunError> {
    let ppid = std::os::unix::process::parent_id();
    if ppid == 0 {
        return std::env::var_os(env)
            .map(std::path::PathBuf::from)
            .ok_or_else(|| {
                RunError::NotIsolated(format!(
                    "started as the init of a PID namespace without {env}"
                ))
            });
    }
    let parent = format!("/proc/{ppid}/ns/{kind}");
    fs::read_link(&parent).map_err(RunError::io("readlink", &parent))
}
/// `--state-dir` given to our daemon.
pub const OURS_STATE: &str = "/nix/var/pkgchain";

/// Make sure this process is in its own mount namespace with private
/// propagation, so that the mounts below cannot leak to the host.
pub fn ensure_private_namespace() -> Result<(), RunError> {
    let own = fs::read_link("/proc/self/ns/mnt")
        .map_err(RunError::io("readlink", "/proc/self/ns/mnt"))?;
    let theirs = parent_namespace("mnt", ENV_PARENT_MNT_NS)?;
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

/// Where [`plant_host_file`] keeps the original directories it covers.
pub const HOST_KEEP: &str = "/nix/compat/host";

/// Make sure this process has a network namespace of its own (so that the
/// servers a scenario starts cannot clash with the host's or with another
/// run's), and bring its loopback interface up.
pub fn enter_private_network() -> Result<(), RunError> {
    let own = fs::read_link("/proc/self/ns/net")
        .map_err(RunError::io("readlink", "/proc/self/ns/net"))?;
    let theirs = parent_namespace("net", ENV_PARENT_NET_NS)?;
    if own == theirs {
        return Err(RunError::NotIsolated(
            "the runner shares its parent's network namespace (run it under `unshare --net`)"
                .into(),
        ));
    }
    run_tool("/bin/busybox", &["ip", "link", "set", "lo", "up"])
}

fn run_tool(program: &str, args: &[&str]) -> Result<(), RunError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(RunError::spawn(program))?;
    if !out.status.success() {
        return Err(RunError::Harness {
            command: format!("{program} {}", args.join(" ")),
            exit: crate::exec::exit_code(out.status),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
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
    mount(&["--bind"], from, to)
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

/// Write `contents` to `path` (absolute, outside `/nix`) so that only this
/// run's mount namespace sees it. The deepest existing directory on its path
/// (not `/`) is covered, and missing directories below it are made on the
/// tmpfs. The first time a directory is covered, it is
/// bind-mounted (recursively) to `HOST_KEEP/<dir>`, covered by a tmpfs with
/// the same mode and owner, and each original entry is recreated there (a
/// symlink as a symlink, anything else bind-mounted back from the kept
/// copy), so everything that was reachable through it still is. Nothing is
/// written to the host's directory.
pub fn plant_host_file(path: &Path, contents: &[u8]) -> Result<(), RunError> {
    ensure_private_namespace()?;
    let bad = |why: &str| RunError::NotIsolated(format!("cannot plant {}: {why}", path.display()));
    let dir = match path.parent() {
        Some(d) if path.is_absolute() && d != Path::new("/") => d,
        _ => return Err(bad("not an absolute path in a directory other than /")),
    };
    if dir.starts_with("/nix") {
        return Err(bad("it is under /nix"));
    }
    // The deepest directory that exists on the host is the one covered.
    let mut cover = dir;
    while !cover.is_dir() {
        cover = match cover.parent() {
            Some(p) if p != Path::new("/") => p,
            _ => return Err(bad("no directory of its path but / exists")),
        };
    }
    cover_directory(cover)?;
    fs::create_dir_all(dir).map_err(RunError::io("mkdir", dir))?;
    fs::write(path, contents).map_err(RunError::io("write", path))?;
    // Kept for a client root's view too (`graft_planted`).
    let copy = Path::new(PLANTED).join(path.strip_prefix("/").unwrap_or(path));
    if let Some(parent) = copy.parent() {
        fs::create_dir_all(parent).map_err(RunError::io("mkdir", parent))?;
    }
    fs::write(&copy, contents).map_err(RunError::io("write", &copy))
}

/// Copies of the files planted so far, at their paths below this.
const PLANTED: &str = "/nix/compat/planted";

/// Plants the files planted on the host so far in the root file system at
/// `root` as well (a client root's read-only view, whose reference daemon
/// must meet them where ours does): each top-level directory that holds
/// one is covered there by an empty tmpfs of the same mode.
pub fn graft_planted(root: &Path) -> Result<(), RunError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(tops) = fs::read_dir(PLANTED) else {
        return Ok(());
    };
    for top in tops {
        let top = top.map_err(RunError::io("read", PLANTED))?;
        let target = root.join(top.file_name());
        let meta = fs::metadata(&target).map_err(RunError::io("stat", &target))?;
        let opts = format!(
            "mode={:o},uid={},gid={}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        );
        mount(&["-t", "tmpfs", "-o", &opts], Path::new("tmpfs"), &target)?;
        copy_tree(&top.path(), &target)?;
    }
    Ok(())
}

/// Copies the directories and files below `from` into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), RunError> {
    for entry in fs::read_dir(from).map_err(RunError::io("read", from))? {
        let entry = entry.map_err(RunError::io("read", from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry
            .file_type()
            .map_err(RunError::io("stat", &src))?
            .is_dir()
        {
            fs::create_dir_all(&dst).map_err(RunError::io("mkdir", &dst))?;
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(RunError::io("copy", &src))?;
        }
    }
    Ok(())
}

/// Cover `dir` with a tmpfs that shows the same entries (see
/// [`plant_host_file`]); does nothing if it is already covered.
fn cover_directory(dir: &Path) -> Result<(), RunError> {
    use std::os::unix::fs::{MetadataExt, symlink};
    let keep = Path::new(HOST_KEEP).join(dir.strip_prefix("/").unwrap_or(dir));
    if !keep.exists() {
        let meta = fs::metadata(dir).map_err(RunError::io("stat", dir))?;
        fs::create_dir_all(&keep).map_err(RunError::io("mkdir", &keep))?;
        mount(&["--rbind"], dir, &keep)?;
        let opts = format!(
            "mode={:o},uid={},gid={}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        );
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir)
            .status()
            .map_err(RunError::spawn("mount"))?;
        if !status.success() {
            return Err(RunError::Mount {
                from: "tmpfs".into(),
                to: dir.to_owned(),
            });
        }
        let entries = fs::read_dir(&keep).map_err(RunError::io("readdir", &keep))?;
        for entry in entries {
            let entry = entry.map_err(RunError::io("readdir", &keep))?;
            let from = entry.path();
            let to = dir.join(entry.file_name());
            let ty = entry.file_type().map_err(RunError::io("stat", &from))?;
            if ty.is_symlink() {
                let target = fs::read_link(&from).map_err(RunError::io("readlink", &from))?;
                symlink(&target, &to).map_err(RunError::io("symlink", &to))?;
                continue;
            }
            if ty.is_dir() {
                fs::create_dir(&to).map_err(RunError::io("mkdir", &to))?;
            } else {
                fs::write(&to, b"").map_err(RunError::io("create", &to))?;
            }
            mount(&["--rbind"], &from, &to)?;
        }
    }
    Ok(())
}

/// `mount ARGS FROM TO`.
pub fn mount(args: &[&str], from: &Path, to: &Path) -> Result<(), RunError> {
    run_mount(
        args.iter()
            .map(std::ffi::OsStr::new)
            .chain([from.as_os_str(), to.as_os_str()]),
        from,
        to,
    )
}

/// Runs `mount` with `args`; a failure names the mount from `from` at `to`.
fn run_mount<'a>(
    args: impl IntoIterator<Item = &'a std::ffi::OsStr>,
    from: &Path,
    to: &Path,
) -> Result<(), RunError> {
    let status = Command::new("mount")
        .args(args)
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

/// `from` bound at `to` (with what is mounted below it when `recursive`),
/// then made read-only there.
pub fn bind_read_only(from: &Path, to: &Path, recursive: bool) -> Result<(), RunError> {
    mount(&[if recursive { "--rbind" } else { "--bind" }], from, to)?;
    let remount = ["-o", "remount,bind,ro"].map(std::ffi::OsStr::new);
    run_mount(remount.into_iter().chain([to.as_os_str()]), from, to)
}
