//! Realising derived paths: find what is missing, build it in dependency
//! order (`max-jobs` at a time, each derivation once even when several
//! clients ask at the same time), and report per-target results.

pub mod helpers;
pub mod outputs;
pub mod refs;
pub mod run;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use nix_formats::store_path::StorePath;
use nix_formats::wire::{
    ActivityType, BuildMode, BuildResult, BuildStatus, DerivedPath, Field, OutputsSpec, ResultType,
    StartActivity, StderrMsg, Verbosity,
};
use tokio::sync::{Semaphore, mpsc};

use crate::config::Settings;
use crate::ops::build::built_outputs;
use crate::ops::query::{missing_rooted, output_map};
use crate::ops::read_derivation;
use crate::session::{OpError, Session};
use crate::shared::Shared;
use crate::wording::Wording;
use run::{Failure, Progress, build_one};

/// The derivations to build and, for each, which of them it waits for.
type Plan = BTreeMap<StorePath, BTreeSet<StorePath>>;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Makes every target valid; returns one result per target, in order.
pub async fn realise(
    s: &mut Session,
    targets: &[DerivedPath],
    mode: BuildMode,
) -> Result<Vec<(DerivedPath, BuildResult)>, OpError> {
    let sd = s.shared.store_dir.clone();
    let check = mode == BuildMode::Check;
    let plan_targets = targets.to_vec();
    let conn = s.id;
    let (m, plan) = s
        .blocking(move |st, shared| {
            let root = |p: &StorePath| shared.add_temp_root(conn, p.clone());
            let m = missing_rooted(st, &sd, &plan_targets, &root)?;
            let mut to_build: BTreeSet<StorePath> = m.will_build.clone();
            if check {
                for t in &plan_targets {
                    if let DerivedPath::Built { drv_path, .. } = t {
                        to_build.insert(drv_path.clone());
                    }
                }
            }
            let mut plan = Plan::new();
            for d in &to_build {
                let drv = read_derivation(st, &sd, d)?;
                let deps = drv
                    .input_drvs
                    .keys()
                    .filter(|i| to_build.contains(*i))
                    .cloned()
                    .collect();
                plan.insert(d.clone(), deps);
            }
            Ok((m, plan))
        })
        .await?;

    let opts = BuildOptions::of(s);
    // Nix's worker gives up once every goal waits for a build slot and
    // none can ever open (nothing is built, the op fails).
    if opts.settings.max_jobs == 0 && !plan.is_empty() {
        return Err(crate::session::client_err(
            opts.wording
                .no_build_slot(opts.settings.has_remote_builders()),
        ));
    }
    let (log_tx, mut log_rx) = mpsc::channel::<StderrMsg>(256);
    let shared = s.shared.clone();
    let check_set: BTreeSet<StorePath> = if check {
        targets
            .iter()
            .filter_map(|t| match t {
                DerivedPath::Built { drv_path, .. } => Some(drv_path.clone()),
                DerivedPath::Opaque(_) => None,
            })
            .collect()
    } else {
        BTreeSet::new()
    };
    let started = now();
    let driver = tokio::spawn(run_plan(shared, conn, opts, plan, check_set, log_tx));
    while let Some(msg) = log_rx.recv().await {
        s.log(&msg);
        while let Ok(more) = log_rx.try_recv() {
            s.log(&more);
        }
        s.wire.flush().await.map_err(|e| OpError::Fatal(e.into()))?;
    }
    let outcomes = driver
        .await
        .map_err(|e| crate::session::client_err(format!("internal error: {e}")))?;
    let stopped = now();

    let sd = s.shared.store_dir.clone();
    let targets = targets.to_vec();
    let id = s.id;
    let wording = s.wording();
    let nix_command = s.shared.settings.experimental_feature("nix-command");
    let results = s
        .blocking(move |st, shared| {
            let mut results = Vec::new();
            for t in targets {
                let r = match &t {
                    DerivedPath::Opaque(p) => {
                        if m.unknown.contains(p) {
                            BuildResult::new(
                                BuildStatus::NoSubstituters,
                                format!(
                                    "path '{}' is required, but there is no substituter that can build it",
                                    sd.display(p)
                                ),
                            )
                        } else {
                            shared.add_temp_root(id, p.clone());
                            BuildResult::new(BuildStatus::AlreadyValid, "")
                        }
                    }
                    DerivedPath::Built { drv_path, outputs } => {
                        if m.unknown.contains(drv_path) {
                            BuildResult::new(
                                BuildStatus::MiscFailure,
                                format!("path '{}' is not valid", sd.display(drv_path)),
                            )
                        } else if let Some(failure) = first_failure(&outcomes, drv_path) {
                            let mut r = BuildResult::new(
                                failure.status,
                                failure.text(wording, nix_command).into_bytes(),
                            );
                            r.times_built = 1;
                            r.start_time = started;
                            r.stop_time = stopped;
                            r
                        } else {
                            let built = outcomes.contains_key(drv_path);
                            let mut r = BuildResult::new(
                                if built { BuildStatus::Built } else { BuildStatus::AlreadyValid },
                                "",
                            );
                            if built {
                                r.times_built = 1;
                                r.start_time = started;
                                r.stop_time = stopped;
                            }
                            r.built_outputs = built_outputs(st, &sd, &shared.drv_hashes, drv_path, outputs)?;
                            for p in output_map(st, &sd, drv_path)?.into_values().flatten() {
                                shared.add_temp_root(id, p);
                            }
                            let _ = OutputsSpec::All;
                            r
                        }
                    }
                };
                results.push((t, r));
            }
            Ok(results)
        })
        .await?;
    Ok(results)
}

