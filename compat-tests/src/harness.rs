//! The host side: start one runner per daemon, each in a fresh private mount
//! and network namespace (`unshare -m -n --propagation private`) with its
//! own `/nix`, its own loopback interface and its own PID namespace and
//! `/proc`, read their JSON reports, and compare.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::client::Client;
use crate::compare::{Diff, compare_named};
use crate::daemon::{Daemon, ENV_OURS};
use crate::error::RunError;
use crate::exec::exit_code;
use crate::outcome::{CommandOutcome, RawOutput, RunReport};
use crate::scenario::{Action, Scenario};
use crate::scenarios;

/// Set to keep each run's `/nix` directory for inspection.
pub const ENV_KEEP: &str = "COMPAT_KEEP";

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Where the runner binary and scratch space are.
#[derive(Debug, Clone)]
pub struct Harness {
    /// The `compat-runner` binary.
    pub runner: PathBuf,
    /// A directory for the runs' `/nix` trees (must not be under `/nix`).
    pub scratch: PathBuf,
    /// `compat-tests/scenarios`.
    pub scenarios_dir: PathBuf,
    /// Which client runs the steps (and so which reference daemon).
    pub client: Client,
}

/// What was compared with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The reference against ours.
    ReferenceVsOurs,
    /// `PKGCHAIN_DAEMON` unset: the reference against itself, which shows
    /// that the scenario and the harness are deterministic.
    ReferenceTwice,
}

/// The result of checking one scenario.
#[derive(Debug)]
pub struct Verdict {
    /// What was compared.
    pub mode: Mode,
    /// The reference's report.
    pub left: RunReport,
    /// Ours, or the reference's second run.
    pub right: RunReport,
    /// `None` when identical.
    pub diff: Option<Diff>,
    /// Steps where the reference did not give the exit code the scenario
    /// expects (the scenario no longer tests what it claims).
    pub broken_expectations: Vec<String>,
}

impl Harness {
    /// The harness for this crate's own tests and runner.
    pub fn new(runner: impl Into<PathBuf>, scratch: impl Into<PathBuf>) -> Self {
        Harness {
            runner: runner.into(),
            scratch: scratch.into(),
            scenarios_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
            client: Client::Host,
        }
    }

