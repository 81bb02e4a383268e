//! The build process: PID 1 of the new namespaces. It finishes the chroot
//! with mounts only it can see, pivots into it, becomes the build user and
//! executes the builder — the steps of Nix's `runChild`.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{Mode, StatVfsMountFlags, statvfs};
use rustix::mount::{
    MountFlags, UnmountFlags, mount, mount_bind_recursive, mount_remount, unmount,
};
use rustix::process::{Resource, Rlimit, Signal, chroot, pivot_root, setsid};
use rustix::thread::{Gid, Uid, set_no_new_privs, set_thread_gid, set_thread_uid};

use super::error::{Context, SetupError, q};
use super::plan::{Bind, Plan};
use super::{seccomp, sys};
use crate::spec::{BuildSpec, SANDBOX_GID, SANDBOX_UID, under};

/// The descriptors the build process starts with.
#[derive(Debug)]
pub(crate) struct ChildFds {
    /// Read side of the "go" pipe: one byte once the id maps are written;
    /// end of file once the helper is gone.
    pub go: OwnedFd,
    /// Write side of the report pipe (close-on-exec): a setup error's text.
    pub report: OwnedFd,
    /// The pseudo-terminal slave: the builder's stdout and stderr.
    pub tty: OwnedFd,
    /// `/dev/null`: the builder's stdin.
    pub null: OwnedFd,
}

/// Sets everything up and executes the builder; returns only on failure.
pub(crate) fn run(spec: &BuildSpec, plan: &Plan, fds: &ChildFds) -> SetupError {
    match setup_and_exec(spec, plan, fds) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn setup_and_exec(spec: &BuildSpec, plan: &Plan, fds: &ChildFds) -> Result<Never, SetupError> {
    let mut byte = [0u8; 1];
    let n = rustix::io::read(&fds.go, &mut byte).context(|| "waiting for the id maps".into())?;
    if n != 1 {
        return Err(SetupError::msg("user namespace initialisation failed"));
    }

    // A session of its own: no controlling terminal, no terminal signals.
    setsid().context(|| "creating a new session".into())?;

    if !spec.network {
        sys::loopback_up().context(|| "cannot set loopback interface flags".into())?;
    }
    rustix::system::sethostname(b"localhost").context(|| "cannot set host name".into())?;
    rustix::system::setdomainname(b"(none)").context(|| "cannot set domain name".into())?;

    let root = spec.chroot_root.as_path();
    // Every mount here is private already: this namespace is a copy of the
    // helper's, which made them so before cloning us (see `super::run`), so
    // nothing mounted below propagates to the host.
    // pivot_root needs the new root to be a mount point; recursive, for the
    // scratch mounts on /etc and /dev.
    mount_bind_recursive(root, root).context(|| format!("unable to bind mount {}", q(root)))?;

    if plan.minimal_dev {
        minimal_dev(root)?;
    }
    let mut binder = Binder::new(root);
    for b in &plan.binds {
        binder.bind(b)?;
    }

    let proc_dir = root.join("proc");
    mkdirs(&proc_dir)?;
    mount("none", &proc_dir, "proc", MountFlags::empty(), None)
        .context(|| "mounting /proc".into())?;

    if Path::new("/dev/shm").exists() {
        let opts = std::ffi::CString::new(format!("size={}", spec.shm_size))
            .map_err(|_| SetupError::msg("invalid sandbox-dev-shm-size"))?;
        mount(
            "none",
            root.join("dev/shm"),
            "tmpfs",
            MountFlags::empty(),
            Some(opts.as_c_str()),
        )
        .context(|| "mounting /dev/shm".into())?;
    }
    if plan.devpts && !root.join("dev/ptmx").exists() {
        devpts(&mut binder)?;
    }
    binder.finish()?;

    enter_root(root)?;

    set_thread_gid(Gid::from_raw(SANDBOX_GID)).context(|| "setgid failed".into())?;
    set_thread_uid(Uid::from_raw(SANDBOX_UID)).context(|| "setuid failed".into())?;

    let build = &spec.sandbox_build_dir;
    rustix::process::chdir(build).context(|| format!("changing into {}", q(build)))?;

    set_personality(spec)?;
    // No core dumps (Nix's default); a lower hard limit leaves this failing.
    let _ = rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: None,
        },
    );
    if spec.filter_syscalls {
        if !spec.allow_new_privileges {
            set_no_new_privs(true).context(|| "setting no_new_privs".into())?;
        }
        let prog = seccomp::program()
            .ok_or_else(|| SetupError::msg("seccomp is not supported on this platform"))?;
        sys::install_seccomp_filter(&prog)
            .context(|| "unable to load seccomp BPF program".into())?;
    }

    // Die with the helper. Set after setuid, which clears it; then make sure
    // the helper did not die before it was set.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .context(|| "setting the parent death signal".into())?;
    let mut pfd = [PollFd::new(&fds.go, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut pfd, Some(&zero)).context(|| "polling the helper".into())?;
    if pfd[0].revents().contains(PollFlags::HUP) {
        return Err(SetupError::msg("the helper went away"));
    }

    rustix::stdio::dup2_stdin(&fds.null).context(|| "cannot dup null device into stdin".into())?;
    rustix::stdio::dup2_stdout(&fds.tty).context(|| "cannot dup the log into stdout".into())?;
    rustix::stdio::dup2_stderr(&fds.tty).context(|| "cannot dup the log into stderr".into())?;
    sys::close_range_cloexec(3).context(|| "closing file descriptors".into())?;

    let err = builder_command(spec).exec();
    Err(SetupError::new(
        format!("executing '{}'", String::from_utf8_lossy(&spec.builder)),
        err,
    ))
}

