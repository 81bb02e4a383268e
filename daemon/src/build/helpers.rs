//! Sandbox helpers started ahead of need. Starting `pkgchain-sandbox`
//! (fork, exec, loading the binary) takes about a millisecond, which in a
//! chain of derivations lies between one build's end and the next one's
//! start. A helper waits for its spec on standard input before it does
//! anything, so one can be started early: a build takes a waiting helper
//! and starts the next in the background, off the build's path.
//!
//! Helpers are forked by a zygote (`sandbox::zygote`): one
//! `pkgchain-sandbox --zygote` started with the first helper, which forks
//! each next one as a child of the daemon. That saves the exec and the
//! program's start-up, about a millisecond of CPU per build (on a VM most
//! of it glibc's `cpuid` queries at start-up, each a trap to the
//! hypervisor). If the zygote cannot be started, helpers are executed as
//! before; one that went away is started again.
//!
//! At most [`KEEP`] wait at a time; each is an idle process blocked in
//! `read` (about 1 MB resident). They are killed when the daemon drops the
//! pool, and exit by themselves (reading an empty spec) if it dies.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use sandbox::zygote::{ForkError, ForkedHelper, Zygote};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

/// Helpers kept waiting: one per build slot of a two-core machine, the
/// common `max-jobs`; more slots take fresh helpers once these are used.
pub const KEEP: usize = 2;

/// The waiting helpers.
#[derive(Debug)]
pub struct Helpers {
    path: PathBuf,
    idle: Mutex<Vec<Helper>>,
    zygote: Mutex<ZygoteState>,
}

#[derive(Debug)]
enum ZygoteState {
    NotStarted,
    Running(Zygote),
    /// It could not be started: helpers are executed.
    Unavailable,
}

/// A started helper, with the daemon's ends of its standard descriptors.
/// Forked by the zygote or executed, it is the daemon's child, known by a
/// pidfd: waited for, killed and reaped through it.
#[derive(Debug)]
pub struct Helper {
    pub stdin: Option<pipe::Sender>,
    pub stdout: Option<pipe::Receiver>,
    pub stderr: Option<pipe::Receiver>,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Helper {
    /// Executes `program` with piped standard descriptors.
    fn executed(program: &std::path::Path) -> std::io::Result<Helper> {
        let mut child = std::process::Command::new(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pidfd = match rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&child),
            rustix::process::PidfdFlags::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.into());
            }
        };
        let missing = || std::io::Error::other("helper without a pipe");
        // Dropping `child` neither kills nor waits: the pidfd does both.
        let parts = ForkedHelper {
            pidfd,
            stdin: child.stdin.take().ok_or_else(missing)?.into(),
            stdout: child.stdout.take().ok_or_else(missing)?.into(),
            stderr: child.stderr.take().ok_or_else(missing)?.into(),
        };
        Self::from_parts(parts)
    }

    /// Takes over a started helper; one that cannot be is killed and
    /// reaped, not left a zombie of ours.
    fn from_parts(f: ForkedHelper) -> std::io::Result<Helper> {
        let spare = f.pidfd.try_clone();
        let made = Self::register(f);
        if made.is_err() {
            if let Ok(fd) = spare {
                let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
                std::thread::spawn(move || reap(&fd, true));
            }
        }
        made
    }

    #[allow(unsafe_code)]
    fn register(f: ForkedHelper) -> std::io::Result<Helper> {
        // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open
        // and names the same pidfd for as long as it is registered.
        let pidfd =
            unsafe { AsyncFd::register_with_interest(f.pidfd, tokio::io::Interest::READABLE) }
                .map_err(std::io::Error::from)?;
        Ok(Helper {
            stdin: Some(pipe::Sender::from_owned_fd(f.stdin)?),
            stdout: Some(pipe::Receiver::from_owned_fd(f.stdout)?),
            stderr: Some(pipe::Receiver::from_owned_fd(f.stderr)?),
            pidfd,
            status: None,
        })
    }

    /// Waits for the helper to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            self.pidfd.readable().await?.clear_ready();
        }
    }

    /// The exit status if the helper has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = reap(self.pidfd.get_ref(), false)?;
        }
        Ok(self.status)
    }

    /// The helper's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        if self.status.is_some() {
            return None;
        }
        use std::os::fd::AsRawFd;
        let info = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            self.pidfd.get_ref().as_raw_fd()
        ))
        .ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("Pid:"))
            .and_then(|p| p.trim().parse().ok())
    }

    /// Kills the helper (it is reaped by [`Helper::wait`], or when dropped).
    pub fn kill(&mut self) -> std::io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        rustix::process::pidfd_send_signal(self.pidfd.get_ref(), rustix::process::Signal::KILL)
            .map_err(Into::into)
    }
}

