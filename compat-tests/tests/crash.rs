//! Crash consistency, against our daemon alone: `kill -9` of the daemon at
//! random moments of adds, imports, builds and collections, then a restart
//! over the stale FUSE mount and socket. After each restart
//! `nix-store --verify --check-contents` is clean (every valid path's
//! blocks rebuild its registered NAR hash, so no partial path is valid),
//! every reference of a valid path is valid, every path valid before the
//! crash (every live one, if the workload was a collection) is still valid
//! with the same NAR hash, and every path a client was given before the
//! crash is valid. The loop is `compat-tests/scenarios/crash.sh`.
//!
//! `PKGCHAIN_CRASH_ITERATIONS` sets the number of crashes (default 8, as
//! CI runs it; the long run uses 50 or more).

use compat_tests::daemon::ours_for_test;
use compat_tests::{Daemon, Harness, scenarios};

#[test]
fn kill_9_at_random_points_loses_nothing_and_leaves_nothing_partial() {
    let harness = Harness::new(
        env!("CARGO_BIN_EXE_compat-runner"),
        env!("CARGO_TARGET_TMPDIR"),
    );
    let scenario = scenarios::by_name("crash_recovery").expect("crash_recovery is a scenario");
    let exe = std::env::current_exe().expect("the test binary has a path");
    let report = harness
        .run(&scenario, &Daemon::Ours(ours_for_test(&exe)))
        .expect("the run completes");
    let c = &report.outcome.commands[0];
    let raw = &report.raw[0];
    println!("{}", raw.stdout);
    assert_eq!(
        c.exit, 0,
        "the crash loop failed:\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        raw.stdout, raw.stderr, report.daemon_log_tail
    );
    let iterations: usize = raw
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("iterations="))
        .and_then(|l| l.strip_suffix(" ok"))
        .and_then(|n| n.parse().ok())
        .expect("the loop reports its iterations");
    let lines = raw
        .stdout
        .lines()
        .filter(|l| l.starts_with("iteration "))
        .count();
    assert_eq!(lines, iterations);
    assert!(iterations >= 1);
    // The store directory agrees with the catalogue, byte for byte.
    let store = &report.outcome.store;
    assert!(
        store.missing_entries.is_empty(),
        "{:?}",
        store.missing_entries
    );
    for (path, facts) in &store.paths {
        assert!(
            facts.dump_matches_nar_hash,
            "{path}: the store directory's NAR differs"
        );
    }
}