/// The failure that stops `drv` (its own or a dependency's), if any.
fn first_failure<'a>(
    outcomes: &'a HashMap<StorePath, Result<(), Failure>>,
    drv: &StorePath,
) -> Option<&'a Failure> {
    match outcomes.get(drv) {
        Some(Err(f)) => Some(f),
        _ => None,
    }
}

/// What the builds a session starts run with: the words of its
/// generation of nix-daemon (a builtin builder's messages are the daemon's
/// own) and the settings as its SetOptions left them.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub wording: Wording,
    pub settings: Arc<Settings>,
}

impl BuildOptions {
    fn of(s: &Session) -> Self {
        let settings = match &s.options {
            Some(o) => s.shared.settings.for_client(o, s.peer.trusted, s.wording()),
            None => s.shared.settings.clone(),
        };
        BuildOptions {
            wording: s.wording(),
            settings: Arc::new(settings),
        }
    }
}

/// Builds the plan, dependencies first, `max-jobs` at a time.
async fn run_plan(
    shared: Arc<Shared>,
    conn: u64,
    opts: BuildOptions,
    plan: Plan,
    check: BTreeSet<StorePath>,
    log: mpsc::Sender<StderrMsg>,
) -> HashMap<StorePath, Result<(), Failure>> {
    let jobs = Arc::new(Semaphore::new(opts.settings.max_jobs));
    let mut outcomes: HashMap<StorePath, Result<(), Failure>> = HashMap::new();
    let mut pending: BTreeMap<StorePath, BTreeSet<StorePath>> = plan;
    let mut running = tokio::task::JoinSet::new();
    let mut next_act = (conn << 32) | 1;
    loop {
        // Start everything whose dependencies are done.
        let ready: Vec<StorePath> = pending
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| outcomes.contains_key(d)))
            .map(|(d, _)| d.clone())
            .collect();
        for d in ready {
            let deps = pending.remove(&d).unwrap_or_default();
            if let Some(bad) = deps
                .iter()
                .find(|x| matches!(outcomes.get(*x), Some(Err(_))))
            {
                let msg = format!(
                    "1 dependencies of derivation '{}' failed to build",
                    shared.store_dir.display(&d)
                );
                let _ = bad;
                outcomes.insert(
                    d,
                    Err(Failure {
                        message: msg,
                        status: BuildStatus::DependencyFailed,
                        log_hint: None,
                    }),
                );
                continue;
            }
            let act = next_act;
            next_act += 1;
            let (shared, log, jobs, opts) =
                (shared.clone(), log.clone(), jobs.clone(), opts.clone());
            let is_check = check.contains(&d);
            running.spawn(async move {
                let _permit = jobs.acquire_owned().await.expect("semaphore never closes");
                let t_slot = std::time::Instant::now();
                let r = build_guarded(shared, d.clone(), act, is_check, opts, log).await;
                crate::phases::add(crate::phases::Phase::Slot, t_slot);
                (d, r)
            });
        }
        match running.join_next().await {
            Some(Ok((d, r))) => {
                outcomes.insert(d, r);
            }
            Some(Err(e)) => eprintln!("pkgchain-daemon: build task failed: {e}"),
            None => {
                // Nothing running and nothing could start: what is left
                // waits for failed dependencies.
                for (d, _) in std::mem::take(&mut pending) {
                    let msg = format!(
                        "dependencies of derivation '{}' failed to build",
                        shared.store_dir.display(&d)
                    );
                    outcomes.insert(
                        d,
                        Err(Failure {
                            message: msg,
                            status: BuildStatus::DependencyFailed,
                            log_hint: None,
                        }),
                    );
                }
                return outcomes;
            }
        }
    }
}

