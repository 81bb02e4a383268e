//! The harness must catch a daemon that behaves differently. Two stand-ins
//! for ours: the real nix-daemon with `--option sandbox false`, and a proxy
//! in front of the real nix-daemon that corrupts one error reply.

use std::path::Path;

use compat_tests::{Daemon, Harness, Mode, scenarios};

fn harness() -> Harness {
    Harness::new(
        env!("CARGO_BIN_EXE_compat-runner"),
        env!("CARGO_TARGET_TMPDIR"),
    )
}

#[test]
fn a_daemon_with_the_sandbox_off_is_caught_with_a_readable_diff() {
    let harness = harness();
    let wrong = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sandbox-off-daemon.sh");
    let scenario = scenarios::by_name("trivial").expect("trivial is a scenario");
    let verdict = harness
        .check_against(&scenario, Mode::ReferenceVsOurs, &Daemon::Ours(wrong))
        .expect("both runs complete");
    let diff = verdict.diff.clone().expect("the outcomes differ");
    let text = verdict.into_result().expect_err("a diff fails the check");
    println!("{text}");
    let at: Vec<&str> = diff.differences.iter().map(|d| d.at.as_str()).collect();
    assert!(at.contains(&"commands[2](cat).stdout"), "{text}");
    assert!(text.contains("/build"), "{text}");
    assert!(
        text.contains("/nix/compat/tmp/nix-build-trivial.drv-0"),
        "{text}"
    );
    assert!(
        at.iter()
            .any(|a| a.starts_with("store.paths[") && a.ends_with("-trivial\"].nar_hash")),
        "{text}"
    );
}

#[test]
fn a_proxy_that_corrupts_an_error_reply_is_caught() {
    let proxy = Daemon::Ours(env!("CARGO_BIN_EXE_compat-corrupting-proxy").into());
    let scenario = scenarios::by_name("failing_build").expect("failing_build is a scenario");
    let verdict = harness()
        .check_against(&scenario, Mode::ReferenceVsOurs, &proxy)
        .expect("both runs complete");
    let diff = verdict.diff.clone().expect("the outcomes differ");
    let text = verdict.into_result().expect_err("a diff fails the check");
    println!("{text}");
    let at: Vec<&str> = diff.differences.iter().map(|d| d.at.as_str()).collect();
    assert!(
        at.iter()
            .any(|a| a.starts_with("commands[0](build).stderr")),
        "{text}"
    );
    assert!(
        at.iter()
            .any(|a| a.starts_with("commands[2](again).stderr")),
        "{text}"
    );
    assert!(text.contains("failed with exit code 4"), "{text}");
    assert!(
        diff.differences
            .iter()
            .all(|d| d.at.starts_with("commands[")),
        "only the client's view of the error differs: {text}"
    );
}