/// `execve(builder, [basename(builder), args…], env)`, strings cut at the
/// first NUL as C would.
fn builder_command(spec: &BuildSpec) -> Command {
    let builder = c_bytes(&spec.builder);
    // execve() resolves a name without '/' against the cwd, not PATH.
    let program = if builder.contains(&b'/') {
        builder.to_vec()
    } else {
        [b"./".as_slice(), builder].concat()
    };
    let trimmed = builder.strip_suffix(b"/").unwrap_or(builder);
    let base = trimmed.rsplit(|&b| b == b'/').next().unwrap_or(trimmed);
    let mut cmd = Command::new(OsStr::from_bytes(&program));
    cmd.arg0(OsStr::from_bytes(base));
    cmd.args(spec.args.iter().map(|a| OsStr::from_bytes(c_bytes(a))));
    cmd.env_clear();
    for (k, v) in &spec.env {
        cmd.env(OsStr::from_bytes(c_bytes(k)), OsStr::from_bytes(c_bytes(v)));
    }
    cmd
}

fn c_bytes(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

fn mkdirs(path: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(path).context(|| format!("creating directory {}", q(path)))
}

/// Nix's nearly empty `/dev`: directories for shm and pts, and the
/// descriptor symlinks (the devices are bind mounts in the plan).
fn minimal_dev(root: &Path) -> Result<(), SetupError> {
    let dev = root.join("dev");
    mkdirs(&dev.join("shm"))?;
    mkdirs(&dev.join("pts"))?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = dev.join(link);
        symlink(target, &path).context(|| format!("creating symlink {}", q(&path)))?;
    }
    Ok(())
}

/// Makes the chroot's bind mounts, with what they share: the flags of the
/// mounts sources are on (asked once per mount: every input of a build
/// usually comes from one, the store), and the empty file that mount
/// points for file sources are hard links of. Creating a file costs an
/// inode (on this project's ext4 disks 25 times what a link costs, ~200 µs
/// against 8); the bind mount hides what is under it anyway. The stub
/// lives in the chroot's root directory until [`Binder::finish`].
struct Binder<'a> {
    root: &'a Path,
    /// Flags by mount id.
    flags_of: std::collections::HashMap<u64, StatVfsMountFlags>,
    stub: std::path::PathBuf,
    stub_made: bool,
}

impl<'a> Binder<'a> {
    fn new(root: &'a Path) -> Self {
        Binder {
            root,
            flags_of: std::collections::HashMap::new(),
            stub: root.join(".mount-stub"),
            stub_made: false,
        }
    }

    /// An empty file at `target` to mount on.
    fn file_mount_point(&mut self, target: &Path) -> Result<(), SetupError> {
        if !self.stub_made {
            fs::File::create_new(&self.stub)
                .context(|| format!("creating mount point stub {}", q(&self.stub)))?;
            self.stub_made = true;
        }
        match fs::hard_link(&self.stub, target) {
            Ok(()) => Ok(()),
            // Already there (a file the plan writes, say), or no links here:
            // an empty file of its own.
            Err(_) => {
                fs::write(target, b"").context(|| format!("creating mount point {}", q(target)))
            }
        }
    }

    /// Removes the stub (its links stay, as mount points).
    fn finish(self) -> Result<(), SetupError> {
        if self.stub_made {
            fs::remove_file(&self.stub)
                .context(|| format!("removing mount point stub {}", q(&self.stub)))?;
        }
        Ok(())
    }

