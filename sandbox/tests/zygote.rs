//! Helpers forked by a zygote (`pkgchain-sandbox --zygote`) instead of
//! executed: the forked helper is the caller's child (it reaps it through
//! the pidfd it is given), runs a build exactly as an executed one does,
//! and fails a bad spec the same way. Needs root and user namespaces.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use common::{HELPER, TestStore, read};
use sandbox::Outcome;
use sandbox::protocol::EXIT_SETUP_FAILED;
use sandbox::zygote::{ForkedHelper, Zygote};

/// Sends `spec` to a forked helper and waits for it: (outcome, log).
fn run_forked(h: ForkedHelper, spec: &[u8]) -> (Outcome, String) {
    let mut stdin = File::from(h.stdin);
    let spec = spec.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&spec);
    });
    let mut err = Vec::new();
    let mut stderr = File::from(h.stderr);
    let reader = std::thread::spawn(move || {
        let _ = stderr.read_to_end(&mut err);
        err
    });
    let mut log = String::new();
    File::from(h.stdout)
        .read_to_string(&mut log)
        .expect("read the log");
    // Only a parent may wait for a process: the zygote made it ours.
    let st = rustix::process::waitid(
        rustix::process::WaitId::PidFd(std::os::fd::AsFd::as_fd(&h.pidfd)),
        rustix::process::WaitIdOptions::EXITED,
    )
    .expect("waitid on the forked helper")
    .expect("it exited");
    let status = match st.exit_status() {
        Some(code) => ExitStatus::from_raw((code & 0xff) << 8),
        None => ExitStatus::from_raw(st.terminating_signal().expect("killed")),
    };
    writer.join().expect("writer");
    let err = reader.join().expect("reader");
    (Outcome::decode(status, &err), log)
}

#[test]
fn a_forked_helper_builds_like_an_executed_one() {
    let s = TestStore::new();
    let spec = s.spec("$bb echo hello from a forked helper; $bb echo built > $out");
    let mut zygote = Zygote::start(HELPER.as_ref()).expect("start the zygote");
    let (outcome, log) = run_forked(zygote.fork_helper().expect("fork"), &spec.encode());
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(log, "hello from a forked helper\n");
    let out = s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
    assert_eq!(read(&out), "built\n");

    // The same zygote serves the next one; a bad spec fails as it would.
    let (outcome, _) = run_forked(zygote.fork_helper().expect("fork"), b"not a spec");
    match outcome {
        Outcome::SetupFailed { message } => {
            assert!(
                message.contains("cannot decode the build spec"),
                "{message}"
            )
        }
        other => panic!("expected a setup failure (exit {EXIT_SETUP_FAILED}), got {other:?}"),
    }
}
