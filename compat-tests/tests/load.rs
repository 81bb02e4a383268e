//! Load, against our daemon alone: 50 `nix-build` clients at once
//! (`PKGCHAIN_LOAD_CLIENTS` to change), whose closures overlap: every
//! client's leaf depends on one of five group derivations and on one
//! derivation common to all. Every client succeeds; every derivation is
//! built exactly once (each builder prints `BUILT <name> <token>`, which
//! reaches the log of the client that caused the build, and writes the
//! token into its output: across all clients' logs each name appears once,
//! with the token its output holds); the store verifies afterwards; the
//! daemon's peak RSS (VmHWM) is printed and must stay under 512 MiB.

use std::collections::BTreeMap;

use compat_tests::daemon::ours_for_test;
use compat_tests::scenarios_stress::ENV_LOAD_CLIENTS;
use compat_tests::{Daemon, Harness, scenarios};

#[test]
fn fifty_clients_with_overlapping_closures_build_each_derivation_once() {
    let clients: usize = std::env::var(ENV_LOAD_CLIENTS)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(50);
    let harness = Harness::new(
        env!("CARGO_BIN_EXE_compat-runner"),
        env!("CARGO_TARGET_TMPDIR"),
    );
    let scenario = scenarios::by_name("concurrent_load").expect("concurrent_load is a scenario");
    let exe = std::env::current_exe().expect("the test binary has a path");
    let report = harness
        .run(&scenario, &Daemon::Ours(ours_for_test(&exe)))
        .expect("the run completes");
    let context = format!("daemon log:\n{}", report.daemon_log_tail);
    for (c, raw) in report.outcome.commands.iter().zip(&report.raw) {
        assert_eq!(
            c.exit, 0,
            "step {} failed:\nstdout: {}\nstderr: {}\n{context}",
            c.step, raw.stdout, raw.stderr
        );
    }
    let stdout = |step: &str| {
        report
            .raw
            .iter()
            .find(|r| r.step == step)
            .map(|r| r.stdout.clone())
            .unwrap_or_else(|| panic!("no step {step}"))
    };
    // name -> (times built, token in the log)
    let mut built: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for l in stdout("built").lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 3, "{l}");
        let n: u32 = f[0].parse().expect("a count");
        let e = built.entry(f[1].to_owned()).or_default();
        e.0 += n;
        e.1 = f[2].to_owned();
    }
    let mut want: Vec<String> = (1..=clients).map(|i| format!("load-leaf-c{i}")).collect();
    want.extend((0..5.min(clients)).map(|g| format!("load-group-g{g}")));
    want.push("load-common".to_owned());
    want.sort();
    assert_eq!(built.keys().cloned().collect::<Vec<_>>(), want, "{context}");
    for (name, (n, _)) in &built {
        assert_eq!(*n, 1, "{name} was built {n} times\n{context}");
    }
    // The output of each derivation is what its one build produced.
    let outputs: BTreeMap<String, String> = stdout("outputs")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_owned(), t.trim().to_owned()))
        .collect();
    assert_eq!(outputs.len(), want.len(), "{outputs:?}");
    for (name, (_, token)) in &built {
        assert_eq!(outputs.get(name), Some(token), "{name}");
    }
    let rss = stdout("rss");
    let kib = |field: &str| -> u64 {
        rss.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {rss:?}"))
    };
    let peak = kib("VmHWM:");
    println!(
        "{clients} clients: daemon peak RSS {} MiB, RSS after {} MiB",
        peak / 1024,
        kib("VmRSS:") / 1024
    );
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
}
