//! Scenarios run against our daemon alone for crash consistency, load and
//! corruption (see `tests/crash.rs`, `tests/load.rs`,
//! `tests/corruption.rs`): their outcome differs from run to run (random
//! kill points, scheduling), so the tests assert what must hold instead of
//! comparing with nix-daemon.

use std::time::Duration;

use crate::scenario::{Scenario, Step};

/// Iterations of the crash loop (`PKGCHAIN_CRASH_ITERATIONS`, default 8;
/// the long run uses 50 or more).
pub const ENV_CRASH_ITERATIONS: &str = "PKGCHAIN_CRASH_ITERATIONS";
/// Concurrent clients of the load scenario (`PKGCHAIN_LOAD_CLIENTS`,
/// default 50).
pub const ENV_LOAD_CLIENTS: &str = "PKGCHAIN_LOAD_CLIENTS";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// This module's scenarios.
pub fn all() -> Vec<Scenario> {
    vec![crash_recovery(), concurrent_load(), corrupt_block()]
}

/// `kill -9` of the daemon during adds, imports, builds and GC, then a
/// restart and the checks of `scenarios/crash.sh`.
pub fn crash_recovery() -> Scenario {
    let n = env_count(ENV_CRASH_ITERATIONS, 8);
    let mut step = Step::sh("crash-loop", &format!("sh crash.sh {n}"));
    step.timeout = Duration::from_secs(60 + 60 * n as u64);
    Scenario::new(
        "crash_recovery",
        "kill -9 of the daemon at random points of adds, imports, builds and GC; after a restart the store verifies and nothing valid is lost",
    )
    .nix_command()
    .step(step)
}

/// Many `nix-build` clients at once over overlapping closures.
pub fn concurrent_load() -> Scenario {
    let n = env_count(ENV_LOAD_CLIENTS, 50);
    let scripts = (1..=n)
        .map(|i| {
            format!("nix-build load.nix --argstr id c{i} --argstr group g{} -o r-{i} 2> build-{i}.log > /dev/null || {{ cat build-{i}.log >&2; exit 1; }}", i % 5)
        })
        .collect();
    Scenario::new(
        "concurrent_load",
        "many concurrent nix-build clients with overlapping closures: all succeed, every derivation is built once",
    )
    .step(Step::sh("daemon-pid", "cat /nix/compat/daemon.pid"))
    .step(Step::parallel("load", scripts))
    .step(Step::sh(
        "built",
        "cat build-*.log | grep '^BUILT ' | sort | uniq -c | awk '{print $1, $3, $4}'",
    ))
    .step(Step::sh(
        "outputs",
        "for r in r-*; do nix-store -q --requisites $r; done | sort -u | grep -e '-load-' | grep -v '[.]drv$' | while read p; do echo \"${p#*-} $(cat $p/token)\"; done",
    ))
    .step(Step::sh(
        "rss",
        "grep -e VmHWM -e VmRSS /proc/$(cat /nix/compat/daemon.pid)/status",
    ))
    .step(Step::sh("verify", "nix-store --verify --check-contents"))
}

/// A flipped byte in a block file: reads give EIO, both verifiers name it.
pub fn corrupt_block() -> Scenario {
    Scenario::new(
        "corrupt_block",
        "a byte flipped in a block file: reads through /nix/store fail with EIO, nix-store --verify --check-contents and pkg store verify report it, --repair names the path it cannot repair",
    )
    .nix_command()
    .step(Step::sh("corrupt", "sh corrupt.sh").any_exit())
}
