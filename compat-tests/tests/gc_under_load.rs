//! Garbage collection while ten clients build and add, against our daemon
//! alone: every client succeeds, nothing live is lost, no block is missing
//! (`nix-store --verify --check-contents` is clean, before and after a
//! last collection), and every remaining result's closure is valid and
//! readable through the store directory.
//!
//! The reference nix-daemon is not used as an oracle here: Nix 2.8 itself
//! can delete a path a concurrent `nix-build` has just rooted (seen while
//! writing this test: `r-8-3` pointed at a deleted output; upstream
//! NixOS/nix#6757), so its outcome differs from run to run.
//!
//! Our daemon comes from `PKGCHAIN_DAEMON`, or else is the
//! `pkgchain-daemon` built next to this test binary (`cargo test
//! --workspace` builds it); without either the test fails.

use std::path::PathBuf;

use compat_tests::daemon::ours_for_test;
use compat_tests::{Daemon, Harness, scenarios};

fn ours() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    ours_for_test(&exe)
}

#[test]
fn gc_while_ten_clients_build_and_add_loses_nothing() {
    let harness = Harness::new(
        env!("CARGO_BIN_EXE_compat-runner"),
        env!("CARGO_TARGET_TMPDIR"),
    );
    let scenario = scenarios::by_name("gc_under_load").expect("gc_under_load is a scenario");
    if scenario.slow && std::env::var_os("COMPAT_SKIP_SLOW").is_some() {
        println!("gc_under_load: slow, skipped because COMPAT_SKIP_SLOW is set");
        return;
    }
    let report = harness
        .run(&scenario, &Daemon::Ours(ours()))
        .expect("the run completes");
    let raw = |step: &str| {
        report
            .raw
            .iter()
            .find(|r| r.step == step)
            .map(|r| format!("stdout: {}\nstderr: {}", r.stdout, r.stderr))
            .unwrap_or_default()
    };
    let context = format!(
        "{}\ndaemon log:\n{}",
        serde_json::to_string_pretty(&report.raw).unwrap_or_default(),
        report.daemon_log_tail
    );
    for c in &report.outcome.commands {
        assert_eq!(
            c.exit,
            0,
            "step {} failed:\n{}\n{context}",
            c.step,
            raw(&c.step)
        );
        assert!(
            c.stderr.is_empty(),
            "step {} reported errors: {:?}\n{context}",
            c.step,
            c.stderr
        );
    }

    // The collector ran more than once while the clients worked, and deleted.
    let gc = report
        .outcome
        .commands
        .iter()
        .find(|c| c.step == "load#11")
        .expect("the collector's script ran");
    let field = |name: &str| -> u64 {
        gc.stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {:?}", gc.stdout))
    };
    println!("collector: {}", gc.stdout.trim());
    assert!(field("collections=") >= 2, "{}", gc.stdout);
    assert!(field("deleted=") > 0, "{}", gc.stdout);

    // Every client's last result, whole: its id, the shared dependency's
    // data and the source directory it was given.
    let closures = report
        .outcome
        .commands
        .iter()
        .find(|c| c.step == "closures-valid")
        .expect("the closure check ran");
    let mut want: Vec<String> = (1..=10).map(|i| format!("1 c{i}-3")).collect();
    want.push("10 same".into());
    want.push("10 shared".into());
    want.sort();
    let got: Vec<String> = closures
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(got, want);

    // What the store directory shows agrees with the catalogue, byte for byte.
    let store = &report.outcome.store;
    assert!(
        store.missing_entries.is_empty(),
        "{:?}",
        store.missing_entries
    );
    assert!(
        store.unregistered_entries.is_empty(),
        "{:?}",
        store.unregistered_entries
    );
    for (path, facts) in &store.paths {
        assert!(
            facts.dump_matches_nar_hash,
            "{path}: the store directory's NAR differs"
        );
    }
    for i in 1..=10 {
        let link = format!("r-{i}-3");
        let target = store
            .result_links
            .get(&link)
            .unwrap_or_else(|| panic!("{link} is missing"));
        assert!(
            store.paths.contains_key(target),
            "{link} -> {target} is not valid"
        );
    }
}
