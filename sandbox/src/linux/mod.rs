//! The `pkgchain-sandbox` helper: one build in Linux namespaces.
//!
//! The helper is its own single-threaded process (the daemon execs it and
//! never forks itself). It
//! 1. reads and checks the [`BuildSpec`] from stdin;
//! 2. enters a private mount namespace of its own, makes the host side of
//!    the chroot ([`prepare`]) and a pseudo-terminal for the log;
//! 3. clones a child into new user, mount, PID, IPC and UTS namespaces (and
//!    a new network namespace unless `network`) — the child is PID 1 there;
//! 4. maps the build user to 1000/100 in the child's user namespace and
//!    lets it go on ([`supervise::write_id_maps`]);
//! 5. the child ([`child`]) mounts the rest of the chroot, pivots into it,
//!    becomes 1000/100 and executes the builder;
//! 6. the helper relays the log and enforces the time limits
//!    ([`supervise::relay`]), then exits as [`crate::protocol`] says.
//!
//! Every mount happens in the helper's or the child's private mount
//! namespace, which die with the build; the host sees only the files under
//! `chroot_root`.

mod child;
mod error;
mod plan;
mod prepare;
mod seccomp;
mod supervise;
mod sys;
pub mod zygote;

use std::io::Read;
use std::path::Path;

pub use error::SetupError;

use crate::codec::MAX_SPEC_LEN;
use crate::protocol::{EXIT_SETUP_FAILED, MESSAGE_PREFIX};
use crate::spec::BuildSpec;
use error::Context;
use supervise::Ending;

/// Runs the helper: spec on stdin, log on stdout, status as the exit code.
/// Returns the code to exit with.
pub fn helper_main() -> i32 {
    // Like nix-daemon; the builder inherits it.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let result = read_spec().and_then(|spec| run(&spec));
    match result {
        Ok(Ending::Code(code)) => code,
        Ok(Ending::Killed { code, message }) => {
            eprintln!("{MESSAGE_PREFIX}{message}");
            code
        }
        Err(e) => {
            eprintln!("{MESSAGE_PREFIX}{}", e.line());
            EXIT_SETUP_FAILED
        }
    }
}

fn read_spec() -> Result<BuildSpec, SetupError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_SPEC_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .context(|| "reading the build spec from stdin".into())?;
    let spec = BuildSpec::decode(&bytes)
        .map_err(|e| SetupError::msg(format!("cannot decode the build spec: {e}")))?;
    spec.validate()
        .map_err(|e| SetupError::msg(format!("invalid build spec: {e}")))?;
    Ok(spec)
}

/// Runs the build described by `spec` in this (single-threaded) process.
fn run(spec: &BuildSpec) -> Result<Ending, SetupError> {
    let plan = plan::Plan::new(spec, &|p: &Path| p.symlink_metadata().is_ok());
    // A mount namespace of our own, private: the chroot's scratch mounts
    // ([`prepare`]) are made in it, the build's namespace is a copy of it,
    // and they end with us whatever happens.
    sys::unshare_mount_namespace().context(|| "unsharing the mount namespace".into())?;
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .context(|| "unable to make '/' private".into())?;
    prepare::host_side(spec, &plan)?;
    let pty = supervise::Pty::open(spec.build_uid)?;
    let cloexec = rustix::pipe::PipeFlags::CLOEXEC;
    let (go_read, go_write) =
        rustix::pipe::pipe_with(cloexec).context(|| "creating a pipe".into())?;
    let (report_read, report_write) =
        rustix::pipe::pipe_with(cloexec).context(|| "creating a pipe".into())?;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .context(|| "cannot open '/dev/null'".into())?;

    // Supplementary groups cannot be dropped inside the user namespace.
    if rustix::process::getuid().is_root() {
        rustix::thread::set_thread_groups(&[]).context(|| "setgroups failed".into())?;
    }
    let mut flags = sys::CLONE_NEWUSER
        | sys::CLONE_NEWNS
        | sys::CLONE_NEWPID
        | sys::CLONE_NEWIPC
        | sys::CLONE_NEWUTS;
    if !spec.network {
        flags |= sys::CLONE_NEWNET;
    }
    match sys::clone_into_namespaces(flags).context(|| "cloning builder process".into())? {
        sys::Forked::Child => {
            drop((go_write, report_read, pty.master));
            let fds = child::ChildFds {
                go: go_read,
                report: report_write,
                tty: pty.slave,
                null,
            };
            let err = child::run(spec, &plan, &fds);
            let _ = rustix::io::write(&fds.report, format!("{}\n", err.line()).as_bytes());
            std::process::exit(EXIT_SETUP_FAILED);
        }
        sys::Forked::Parent { child } => {
            drop((go_read, report_write, pty.slave, null));
            if let Err(e) = supervise::write_id_maps(child, spec) {
                supervise::kill_and_reap(child);
                return Err(e);
            }
            // The go byte; `go_write` then stays open for as long as we live.
            rustix::io::write(&go_write, b"1").context(|| "starting the builder".into())?;
            if let Some(message) = supervise::read_report(&report_read)? {
                supervise::kill_and_reap(child);
                return Err(SetupError::msg(message));
            }
            let ending = supervise::relay(child, &pty.master, spec);
            drop(go_write);
            ending
        }
    }
}
