//! `compat-runner run SCENARIO ROOT DAEMON SCENARIOS_DIR [CLIENT]`: runs one
//! scenario inside the current (private) mount namespace and prints its
//! report as JSON. CLIENT is `host` (the default) or `root:<path>` (see
//! `compat_tests::client`). Started by `compat_tests::Harness` under
//! `unshare -m -n --propagation private`; refuses to run anywhere else.
//! `compat-runner list` prints the scenario names.

use std::path::Path;
use std::process::ExitCode;

use compat_tests::error::RunError;
use compat_tests::{Client, Daemon, runner, scenarios};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compat-runner: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), RunError> {
    const USAGE: &str =
        "compat-runner run SCENARIO ROOT DAEMON SCENARIOS_DIR [CLIENT] | compat-runner list";
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for s in scenarios::all().into_iter().chain(scenarios::moving::all()) {
                println!(
                    "{:<24} {}{}",
                    s.name,
                    s.about,
                    if s.slow { " (slow)" } else { "" }
                );
            }
            Ok(())
        }
        ["run", name, root, daemon, dir, client @ ..] if client.len() <= 1 => {
            let scenario = scenarios::by_name(name)
                .ok_or_else(|| RunError::UnknownScenario((*name).to_owned()))?;
            let daemon = Daemon::from_label(daemon).ok_or_else(|| RunError::Usage(USAGE.into()))?;
            let client = match client.first() {
                None => Client::Host,
                Some(label) => {
                    Client::from_label(label).ok_or_else(|| RunError::Usage(USAGE.into()))?
                }
            };
            let report = runner::run(&scenario, &daemon, &client, Path::new(root), Path::new(dir))?;
            let json = serde_json::to_string(&report).map_err(|source| RunError::Json {
                what: "the report".into(),
                source,
            })?;
            println!("{json}");
            Ok(())
        }
        _ => Err(RunError::Usage(USAGE.into())),
    }
}
