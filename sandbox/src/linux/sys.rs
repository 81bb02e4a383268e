//! The few system calls neither `rustix` nor `std` offers safely. Each is
//! one small function with its own `SAFETY` note.

use std::io;

/// Namespace flags for [`clone_into_namespaces`].
pub(crate) const CLONE_NEWNS: u64 = libc::CLONE_NEWNS as u64;
pub(crate) const CLONE_NEWUTS: u64 = libc::CLONE_NEWUTS as u64;
pub(crate) const CLONE_NEWIPC: u64 = libc::CLONE_NEWIPC as u64;
pub(crate) const CLONE_NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
pub(crate) const CLONE_NEWPID: u64 = libc::CLONE_NEWPID as u64;
pub(crate) const CLONE_NEWNET: u64 = libc::CLONE_NEWNET as u64;

/// `struct clone_args`, version 0 (64 bytes), from `linux/sched.h`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Which side of [`clone_into_namespaces`] we are on.
pub(crate) enum Forked {
    Parent { child: rustix::process::Pid },
    Child,
}

/// `clone3` without a new stack, like `fork`: returns 0 in the child and
/// the child's pid in the parent.
///
/// Only call this while the process has a single thread: the child gets a
/// copy of the calling thread only.
#[allow(unsafe_code)]
fn fork_like(args: &mut CloneArgs) -> io::Result<libc::c_long> {
    debug_assert_eq!(args.stack, 0);
    // SAFETY: with `stack == 0` clone3 behaves like fork(): the child
    // continues on a copy of our address space and stack, so no memory is
    // shared and nothing we hold is invalidated. The argument struct (and
    // whatever its pointers name, such as the pidfd slot) lives for the
    // whole call and its size is passed with it. The helper and the zygote
    // are single-threaded when this runs (the binary starts no threads), so
    // the child's copy of every lock and of the allocator is consistent —
    // the same condition fork() has, and the one Nix relies on for its
    // clone().
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        -1 => Err(io::Error::last_os_error()),
        r => Ok(r),
    }
}

/// Like `fork`, but the child starts in the new namespaces named by
/// `flags` (it is PID 1 if `CLONE_NEWPID` is set). The child's exit is
/// reported to us with `SIGCHLD`, as for `fork`.
pub(crate) fn clone_into_namespaces(flags: u64) -> io::Result<Forked> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    match fork_like(&mut args)? {
        0 => Ok(Forked::Child),
        pid => {
            let pid = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
                .ok_or_else(|| io::Error::other("clone3 returned an invalid pid"))?;
            Ok(Forked::Parent { child: pid })
        }
    }
}

/// Which side of [`clone_child_of_parent`] we are on.
pub(crate) enum ForkedForParent {
    Parent { pidfd: std::os::fd::OwnedFd },
    Child,
}

/// Like `fork` (`CLONE_PARENT | CLONE_PIDFD`), but the child is our
/// parent's child (it reports its exit to our parent, with the signal we
/// would: `SIGCHLD` for a process started normally), and we get a pidfd
/// for it.
#[allow(unsafe_code)]
pub(crate) fn clone_child_of_parent() -> io::Result<ForkedForParent> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: (libc::CLONE_PARENT | libc::CLONE_PIDFD) as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        // Must be 0 with CLONE_PARENT: the child then exits with the
        // signal we would (SIGCHLD, as the daemon started us).
        exit_signal: 0,
        ..CloneArgs::default()
    };
    match fork_like(&mut args)? {
        0 => Ok(ForkedForParent::Child),
        _ if pidfd < 0 => Err(io::Error::other("clone3 gave no pidfd")),
        _ => {
            use std::os::fd::FromRawFd;
            // SAFETY: the kernel just opened this descriptor for us (close-
            // on-exec, as CLONE_PIDFD makes it); nothing else owns it.
            let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd) };
            Ok(ForkedForParent::Parent { pidfd })
        }
    }
}

/// `unshare(CLONE_NEWNS)`: the calling thread gets a private copy of its
/// mount namespace.
#[allow(unsafe_code)]
pub(crate) fn unshare_mount_namespace() -> io::Result<()> {
    // SAFETY: only the mount namespace is unshared; no file descriptor
    // table or memory is touched, so nothing another thread holds can be
    // invalidated (the helper has one thread anyway).
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .map_err(Into::into)
}

/// Brings up the loopback interface of the current network namespace
/// (`SIOCSIFFLAGS` with `IFF_UP | IFF_LOOPBACK | IFF_RUNNING`), as Nix does.
#[allow(unsafe_code)]
pub(crate) fn loopback_up() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data (a name array and a union of plain
    // integers and sockaddrs); all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags =
        (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads one `struct ifreq`, which `ifr` is and
    // which outlives the call; the socket fd is open for the whole call.
    let r = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &ifr as *const libc::ifreq,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `personality(2)`: with `None` reads the current persona, otherwise sets it.
#[allow(unsafe_code)]
pub(crate) fn personality(persona: Option<u32>) -> io::Result<u32> {
    let arg = persona.map_or(0xffff_ffff, libc::c_ulong::from);
    // SAFETY: personality() takes an integer and touches no memory of ours.
    let r = unsafe { libc::personality(arg) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as u32)
}

/// Installs a seccomp BPF filter on the calling thread (`PR_SET_SECCOMP`).
#[allow(unsafe_code)]
pub(crate) fn install_seccomp_filter(program: &[libc::sock_filter]) -> io::Result<()> {
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::other("seccomp program too long"))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_SECCOMP with SECCOMP_MODE_FILTER reads `prog` and the
    // `len` instructions it points to, during the call only; both outlive it.
    // The kernel copies and verifies the program before installing it.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec
/// (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`, Linux 5.11).
#[allow(unsafe_code)]
pub(crate) fn close_range_cloexec(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: with CLOSE_RANGE_CLOEXEC the call only sets the close-on-exec
    // flag; it closes nothing, so no descriptor owned elsewhere in this
    // process becomes invalid. It takes integers and touches no memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
