//! Starting the helper from a (possibly multi-threaded) process: a thin,
//! blocking wrapper over `std::process::Command`, which spawns without
//! running code between fork and exec.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::protocol::Outcome;
use crate::spec::BuildSpec;

/// At most this much of the helper's stderr is kept (it is one line).
const MAX_STDERR: u64 = 64 * 1024;

/// Runs `helper` (the `pkgchain-sandbox` binary) on `spec`, copying the
/// build log to `log` as it arrives, and decodes how the build ended.
///
/// Blocking; call it from a thread of its own (e.g. `spawn_blocking`).
pub fn run_helper(helper: &Path, spec: &BuildSpec, log: &mut dyn Write) -> io::Result<Outcome> {
    run_helper_command(Command::new(helper), spec, log)
}

/// [`run_helper`] with a prepared command (extra environment, a wrapper
/// such as `unshare`, …) that ends up executing the helper. Its stdin,
/// stdout and stderr are replaced by pipes.
pub fn run_helper_command(
    mut command: Command,
    spec: &BuildSpec,
    log: &mut dyn Write,
) -> io::Result<Outcome> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let bytes = spec.encode();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin pipe"))?;
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| io::Error::other("no stderr pipe"))?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        (&mut stderr)
            .take(MAX_STDERR)
            .read_to_end(&mut buf)
            .map(|_| buf)
    });
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout pipe"))?;
    let copied = io::copy(&mut stdout, log);
    let status = child.wait()?;
    // A helper that fails early may not read its whole spec.
    let _ = writer.join();
    let stderr = reader
        .join()
        .map_err(|_| io::Error::other("stderr reader panicked"))??;
    copied?;
    Ok(Outcome::decode(status, &stderr))
}
