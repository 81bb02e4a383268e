//! Where time goes, as an operator asks for it: after a real
//! `nix-store --add`, `SIGUSR1` makes the daemon print its running totals,
//! the upload's phases and the store's own steps (hashing, block writes)
//! among them, each counted.

#![allow(clippy::unwrap_used)]

mod hostile_support;

use std::time::{Duration, Instant};

use hostile_support::*;

/// The count the last report gave `name`, if it has one.
fn count(log: &str, name: &str) -> Option<u64> {
    let prefix = format!("phase {name} ");
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|c| c.parse().ok())
}

#[test]
fn sigusr1_reports_where_an_uploads_time_went() {
    let d = Daemon::start();
    let tree = d.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("big"), vec![7u8; 300_000]).unwrap();
    std::fs::write(tree.join("small"), "small\n").unwrap();
    d.nix_store_ok(&["--add", tree.to_str().unwrap()]);

    let pid = rustix::process::Pid::from_raw(d.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::USR1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = d.log();
        if count(&log, "hash-verify").is_some() {
            break log;
        }
        assert!(Instant::now() < deadline, "no report:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    for name in [
        "add-import",
        "add-catalogue",
        "upload-wait",
        "hash-nar",
        "hash-blocks",
        "block-write",
    ] {
        assert!(
            count(&log, name).is_some_and(|c| c > 0),
            "{name} counted:\n{log}"
        );
    }
    assert_eq!(count(&log, "build-op"), Some(0), "no build asked for");
}
