//! The two daemons under comparison and how each is started and stopped
//! inside a run's namespace.

use std::fs::{self, File};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::RunError;
use crate::layout;

/// Environment variable naming our daemon binary.
pub const ENV_OURS: &str = "PKGCHAIN_DAEMON";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `sh -c PIVOT_AND_EXEC sh ROOT PROGRAM`: make ROOT (a mount point) the
/// root of the current mount namespace and exec PROGRAM there. The old root
/// goes to ROOT/mnt and is detached at once.
const PIVOT_AND_EXEC: &str =
    "cd \"$1\" && pivot_root . mnt && cd / && umount -l /mnt && exec \"$2\"";
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Which daemon serves the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    /// The real `nix-daemon` (from `PATH`).
    Reference,
    /// `pkgchain-daemon` (or anything that takes its command line).
    Ours(PathBuf),
}

impl Daemon {
    /// Ours from `PKGCHAIN_DAEMON`; `Ok(None)` when it is unset or empty.
    pub fn ours_from_env() -> Result<Option<Daemon>, RunError> {
        let Some(value) = std::env::var_os(ENV_OURS).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let path = PathBuf::from(value);
        let abs = fs::canonicalize(&path).map_err(|e| RunError::BadDaemon {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if !abs.is_file() {
            return Err(RunError::BadDaemon {
                path,
                why: "not a file".into(),
            });
        }
        if abs.starts_with("/nix") {
            return Err(RunError::BadDaemon {
                path,
                why: "lies under /nix, which each run replaces".into(),
            });
        }
        Ok(Some(Daemon::Ours(abs)))
    }

    /// How it is named in reports and on the runner's command line.
    pub fn label(&self) -> String {
        match self {
            Daemon::Reference => "reference".to_owned(),
            Daemon::Ours(p) => format!("ours:{}", p.display()),
        }
    }

    /// Inverse of [`Daemon::label`].
    pub fn from_label(label: &str) -> Option<Daemon> {
        match label {
            "reference" => Some(Daemon::Reference),
            _ => label
                .strip_prefix("ours:")
                .map(|p| Daemon::Ours(PathBuf::from(p))),
        }
    }

    fn command(&self, client_root: Option<&Path>) -> Command {
        match self {
            Daemon::Reference => match client_root {
                None => Command::new("nix-daemon"),
                Some(root) => {
                    // Not chroot: the kernel refuses to create user
                    // namespaces (which its sandbox needs) from a chroot.
                    // In a mount namespace of its own the view becomes the
                    // root with pivot_root, and the old root is detached.
                    let mut cmd = Command::new("unshare");
                    cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                        .arg(PIVOT_AND_EXEC)
                        .arg("sh")
                        .arg(root)
                        .arg("/usr/bin/nix-daemon");
                    cmd
                }
            },
            Daemon::Ours(bin) => {
                let mut cmd = Command::new(bin);
                cmd.arg("--state-dir")
                    .arg(layout::OURS_STATE)
                    .arg("--socket")
                    .arg(layout::SOCKET)
                    .arg("--store-dir")
                    .arg(layout::STORE);
                cmd
            }
        }
    }

    /// Start it (inside the namespace, after `layout::enter` and after the
    /// `nix.conf` is written) and wait until its socket exists. With
    /// `client_root` (the view of another Nix's root, see `client.rs`) the
    /// reference is that root's `nix-daemon`, chrooted; ours runs outside
    /// either way.
    pub fn start(&self, client_root: Option<&Path>) -> Result<RunningDaemon, RunError> {
        let log =
            File::create(layout::DAEMON_LOG).map_err(RunError::io("create", layout::DAEMON_LOG))?;
        let log2 = log
            .try_clone()
            .map_err(RunError::io("dup", layout::DAEMON_LOG))?;
        let mut cmd = self.command(client_root);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("NIX_CONF_DIR", layout::CONF_DIR)
            .env("HOME", layout::HOME)
            .env("TMPDIR", layout::TMP)
            .env("LC_ALL", "C")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if let Some(v) = std::env::var_os("RUST_LOG") {
            cmd.env("RUST_LOG", v);
        }
        let mut child = cmd.spawn().map_err(RunError::spawn(self.label()))?;
        // Steps that kill and restart the daemon (crash tests) find it here.
        fs::write(layout::DAEMON_PID, format!("{}\n", child.id()))
            .map_err(RunError::io("write", layout::DAEMON_PID))?;
        let started = Instant::now();
        loop {
            if is_socket(Path::new(layout::SOCKET)) {
                return Ok(RunningDaemon {
                    label: self.label(),
                    child,
                });
            }
            let exited = child.try_wait().map_err(RunError::spawn(self.label()))?;
            if exited.is_some() || started.elapsed() > START_TIMEOUT {
                if exited.is_none() {
                    // Best effort: it is being abandoned anyway.
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(RunError::DaemonStart {
                    daemon: self.label(),
                    socket: layout::SOCKET,
                    secs: START_TIMEOUT.as_secs(),
                    log: log_tail(40),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A daemon serving the socket.
#[derive(Debug)]
pub struct RunningDaemon {
    label: String,
    child: Child,
}

impl RunningDaemon {
    /// SIGTERM, then wait for it to exit.
    pub fn stop(mut self) -> Result<(), RunError> {
        let pid = i32::try_from(self.child.id()).expect("pids fit in i32");
        // ESRCH only means it already exited; `wait` below reaps it either way.
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let started = Instant::now();
        loop {
            if self
                .child
                .try_wait()
                .map_err(RunError::spawn(self.label.clone()))?
                .is_some()
            {
                return Ok(());
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(RunError::DaemonStop {
                    daemon: self.label,
                    secs: STOP_TIMEOUT.as_secs(),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn is_socket(p: &Path) -> bool {
    fs::symlink_metadata(p)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

/// The last `n` lines of the daemon's log.
/// Errors earlier than those lines (a busy daemon logs a line per
/// connection, which would push them out) come first, up to `n` of them.
pub fn log_tail(n: usize) -> String {
    let text = fs::read(layout::DAEMON_LOG).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let earlier: Vec<&str> = lines[..start]
        .iter()
        .filter(|l| l.contains("error"))
        .take(n)
        .copied()
        .collect();
    let mut out = String::new();
    if !earlier.is_empty() {
        out.push_str(&earlier.join("\n"));
        out.push_str("\n[…]\n");
    }
    out.push_str(&lines[start..].join("\n"));
    out
}

/// Our daemon for the tests that run it alone: `PKGCHAIN_DAEMON`, or else
/// the `pkgchain-daemon` built next to the test binary `test_exe` (`cargo
/// test --workspace` builds it). Panics when there is neither.
pub fn ours_for_test(test_exe: &Path) -> PathBuf {
    if let Some(Daemon::Ours(p)) = Daemon::ours_from_env().expect("PKGCHAIN_DAEMON is usable") {
        return p;
    }
    let beside = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("pkgchain-daemon"))
        .expect("the test binary lies in target/<profile>/deps");
    assert!(
        beside.is_file(),
        "no pkgchain-daemon at {} and {ENV_OURS} is unset: build it (cargo build -p daemon -p sandbox --bins) or set {ENV_OURS}",
        beside.display()
    );
    beside
}
