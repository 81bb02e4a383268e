//! Helpers forked from a waiting one instead of executed afresh.
//!
//! Executing `pkgchain-sandbox` costs about a millisecond of CPU before it
//! does anything (loading and relocating the binary, and glibc's start-up,
//! whose `cpuid` queries each trap to the hypervisor on a VM), once per
//! build. So the daemon starts the binary once with `--zygote`: a
//! single-threaded process that waits on its standard input, a
//! `SOCK_SEQPACKET` socket, for requests. A request is one byte and three
//! descriptors (the new helper's stdin, stdout and stderr); the zygote
//! forks a child with `clone3(CLONE_PARENT | CLONE_PIDFD)`, which makes the
//! child the *daemon's* child (the daemon waits for it and gets its exit
//! status as for any helper it executed), and answers with one byte and
//! the child's pidfd. The child puts the three descriptors in place and
//! runs [`super::helper_main`] exactly as an executed helper would.
//!
//! The zygote exits when the daemon closes its end; the daemon falls back
//! to executing helpers if the zygote cannot be started or goes away.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg, socketpair,
};

use super::sys;

/// The argument that makes `pkgchain-sandbox` a zygote.
pub const ZYGOTE_ARG: &str = "--zygote";

const FORK: u8 = b'f';
const FORKED: u8 = b'p';
const FAILED: u8 = b'e';

/// Serves fork requests on descriptor 0 until the other end closes.
/// Returns the exit code.
pub fn zygote_main() -> i32 {
    // SAFETY of the borrow: descriptor 0 stays open for the whole loop.
    let control = std::io::stdin();
    let control = control.as_fd();
    loop {
        let fds = match receive(control, 3) {
            Ok(Some((FORK, fds))) if fds.len() == 3 => fds,
            Ok(None) => return 0,
            Ok(Some(_)) => {
                let _ = send(control, FAILED, &[]);
                continue;
            }
            Err(e) => {
                eprintln!("pkgchain-sandbox zygote: {e}");
                return 1;
            }
        };
        match sys::clone_child_of_parent() {
            Ok(sys::ForkedForParent::Child) => std::process::exit(become_helper(fds)),
            Ok(sys::ForkedForParent::Parent { pidfd }) => {
                drop(fds);
                if send(control, FORKED, &[pidfd.as_fd()]).is_err() {
                    return 1;
                }
            }
            Err(e) => {
                drop(fds);
                eprintln!("pkgchain-sandbox zygote: forking a helper: {e}");
                if send(control, FAILED, &[]).is_err() {
                    return 1;
                }
            }
        }
    }
}

/// In the forked child: the three descriptors become 0, 1 and 2 (the
/// control socket goes with the old 0), then the helper runs.
fn become_helper(fds: Vec<OwnedFd>) -> i32 {
    let placed = rustix::stdio::dup2_stdin(&fds[0])
        .and_then(|()| rustix::stdio::dup2_stdout(&fds[1]))
        .and_then(|()| rustix::stdio::dup2_stderr(&fds[2]));
    drop(fds);
    if placed.is_err() {
        return crate::protocol::EXIT_SETUP_FAILED;
    }
    super::helper_main()
}

fn send(sock: BorrowedFd<'_>, byte: u8, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    sendmsg(
        sock,
        &[IoSlice::new(&[byte])],
        &mut anc,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// One message: its byte and the descriptors it carried (close-on-exec),
/// or `None` at end of stream.
fn receive(sock: BorrowedFd<'_>, max_fds: usize) -> io::Result<Option<(u8, Vec<OwnedFd>)>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let got = loop {
        match recvmsg(
            sock,
            &mut [IoSliceMut::new(&mut byte)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    if got.bytes == 0 {
        return Ok(None);
    }
    if fds.len() > max_fds {
        return Err(io::Error::other("unexpected descriptors in a message"));
    }
    Ok(Some((byte[0], fds)))
}

/// The daemon's side: a started zygote and its control socket.
#[derive(Debug)]
pub struct Zygote {
    sock: OwnedFd,
    process: Child,
}

/// Why [`Zygote::fork_helper`] gave no helper.
#[derive(Debug)]
pub enum ForkError {
    /// The zygote is gone (or its socket broke): start another.
    Gone(io::Error),
    /// This request failed (no descriptors left, the fork refused); the
    /// zygote still serves.
    Failed(io::Error),
}

impl std::fmt::Display for ForkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForkError::Gone(e) | ForkError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ForkError {}

/// A helper the zygote forked: a child of the caller, known by its pidfd,
/// with the other ends of its standard descriptors.
#[derive(Debug)]
pub struct ForkedHelper {
    pub pidfd: OwnedFd,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl Zygote {
    /// Starts `helper` (the `pkgchain-sandbox` binary) as a zygote. Its
    /// stderr is ours.
    pub fn start(helper: &Path) -> io::Result<Zygote> {
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let process = Command::new(helper)
            .arg(ZYGOTE_ARG)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Zygote {
            sock: ours,
            process,
        })
    }

    /// Has the zygote fork a helper. Blocking (a fork: well under a
    /// millisecond); one request at a time per zygote.
    pub fn fork_helper(&mut self) -> Result<ForkedHelper, ForkError> {
        let cloexec = rustix::pipe::PipeFlags::CLOEXEC;
        let pipes = (|| {
            Ok::<_, rustix::io::Errno>((
                rustix::pipe::pipe_with(cloexec)?,
                rustix::pipe::pipe_with(cloexec)?,
                rustix::pipe::pipe_with(cloexec)?,
            ))
        })();
        let ((in_r, in_w), (out_r, out_w), (err_r, err_w)) =
            pipes.map_err(|e| ForkError::Failed(e.into()))?;
        send(
            self.sock.as_fd(),
            FORK,
            &[in_r.as_fd(), out_w.as_fd(), err_w.as_fd()],
        )
        .map_err(ForkError::Gone)?;
        drop((in_r, out_w, err_w));
        match receive(self.sock.as_fd(), 1).map_err(ForkError::Gone)? {
            Some((FORKED, mut fds)) if fds.len() == 1 => Ok(ForkedHelper {
                pidfd: fds.remove(0),
                stdin: in_w,
                stdout: out_r,
                stderr: err_r,
            }),
            Some(_) => Err(ForkError::Failed(io::Error::other(
                "the zygote could not fork a helper",
            ))),
            None => Err(ForkError::Gone(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the zygote is gone",
            ))),
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // Closing our end makes it exit; do not leave it waiting.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
