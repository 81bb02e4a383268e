//! The helper's side of a running build: id maps, the go signal, the log
//! relay with Nix's `timeout` and `max-silent-time`, and the exit status.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions, kill_process, pidfd_open, waitpid};
use rustix::pty::OpenptFlags;

use super::error::{Context, SetupError, q};
use crate::protocol::{EXIT_SILENT, EXIT_TIMEOUT};
use crate::spec::{BuildSpec, SANDBOX_GID, SANDBOX_UID};

/// The pseudo-terminal the builder writes its log to (Nix uses one too).
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Pty {
    /// A raw-mode pseudo-terminal whose slave belongs to the build user.
    pub(crate) fn open(build_uid: u32) -> Result<Pty, SetupError> {
        let master =
            rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
                .context(|| "opening pseudoterminal master".into())?;
        let name = rustix::pty::ptsname(&master, Vec::new())
            .context(|| "getting the pseudoterminal slave's name".into())?;
        let path = std::path::PathBuf::from(std::ffi::OsStr::new(
            name.to_str()
                .map_err(|_| SetupError::msg("pseudoterminal name is not UTF-8"))?,
        ));
        rustix::fs::chmod(&path, Mode::from_raw_mode(0o600))
            .context(|| "changing mode of pseudoterminal slave".into())?;
        rustix::fs::chown(
            &path,
            Some(rustix::fs::Uid::from_raw(build_uid)),
            Some(rustix::fs::Gid::ROOT),
        )
        .context(|| "changing owner of pseudoterminal slave".into())?;
        rustix::pty::unlockpt(&master).context(|| "unlocking pseudoterminal".into())?;
        let slave = rustix::fs::open(
            &path,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("opening pseudoterminal slave {}", q(&path)))?;
        // Raw mode: no "\n" -> "\r\n" translation.
        let mut term = rustix::termios::tcgetattr(&slave)
            .context(|| "getting pseudoterminal attributes".into())?;
        term.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &term)
            .context(|| "putting pseudoterminal into raw mode".into())?;
        Ok(Pty { master, slave })
    }
}

/// How the build ended, from the helper's side.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Pass this code on (the builder's status).
    Code(i32),
    /// The helper killed the build; exit with `code` after printing `message`.
    Killed { code: i32, message: String },
}

/// Maps the build user into the child's user namespace (Nix:
/// `"1000 <uid> 1"`, `setgroups` denied, `"100 <gid> 1"`).
pub(crate) fn write_id_maps(child: Pid, spec: &BuildSpec) -> Result<(), SetupError> {
    let proc = format!("/proc/{}", child.as_raw_nonzero());
    for (file, contents) in [
        ("uid_map", format!("{SANDBOX_UID} {} 1", spec.build_uid)),
        ("setgroups", "deny".to_owned()),
        ("gid_map", format!("{SANDBOX_GID} {} 1", spec.build_gid)),
    ] {
        let path = format!("{proc}/{file}");
        std::fs::write(&path, contents).context(|| format!("writing '{path}'"))?;
    }
    Ok(())
}

/// Kills the build (PID 1 of its namespace, so everything in it) and reaps it.
pub(crate) fn kill_and_reap(child: Pid) {
    let _ = kill_process(child, Signal::KILL);
    let _ = reap(child);
}

fn reap(child: Pid) -> Result<i32, SetupError> {
    loop {
        match waitpid(Some(child), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = status.terminating_signal() {
                    return Ok(128 + sig);
                }
            }
            Ok(None) => {}
            Err(Errno::INTR) => {}
            Err(e) => return Err(SetupError::new("waiting for the builder", e)),
        }
    }
}

/// Reads the report pipe to its end: empty once the builder was executed,
/// otherwise the child's setup error.
pub(crate) fn read_report(report: &OwnedFd) -> Result<Option<String>, SetupError> {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(report, &mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(e) => return Err(SetupError::new("reading the build's setup report", e)),
        }
    }
    let text = String::from_utf8_lossy(&text).trim_end().to_owned();
    Ok((!text.is_empty()).then_some(text))
}

/// Relays the log until the builder exits, enforcing the time limits.
pub(crate) fn relay(child: Pid, master: &OwnedFd, spec: &BuildSpec) -> Result<Ending, SetupError> {
    let mut log = File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context(|| "duplicating stdout".into())?,
    );
    let pidfd = pidfd_open(child, PidfdFlags::empty())
        .context(|| "opening a pidfd for the builder".into())?;
    let timeout = (spec.timeout_secs > 0).then(|| Duration::from_secs(spec.timeout_secs));
    let silence = (spec.max_silent_secs > 0).then(|| Duration::from_secs(spec.max_silent_secs));
    let start = Instant::now();
    let mut last_output = start;
    let mut master_open = true;
    let mut buf = vec![0u8; 64 * 1024];

    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        if let Some(t) = timeout {
            if now >= start + t {
                kill_and_reap(child);
                return Ok(Ending::Killed {
                    code: EXIT_TIMEOUT,
                    message: format!("build timed out after {} seconds", spec.timeout_secs),
                });
            }
            next = Some(start + t);
        }
        if let Some(s) = silence {
            if master_open && now >= last_output + s {
                kill_and_reap(child);
                return Ok(Ending::Killed {
                    code: EXIT_SILENT,
                    message: format!(
                        "build timed out after {} seconds of silence",
                        spec.max_silent_secs
                    ),
                });
            }
            if master_open {
                next = Some(next.map_or(last_output + s, |n| n.min(last_output + s)));
            }
        }
        let wait = next.map(|n| {
            let d = n.saturating_duration_since(now) + Duration::from_millis(1);
            Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            }
        });

        let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
        if master_open {
            fds.push(PollFd::new(master, PollFlags::IN));
        }
        match poll(&mut fds, wait.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(SetupError::new("polling the build log", e)),
        }
        let exited = !fds[0].revents().is_empty();
        let readable = master_open && !fds[1].revents().is_empty();

        if readable {
            match read_chunk(master, &mut buf)? {
                Some(n) => {
                    last_output = Instant::now();
                    write_log(&mut log, &buf[..n], child)?;
                }
                None => master_open = false,
            }
        }
        if exited {
            // The namespace is gone, so nothing holds the slave any more:
            // what is left in the terminal is all there is.
            if master_open {
                rustix::io::ioctl_fionbio(master, true)
                    .context(|| "draining the build log".into())?;
                while let Some(n) = read_chunk(master, &mut buf)? {
                    write_log(&mut log, &buf[..n], child)?;
                }
            }
            return reap(child).map(Ending::Code);
        }
    }
}

/// One read from the terminal; `None` at its end (EIO once every slave
/// descriptor is closed; EAGAIN when draining without blocking).
fn read_chunk(master: &OwnedFd, buf: &mut [u8]) -> Result<Option<usize>, SetupError> {
    loop {
        match rustix::io::read(master, &mut *buf) {
            Ok(0) | Err(Errno::IO) | Err(Errno::AGAIN) => return Ok(None),
            Ok(n) => return Ok(Some(n)),
            Err(Errno::INTR) => {}
            Err(e) => return Err(SetupError::new("reading the build log", e)),
        }
    }
}

fn write_log(log: &mut File, bytes: &[u8], child: Pid) -> Result<(), SetupError> {
    log.write_all(bytes).map_err(|e| {
        kill_and_reap(child);
        SetupError::new("cannot write the build log", e)
    })
}