    /// The same harness with another client (see `client.rs`).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// Run one scenario against one daemon in a fresh namespace.
    pub fn run(&self, scenario: &Scenario, daemon: &Daemon) -> Result<RunReport, RunError> {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let kind = match daemon {
            Daemon::Reference => "ref",
            Daemon::Ours(_) => "ours",
        };
        let client = match self.client {
            Client::Host => "",
            Client::Root(_) => "-rootclient",
        };
        let root = self.scratch.join(format!(
            "{}{client}-{kind}-{}-{n}",
            scenario.name,
            std::process::id()
        ));
        if root.exists() {
            fs::remove_dir_all(&root).map_err(RunError::io("rm -r", &root))?;
        }
        fs::create_dir_all(&root).map_err(RunError::io("mkdir", &root))?;
        // A PID namespace too (with its own /proc): the collector's
        // run-time roots come from /proc, and other runs on the machine
        // use the same store paths.
        let host_ns = fs::read_link("/proc/self/ns/mnt")
            .map_err(RunError::io("readlink", "/proc/self/ns/mnt"))?;
        let host_net = fs::read_link("/proc/self/ns/net")
            .map_err(RunError::io("readlink", "/proc/self/ns/net"))?;
        let output = Command::new("unshare")
            .args([
                "--mount",
                "--net",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--mount-proc",
                "--",
            ])
            .env(crate::layout::ENV_PARENT_MNT_NS, host_ns)
            .env(crate::layout::ENV_PARENT_NET_NS, host_net)
            .arg(&self.runner)
            .arg("run")
            .arg(scenario.name)
            .arg(&root)
            .arg(daemon.label())
            .arg(&self.scenarios_dir)
            .arg(self.client.label())
            .stdin(Stdio::null())
            .output()
            .map_err(RunError::spawn("unshare"))?;
        if std::env::var_os(ENV_KEEP).is_none() {
            fs::remove_dir_all(&root).map_err(RunError::io("rm -r", &root))?;
        }
        if !output.status.success() {
            return Err(RunError::Runner {
                scenario: scenario.name.to_owned(),
                daemon: daemon.label(),
                exit: exit_code(output.status),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        serde_json::from_slice(&output.stdout).map_err(|source| RunError::Json {
            what: format!("the runner for {}", scenario.name),
            source,
        })
    }

    /// Run the reference and ours (or the reference twice, when
    /// `PKGCHAIN_DAEMON` is unset) at the same time, and compare.
    pub fn check(&self, scenario: &Scenario) -> Result<Verdict, RunError> {
        let ours = Daemon::ours_from_env()?;
        let (mode, right_daemon) = match ours {
            Some(d) => (Mode::ReferenceVsOurs, d),
            None => (Mode::ReferenceTwice, Daemon::Reference),
        };
        let verdict = self.check_against(scenario, mode, &right_daemon)?;
        if !verdict.reference_dropped_a_client(scenario) {
            return Ok(verdict);
        }
        // The oracle failed on its own (Nix 2.26's nix-daemon, on a loaded
        // machine, now and then resets a client's connection before the
        // handshake): that comparison says nothing, so it runs once more,
        // ours included, and that run is the verdict.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "compat-tests: {}: the reference daemon dropped a client's connection (its log:\n{}\n); running the scenario again",
            scenario.name,
            verdict.left.daemon_log_tail
        );
        self.check_against(scenario, mode, &right_daemon)
    }

    /// Run the reference and `right` at the same time and compare.
    pub fn check_against(
        &self,
        scenario: &Scenario,
        mode: Mode,
        right: &Daemon,
    ) -> Result<Verdict, RunError> {
        let (left, right) = thread::scope(|s| {
            let l = s.spawn(|| self.run(scenario, &Daemon::Reference));
            let r = s.spawn(|| self.run(scenario, right));
            (
                l.join().expect("the reference run does not panic"),
                r.join().expect("the other run does not panic"),
            )
        });
        let (left, right) = (left?, right?);
        let rname = match mode {
            Mode::ReferenceVsOurs => "ours",
            Mode::ReferenceTwice => "reference (2nd run)",
        };
        let diff = compare_named(&left.outcome, "reference", &right.outcome, rname);
        let broken_expectations = broken_expectations(scenario, &left);
        Ok(Verdict {
            mode,
            left,
            right,
            diff,
            broken_expectations,
        })
    }
}

/// The commands whose exit code is not the one the scenario expects, with
/// the expected code.
fn failed_commands<'r>(
    scenario: &Scenario,
    report: &'r RunReport,
) -> Vec<(&'r CommandOutcome, i32)> {
    let mut failed = Vec::new();
    let mut commands = report.outcome.commands.iter();
    for step in &scenario.steps {
        let count = match &step.action {
            Action::Shell(_) => 1,
            Action::Parallel(v) => v.len(),
        };
        for c in commands.by_ref().take(count) {
            if let Some(want) = step.expect_exit.filter(|&want| c.exit != want) {
                failed.push((c, want));
            }
        }
    }
    failed
}

fn broken_expectations(scenario: &Scenario, report: &RunReport) -> Vec<String> {
    failed_commands(scenario, report)
        .into_iter()
        .map(|(c, want)| {
            let raw = report.raw.iter().find(|r| r.step == c.step);
            format!(
                "step {}: expected exit {want}, the reference gave {}\n  stdout: {}\n  stderr: {}",
                c.step,
                c.exit,
                raw.map(|r| r.stdout.trim()).unwrap_or(""),
                raw.map(|r| r.stderr.trim()).unwrap_or(""),
            )
        })
        .collect()
}

impl Verdict {
    /// Whether the reference broke the scenario's expectations only
    /// because its daemon refused or reset a client's connection, while the
    /// other side met them.
    fn reference_dropped_a_client(&self, scenario: &Scenario) -> bool {
        let dropped = |r: &RawOutput| {
            r.stderr
                .contains("cannot open connection to remote store 'daemon'")
        };
        !self.broken_expectations.is_empty()
            && broken_expectations(scenario, &self.right).is_empty()
            && failed_commands(scenario, &self.left)
                .iter()
                .all(|(c, _)| self.left.raw.iter().any(|r| r.step == c.step && dropped(r)))
    }