/// One build under the daemon-wide lock for that derivation: if another
/// client built it meanwhile, there is nothing left to do.
async fn build_guarded(
    shared: Arc<Shared>,
    drv: StorePath,
    act: u64,
    check: bool,
    opts: BuildOptions,
    log: mpsc::Sender<StderrMsg>,
) -> Result<(), Failure> {
    let t_guard = std::time::Instant::now();
    let lock = shared.build_lock(&drv);
    let _held = lock.lock().await;
    if !check {
        let (stores, sd, d) = (shared.stores.clone(), shared.store_dir.clone(), drv.clone());
        let done = tokio::task::spawn_blocking(move || -> bool {
            let Ok(st) = stores.take() else {
                return false;
            };
            let Ok(map) = output_map(&st, &sd, &d) else {
                return false;
            };
            map.values().all(|p| {
                p.as_ref()
                    .is_some_and(|p| st.catalogue.is_valid(p).unwrap_or(false))
            })
        })
        .await
        .unwrap_or(false);
        if done {
            return Ok(());
        }
    }
    crate::phases::add(crate::phases::Phase::Guard, t_guard);
    let shown = shared.store_dir.display(&drv);
    let _ = log
        .send(StderrMsg::StartActivity(StartActivity {
            id: act,
            level: Verbosity::Info,
            activity_type: ActivityType::Build,
            text: if check {
                format!("checking outputs of '{shown}'").into_bytes()
            } else {
                format!("building '{shown}'").into_bytes()
            },
            fields: vec![
                Field::String(shown.into_bytes()),
                Field::String(Vec::new()),
                Field::Int(1),
                Field::Int(1),
            ],
            parent: 0,
        }))
        .await;
    let (line_tx, mut line_rx) = mpsc::channel::<Progress>(256);
    let fwd_log = log.clone();
    let forward = tokio::spawn(async move {
        while let Some(p) = line_rx.recv().await {
            let msg = match p {
                Progress::Line(l) => StderrMsg::Result {
                    id: act,
                    result_type: ResultType::BuildLogLine,
                    fields: vec![Field::String(l)],
                },
                Progress::Next(mut l) => {
                    l.push(b'\n');
                    StderrMsg::Next(l)
                }
            };
            let _ = fwd_log.send(msg).await;
        }
    });
    let slot = (act & 0xffff) as u32;
    let r = build_one(shared.clone(), drv, slot, check, &opts, line_tx).await;
    let _ = forward.await;
    let _ = log.send(StderrMsg::StopActivity { id: act }).await;
    r
}
