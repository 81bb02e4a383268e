//! One run of one scenario against one daemon, inside a private mount
//! namespace: set up `/nix`, start the daemon, run the client steps, gather
//! the store's state, stop the daemon. Called by the `compat-runner` binary,
//! which `harness.rs` starts under `unshare -m --propagation private`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use crate::daemon::{self, Daemon};
use crate::error::RunError;
use crate::exec::{self, Captured};
use crate::layout;
use crate::normalise;
use crate::observe;
use crate::outcome::{CommandOutcome, Outcome, RawOutput, RunReport};
use crate::scenario::{Action, Scenario, Setup, Stderr, Stdout, Step};

const RAW_LIMIT: usize = 16 * 1024;

/// Run `scenario` against `daemon` with `<root>/nix` as `/nix`, copying the
/// Nix files from `scenarios_dir`. Must already be in a private namespace.
pub fn run(
    scenario: &Scenario,
    daemon: &Daemon,
    root: &Path,
    scenarios_dir: &Path,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    layout::enter(root)?;
    layout::populate_work(scenarios_dir)?;
    for s in &scenario.setup {
        prepare(s)?;
    }
    let conf = Path::new(layout::CONF_DIR).join("nix.conf");
    fs::write(&conf, scenario.nix_conf()).map_err(RunError::io("write", &conf))?;

    let running = daemon.start()?;
    let result = run_steps(scenario);
    let stopped = running.stop();
    let (commands, raw, step_secs, store) = result?;
    stopped?;
    Ok(RunReport {
        scenario: scenario.name.to_owned(),
        daemon: daemon.label(),
        outcome: Outcome { commands, store },
        step_secs,
        total_secs: started.elapsed().as_secs_f64(),
        raw,
        daemon_log_tail: daemon::log_tail(30),
    })
}

type Steps = (
    Vec<CommandOutcome>,
    Vec<RawOutput>,
    Vec<(String, f64)>,
    crate::outcome::StoreState,
);

fn run_steps(scenario: &Scenario) -> Result<Steps, RunError> {
    let work = Path::new(layout::WORK);
    let mut commands = Vec::new();
    let mut raw = Vec::new();
    let mut secs = Vec::new();
    for step in &scenario.steps {
        let started = Instant::now();
        match &step.action {
            Action::Shell(script) => {
                let out =
                    exec::run_sh(script, work, step.timeout).map_err(RunError::spawn(script))?;
                record(step, step.name.to_owned(), &out, &mut commands, &mut raw);
            }
            Action::Parallel(scripts) => {
                let mut children = Vec::new();
                for script in scripts {
                    children.push(exec::spawn_sh(script, work).map_err(RunError::spawn(script))?);
                }
                for (i, child) in children.into_iter().enumerate() {
                    let out = exec::finish(child, started, step.timeout)
                        .map_err(RunError::spawn(step.name))?;
                    let name = format!("{}#{:02}", step.name, i + 1);
                    record(step, name, &out, &mut commands, &mut raw);
                }
            }
        }
        secs.push((step.name.to_owned(), started.elapsed().as_secs_f64()));
    }
    let store = observe::store_state(&scenario.unstable)?;
    Ok((commands, raw, secs, store))
}

fn record(
    step: &Step,
    name: String,
    out: &Captured,
    commands: &mut Vec<CommandOutcome>,
    raw: &mut Vec<RawOutput>,
) {
    let stdout_text = String::from_utf8_lossy(&out.stdout);
    let stderr_text = String::from_utf8_lossy(&out.stderr);
    let stdout = match step.stdout {
        Stdout::Text => normalise::text(&stdout_text),
        Stdout::Sha256 => observe::sri_sha256(&out.stdout),
        Stdout::Ignore => String::new(),
    };
    let stderr = match step.stderr {
        Stderr::ErrorLines => stderr_text
            .lines()
            .map(normalise::line)
            .filter(|l| l.starts_with("error:"))
            .collect(),
        Stderr::Full => stderr_text.lines().map(normalise::line).collect(),
        Stderr::Ignore => Vec::new(),
    };
    commands.push(CommandOutcome {
        step: name.clone(),
        exit: out.exit,
        stdout,
        stderr,
    });
    raw.push(RawOutput {
        step: name,
        stdout: truncate(&stdout_text),
        stderr: truncate(&stderr_text),
    });
}

fn truncate(s: &str) -> String {
    if s.len() <= RAW_LIMIT {
        return s.to_owned();
    }
    let mut end = RAW_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated]", &s[..end])
}

fn prepare(setup: &Setup) -> Result<(), RunError> {
    match setup {
        Setup::PseudoRandomFile { name, len } => {
            let path = Path::new(layout::WORK).join(name);
            let file = File::create(&path).map_err(RunError::io("create", &path))?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let mut state: u64 = 1;
            let mut left = *len;
            while left > 0 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let bytes = state.to_le_bytes();
                let n = usize::try_from(left.min(8)).expect("at most 8");
                w.write_all(&bytes[..n])
                    .map_err(RunError::io("write", &path))?;
                left -= n as u64;
            }
            w.flush().map_err(RunError::io("write", &path))?;
            Ok(())
        }
        Setup::User { name, uid } => crate::users::add(name, *uid),
    }
}
