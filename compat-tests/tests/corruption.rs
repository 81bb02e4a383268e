//! Corruption, against our daemon alone: one byte flipped in the block
//! file that holds a stored file's content (`compat-tests/scenarios/
//! corrupt.sh`). Reading that file through `/nix/store` fails with EIO
//! (never wrong bytes) while the path's other file still reads;
//! `nix-store --verify --check-contents` fails and names the path, in Nix
//! 2.8's words (`path '…' was modified! expected hash '…', got '…'`);
//! `pkg store verify` fails and names the block and the path; and
//! `--repair`, which has nothing to substitute from and no derivation to
//! rebuild, fails naming the path it cannot repair (Nix's `cannot repair
//! path '…'`).

use compat_tests::daemon::ours_for_test;
use compat_tests::{Daemon, Harness, scenarios};

#[test]
fn flipped_byte_in_a_block_gives_eio_and_is_reported_by_both_verifiers() {
    let harness = Harness::new(
        env!("CARGO_BIN_EXE_compat-runner"),
        env!("CARGO_TARGET_TMPDIR"),
    );
    let scenario = scenarios::by_name("corrupt_block").expect("corrupt_block is a scenario");
    let exe = std::env::current_exe().expect("the test binary has a path");
    let report = harness
        .run(&scenario, &Daemon::Ours(ours_for_test(&exe)))
        .expect("the run completes");
    let raw = &report.raw[0];
    let out = &raw.stdout;
    println!("{out}");
    let ctx = format!(
        "stdout:\n{out}\nstderr:\n{}\ndaemon log:\n{}",
        raw.stderr, report.daemon_log_tail
    );
    assert_eq!(report.outcome.commands[0].exit, 0, "{ctx}");
    let field = |prefix: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?}\n{ctx}"))
            .to_owned()
    };
    let path = field("path ");
    let block = field("block ");
    // `== name rc=N` then the output up to the next section.
    let section = |name: &str| -> (i32, String) {
        let head = format!("== {name} rc=");
        let mut lines = out.lines().skip_while(|l| !l.starts_with(&head));
        let rc = lines
            .next()
            .and_then(|l| l.strip_prefix(&head))
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no section {name}\n{ctx}"));
        let body: Vec<&str> = lines.take_while(|l| !l.starts_with("== ")).collect();
        (rc, body.join("\n"))
    };

    let (rc, text) = section("read");
    assert_ne!(rc, 0, "{ctx}");
    assert!(text.contains("Input/output error"), "{text}");
    let (rc, text) = section("read-intact");
    assert_eq!((rc, text.as_str()), (0, "intact"));

    let (rc, text) = section("verify");
    assert_ne!(rc, 0, "{ctx}");
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "path '{path}' was modified! expected hash 'sha256:"
        )) && l.contains("', got 'sha256:")),
        "{text}"
    );

    let (rc, text) = section("pkg-verify");
    assert_ne!(rc, 0, "{ctx}");
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("corrupt block {block}")) && l.contains(&path)),
        "{text}"
    );

    let (rc, text) = section("repair");
    assert_ne!(rc, 0, "{ctx}");
    assert!(
        text.contains(&format!("cannot repair path '{path}'")),
        "{text}"
    );
}