    /// One line per side with total and per-step seconds.
    pub fn timings(&self) -> String {
        let mut s = String::new();
        for (name, r) in [("reference", &self.left), (self.right_name(), &self.right)] {
            let _ = write!(s, "  {name:<20} {:6.2} s  [", r.total_secs);
            for (i, (step, secs)) in r.step_secs.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(s, "{sep}{step} {secs:.2}");
            }
            s.push_str("]\n");
        }
        s
    }

    fn right_name(&self) -> &'static str {
        match self.mode {
            Mode::ReferenceVsOurs => "ours",
            Mode::ReferenceTwice => "reference (2nd run)",
        }
    }

    /// `Err` with a readable explanation unless the check passed.
    pub fn into_result(self) -> Result<String, String> {
        let mut msg = String::new();
        let _ = writeln!(
            msg,
            "scenario {} (client: {}):",
            self.left.scenario, self.left.client
        );
        if self.mode == Mode::ReferenceTwice {
            let _ = writeln!(
                msg,
                "  {ENV_OURS} is not set: ours was NOT run; the reference ran twice to check determinism"
            );
        }
        msg.push_str(&self.timings());
        if self.diff.is_none() && self.broken_expectations.is_empty() {
            return Ok(msg);
        }
        for b in &self.broken_expectations {
            let _ = writeln!(msg, "  scenario expectation broken: {b}");
        }
        if !self.broken_expectations.is_empty() {
            let _ = writeln!(
                msg,
                "the reference's log ends with:\n{}",
                self.left.daemon_log_tail
            );
        }
        if let Some(diff) = &self.diff {
            let _ = write!(msg, "{diff}");
            let mut steps: Vec<&str> = diff
                .differences
                .iter()
                .filter_map(|d| d.at.strip_prefix("commands["))
                .filter_map(|rest| rest.split_once('(').and_then(|(_, r)| r.split_once(')')))
                .map(|(step, _)| step)
                .collect();
            steps.dedup();
            for step in steps {
                for (side, report) in [("reference", &self.left), (self.right_name(), &self.right)]
                {
                    let raw = report.raw.iter().find(|r| r.step == step);
                    if let Some(raw) = raw.filter(|r| !r.stderr.trim().is_empty()) {
                        let _ = writeln!(msg, "  stderr of {step} ({side}):");
                        for l in raw.stderr.lines() {
                            let _ = writeln!(msg, "      | {l}");
                        }
                    }
                }
            }
            if self.mode == Mode::ReferenceVsOurs {
                let _ = writeln!(msg, "ours' log ends with:\n{}", self.right.daemon_log_tail);
            }
        }
        Err(msg)
    }
}

/// Check the scenario called `name`; panics with the verdict unless it
/// passed. This is what every `#[test]` in `tests/scenarios.rs` calls.
pub fn assert_compatible(harness: &Harness, name: &str) {
    let scenario = scenarios::by_name(name).unwrap_or_else(|| panic!("no scenario {name:?}"));
    if scenario.slow && std::env::var_os("COMPAT_SKIP_SLOW").is_some() {
        println!("scenario {name}: slow, skipped because COMPAT_SKIP_SLOW is set");
        return;
    }
    let verdict = harness
        .check(&scenario)
        .unwrap_or_else(|e| panic!("scenario {name} could not run: {e}"));
    summary_line(&verdict);
    match verdict.into_result() {
        Ok(msg) => println!("{msg}"),
        Err(msg) => panic!("{msg}"),
    }
}

/// One line per scenario on the real stderr (libtest captures `println!`
/// but not direct writes), so a passing run still says what was compared.
fn summary_line(v: &Verdict) {
    use std::io::Write as _;
    let what = match v.mode {
        Mode::ReferenceVsOurs => "reference vs ours",
        Mode::ReferenceTwice => "reference twice (PKGCHAIN_DAEMON unset: ours NOT run)",
    };
    let status = if v.diff.is_none() && v.broken_expectations.is_empty() {
        "same"
    } else {
        "DIFFERENT"
    };
    let client = match Client::from_label(&v.left.client) {
        Some(Client::Root(p)) => format!(" [client and reference: nix of {}]", p.display()),
        _ => String::new(),
    };
    let line = format!(
        "compat-tests: {:<24} {status:<9} {what}{client}; {:.2} s / {:.2} s\n",
        v.left.scenario, v.left.total_secs, v.right.total_secs
    );
    // Losing this informational line is harmless.
    let _ = std::io::stderr().write_all(line.as_bytes());
}