    /// Nix's `doBind`: creates the mount point like the source (directory
    /// or empty file) and bind-mounts recursively; inputs are then made
    /// read-only.
    fn bind(&mut self, b: &Bind) -> Result<(), SetupError> {
        let what = || format!("cannot bind-mount {} to {}", q(&b.source), q(&b.inside));
        let meta = match rustix::fs::statx(
            rustix::fs::CWD,
            &b.source,
            rustix::fs::AtFlags::empty(),
            rustix::fs::StatxFlags::TYPE | rustix::fs::StatxFlags::MNT_ID,
        ) {
            Ok(m) => m,
            Err(rustix::io::Errno::NOENT) if b.optional => return Ok(()),
            Err(e) => return Err(SetupError::new(what(), e)),
        };
        let is_dir = rustix::fs::FileType::from_raw_mode(meta.stx_mode.into())
            == rustix::fs::FileType::Directory;
        // The mount the source is on, when the kernel says (Linux 5.8).
        let mount_id = rustix::fs::StatxFlags::from_bits_retain(meta.stx_mask)
            .contains(rustix::fs::StatxFlags::MNT_ID)
            .then_some(meta.stx_mnt_id);
        let target = under(self.root, &b.inside);
        if is_dir {
            mkdirs(&target)?;
        } else {
            if let Some(parent) = target.parent() {
                mkdirs(parent)?;
            }
            self.file_mount_point(&target)?;
        }
        mount_bind_recursive(&b.source, &target).context(what)?;
        if b.read_only {
            // A remount must repeat the flags the kernel locked on this
            // mount, which are those of the mount the source is on.
            let have = match mount_id.and_then(|id| self.flags_of.get(&id)) {
                Some(have) => *have,
                None => {
                    let have = statvfs(&target).context(what)?.f_flag;
                    if let Some(id) = mount_id {
                        self.flags_of.insert(id, have);
                    }
                    have
                }
            };
            // A bind of a read-only mount (the daemon's store view) is
            // read-only already: nothing to remount.
            if have.contains(StatVfsMountFlags::RDONLY) {
                return Ok(());
            }
            let mut flags = MountFlags::BIND | MountFlags::RDONLY;
            for (st, ms) in [
                (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
                (StatVfsMountFlags::NODEV, MountFlags::NODEV),
                (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
                (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
                (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
                (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
            ] {
                if have.contains(st) {
                    flags |= ms;
                }
            }
            mount_remount(&target, flags, "")
                .context(|| format!("cannot make {} read-only", q(&b.inside)))?;
        }
        Ok(())
    }
}

/// A fresh devpts instance, or the host's if the kernel has no instances.
fn devpts(binder: &mut Binder<'_>) -> Result<(), SetupError> {
    let root = binder.root;
    let pts = root.join("dev/pts");
    match mount(
        "none",
        &pts,
        "devpts",
        MountFlags::empty(),
        Some(c"newinstance,mode=0620"),
    ) {
        Ok(()) => {
            let ptmx = root.join("dev/ptmx");
            symlink("/dev/pts/ptmx", &ptmx).context(|| format!("creating symlink {}", q(&ptmx)))?;
            // Some kernels create it with mode 0.
            let node = pts.join("ptmx");
            fs::set_permissions(&node, fs::Permissions::from_mode(0o666))
                .context(|| format!("setting permissions on {}", q(&node)))?;
            Ok(())
        }
        Err(rustix::io::Errno::INVAL) => {
            for dev in ["/dev/pts", "/dev/ptmx"] {
                let b = Bind {
                    inside: dev.into(),
                    source: dev.into(),
                    optional: false,
                    read_only: false,
                };
                binder.bind(&b)?;
            }
            Ok(())
        }
        Err(e) => Err(SetupError::new("mounting /dev/pts", e)),
    }
}

/// `pivot_root` into the chroot and drop the old root.
fn enter_root(root: &Path) -> Result<(), SetupError> {
    rustix::process::chdir(root).context(|| format!("cannot change directory to {}", q(root)))?;
    rustix::fs::mkdir("real-root", Mode::empty())
        .context(|| "cannot create real-root directory".into())?;
    pivot_root(".", "real-root").context(|| {
        format!(
            "cannot pivot old root directory onto {}",
            q(&root.join("real-root"))
        )
    })?;
    chroot(".").context(|| format!("cannot change root directory to {}", q(root)))?;
    unmount("real-root", UnmountFlags::DETACH)
        .context(|| "cannot unmount real root filesystem".into())?;
    fs::remove_dir("real-root").context(|| "cannot remove real-root directory".into())?;
    Ok(())
}

const PER_LINUX32: u32 = 0x0008;
const UNAME26: u32 = 0x0020000;
const ADDR_NO_RANDOMIZE: u32 = 0x0040000;

/// 32-bit personality for 32-bit systems, optional Linux 2.6 impersonation,
/// and no address space randomisation, as Nix sets them.
fn set_personality(spec: &BuildSpec) -> Result<(), SetupError> {
    let system = spec.system.as_str();
    let uname = rustix::system::uname();
    let on_x86_64 = uname.machine().to_bytes() == b"x86_64";
    if (system == "i686-linux" && on_x86_64) || system == "armv7l-linux" || system == "armv6l-linux"
    {
        sys::personality(Some(PER_LINUX32)).context(|| "cannot set 32-bit personality".into())?;
    }
    if (system == "i686-linux" || system == "x86_64-linux") && spec.impersonate_linux_26 {
        if let Ok(cur) = sys::personality(None) {
            let _ = sys::personality(Some(cur | UNAME26));
        }
    }
    if let Ok(cur) = sys::personality(None) {
        let _ = sys::personality(Some(cur | ADDR_NO_RANDOMIZE));
    }
    Ok(())
}
