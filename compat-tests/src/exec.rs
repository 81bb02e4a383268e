//! Running client commands inside the namespace: a fixed, private
//! environment, captured output, a timeout.

use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::layout;

/// What a finished command left.
#[derive(Debug)]
pub struct Captured {
    /// Exit code, `128 + signal`, or `-1` on timeout.
    pub exit: i32,
    /// Raw stdout.
    pub stdout: Vec<u8>,
    /// Raw stderr.
    pub stderr: Vec<u8>,
    /// Wall-clock seconds.
    pub secs: f64,
}

/// The environment every client command gets (nothing is inherited): the
/// client must talk to the daemon (`NIX_REMOTE=daemon`, since root would
/// otherwise open the store itself) and read only our private config.
pub fn client_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("NIX_REMOTE", "daemon")
        .env("NIX_CONF_DIR", layout::CONF_DIR)
        .env("NIX_PATH", "")
        .env("HOME", layout::HOME)
        .env("USER", "root")
        .env("XDG_CONFIG_HOME", format!("{}/.config", layout::HOME))
        .env("XDG_CONFIG_DIRS", format!("{}/.config-dirs", layout::HOME))
        .env("XDG_CACHE_HOME", format!("{}/.cache", layout::HOME))
        .env("XDG_DATA_HOME", format!("{}/.local/share", layout::HOME))
        .env("XDG_STATE_HOME", format!("{}/.local/state", layout::HOME))
        .env("TMPDIR", layout::TMP)
        .env("TERM", "dumb")
        .env("LC_ALL", "C")
}

/// Start `/bin/sh -c script` in `cwd` with the client environment.
pub fn spawn_sh(script: &str, cwd: &Path) -> io::Result<Child> {
    spawn_sh_in(None, script, cwd)
}

/// Start `/bin/sh -c script` in `cwd` with the client environment, chrooted
/// into `root` when given (`cwd` is then a path inside it).
pub fn spawn_sh_in(root: Option<&Path>, script: &str, cwd: &Path) -> io::Result<Child> {
    let mut cmd = match root {
        None => {
            let mut cmd = Command::new("/bin/sh");
            cmd.current_dir(cwd);
            cmd
        }
        Some(root) => {
            let mut cmd = Command::new("/usr/sbin/chroot");
            cmd.arg(root)
                .arg("/usr/bin/env")
                .arg("-C")
                .arg(cwd)
                .arg("/bin/sh")
                .current_dir("/");
            cmd
        }
    };
    client_env(&mut cmd)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Wait for `child`, reading its output; kill it after `timeout`.
pub fn finish(mut child: Child, started: Instant, timeout: Duration) -> io::Result<Captured> {
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break exit_code(status);
        }
        if started.elapsed() > timeout {
            child.kill()?;
            child.wait()?;
            break -1;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let join = |h: Option<thread::JoinHandle<Vec<u8>>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Ok(Captured {
        exit,
        stdout: join(out),
        stderr: join(err),
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Run one script to completion.
pub fn run_sh(script: &str, cwd: &Path, timeout: Duration) -> io::Result<Captured> {
    let started = Instant::now();
    finish(spawn_sh(script, cwd)?, started, timeout)
}

/// Exit code as a shell reports it.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-2)
}

fn reader<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the capture; what was read so far is kept.
        let _ = r.read_to_end(&mut buf);
        buf
    })
}