/// Reaps the exited child `pidfd` names (`block`: waiting for it to exit).
fn reap(pidfd: &OwnedFd, block: bool) -> std::io::Result<Option<ExitStatus>> {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let mut opts = WaitIdOptions::EXITED;
    if !block {
        opts |= WaitIdOptions::NOHANG;
    }
    let st = loop {
        match waitid(WaitId::PidFd(std::os::fd::AsFd::as_fd(pidfd)), opts) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    Ok(
        st.map(|st| match (st.exit_status(), st.terminating_signal()) {
            (Some(code), _) => ExitStatus::from_raw((code & 0xff) << 8),
            (None, sig) => {
                let sig = sig.unwrap_or(rustix::process::Signal::KILL.as_raw());
                ExitStatus::from_raw(sig | if st.dumped() { 0x80 } else { 0 })
            }
        }),
    )
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Not waited for: killed, and reaped on a thread of its own.
        if self.status.is_none() {
            let _ = self.kill();
            if let Ok(fd) = self.pidfd.get_ref().try_clone() {
                std::thread::spawn(move || reap(&fd, true));
            }
        }
    }
}

impl Helpers {
    pub fn new(path: PathBuf) -> Self {
        Helpers {
            path,
            idle: Mutex::new(Vec::new()),
            zygote: Mutex::new(ZygoteState::NotStarted),
        }
    }

    /// The helper program.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// A started helper, spec not sent yet: a waiting one if one is still
    /// alive, a new one otherwise. Starts a replacement in the background.
    /// Must be called from within the runtime.
    pub fn take(self: &Arc<Self>) -> std::io::Result<Helper> {
        let waiting = {
            let mut idle = self.lock();
            let mut found = None;
            while let Some(mut c) = idle.pop() {
                if matches!(c.try_wait(), Ok(None)) {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let child = match waiting {
            Some(c) => c,
            None => self.start()?,
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.refill());
        Ok(child)
    }

    /// Starts helpers until [`KEEP`] wait (or one fails to start: the next
    /// build then reports why).
    fn refill(&self) {
        while self.lock().len() < KEEP {
            let Ok(c) = self.start() else { return };
            let mut idle = self.lock();
            if idle.len() < KEEP {
                idle.push(c);
            }
        }
    }

    fn start(&self) -> std::io::Result<Helper> {
        match self.fork() {
            Some(h) => Ok(h),
            None => Helper::executed(&self.path),
        }
    }

    /// A helper forked by the zygote (started if need be, and started
    /// again once if it went away), or `None` to execute one instead.
    fn fork(&self) -> Option<Helper> {
        let mut z = self.zygote.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let fresh = matches!(*z, ZygoteState::NotStarted);
            if fresh {
                *z = match Zygote::start(&self.path) {
                    Ok(started) => ZygoteState::Running(started),
                    Err(_) => ZygoteState::Unavailable,
                };
            }
            let ZygoteState::Running(zygote) = &mut *z else {
                return None;
            };
            match zygote.fork_helper() {
                Ok(f) => return Helper::from_parts(f).ok(),
                // One that just started and cannot fork never will.
                Err(_) if fresh => *z = ZygoteState::Unavailable,
                // This one helper is executed instead.
                Err(ForkError::Failed(_)) => return None,
                Err(ForkError::Gone(_)) => *z = ZygoteState::NotStarted,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Helper>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many helpers wait now.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn helpers_wait_ahead_and_dead_ones_are_skipped() {
        // `cat` stands in for the helper: it waits for its standard input.
        let helpers = Arc::new(Helpers::new(PathBuf::from("/bin/cat")));
        let first = helpers.take().expect("started");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while helpers.waiting() < KEEP {
            assert!(
                std::time::Instant::now() < deadline,
                "no helpers started ahead"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // A waiting helper that died is not handed out.
        let ids: Vec<u32> = {
            let idle = helpers.lock();
            idle.iter().filter_map(Helper::id).collect()
        };
        assert_eq!(ids.len(), KEEP);
        let victim = ids[KEEP - 1];
        std::process::Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .expect("kill");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut second = helpers.take().expect("taken");
        assert_ne!(second.id(), Some(victim));
        assert!(ids.contains(&second.id().expect("alive")));
        // It is a working helper: what it is sent comes back.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stdin = second.stdin.take().expect("stdin");
        stdin.write_all(b"spec").await.expect("write");
        drop(stdin);
        let mut out = String::new();
        second
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .await
            .expect("read");
        assert_eq!(out, "spec");
        drop(first);
    }
}
