//! Running one derivation's builder in the sandbox helper and turning a
//! success into valid paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix_formats::content_address::ContentAddress;
use nix_formats::derivation::{Derivation, DerivationOutput};
use nix_formats::store_path::{StoreDir, StorePath};
use sandbox::protocol::Outcome;
use sandbox::{BuildSpec, EnvConfig, builder_invocation, parse_sandbox_paths};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::outputs::{Output, prepare_output};
use crate::ops::query::output_map;
use crate::ops::read_derivation;
use crate::phases::{self, Phase};
use crate::session::{OpError, chain};
use crate::shared::Shared;
use crate::wording::Wording;

/// Lines of log a failed build quotes (Nix's `log-lines`).
const LOG_LINES: usize = 10;

/// What a build sends back while it runs.
#[derive(Debug)]
pub enum Progress {
    /// A line of build log.
    Line(Vec<u8>),
    /// A message for the client's own log (builtins' warnings).
    Next(Vec<u8>),
}

/// How a build failed, with Nix's message.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub status: nix_formats::wire::BuildStatus,
    /// The derivation (as shown) whose full log the message should point
    /// to after its log tail. The pointer's words depend on the client's
    /// generation, so it is added when the message is sent
    /// ([`Failure::text`]).
    pub log_hint: Option<String>,
}

impl Failure {
    /// The message as the session's client generation words it.
    pub fn text(&self, wording: Wording, nix_command: bool) -> String {
        let message = wording.chroot_path(&self.message);
        match &self.log_hint {
            None => message,
            Some(drv) => format!("{message}\n{}", wording.full_log_hint(drv, nix_command)),
        }
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        status: nix_formats::wire::BuildStatus::MiscFailure,
        log_hint: None,
    }
}

fn op_msg(e: OpError) -> String {
    match e {
        OpError::Client(i) => String::from_utf8_lossy(&i.message).into_owned(),
        OpError::Fatal(f) => chain(&f),
    }
}

/// The store paths a build may see: the closure of its input sources and
/// of the outputs it uses of its input derivations.
fn input_closure(
    st: &store_ipfs::store::Store,
    sd: &StoreDir,
    drv: &Derivation,
) -> Result<BTreeSet<StorePath>, Failure> {
    let mut todo: Vec<StorePath> = drv.input_srcs.iter().cloned().collect();
    for (input, outs) in &drv.input_drvs {
        let map = output_map(st, sd, input).map_err(|e| fail(op_msg(e)))?;
        for o in outs {
            match map.get(o) {
                Some(Some(p)) => todo.push(p.clone()),
                _ => {
                    return Err(fail(format!(
                        "derivation '{}' has no output '{o}'",
                        sd.display(input)
                    )));
                }
            }
        }
    }
    let roots: BTreeSet<StorePath> = todo.into_iter().collect();
    let (closure, missing) = st.catalogue.closure(&roots).map_err(|e| fail(chain(&e)))?;
    if let Some(p) = missing.first() {
        return Err(fail(format!(
            "dependency '{}' of derivation is not valid",
            sd.display(p)
        )));
    }
    Ok(closure)
}

/// `$TMPDIR/nix-build-<drv name>-<n>` with the first free `n`, as Nix
/// names the build directory of unsandboxed builds.
fn unsandboxed_build_dir(drv_path: &StorePath) -> PathBuf {
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let mut n = 0;
    loop {
        let p = tmp.join(format!("nix-build-{}-{n}", drv_path.name()));
        if std::fs::create_dir(&p).is_ok() {
            let _ = std::fs::remove_dir(&p);
            return p;
        }
        n += 1;
    }
}

pub fn helper_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PKGCHAIN_SANDBOX") {
        return p.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("pkgchain-sandbox")))
        .unwrap_or_else(|| PathBuf::from("pkgchain-sandbox"))
}

/// What glibc's `strsignal` says about `sig` on Linux, which Nix puts in
/// brackets after the number.
fn signal_description(sig: i32) -> String {
    const NAMES: [&str; 31] = [
        "Hangup",
        "Interrupt",
        "Quit",
        "Illegal instruction",
        "Trace/breakpoint trap",
        "Aborted",
        "Bus error",
        "Floating point exception",
        "Killed",
        "User defined signal 1",
        "Segmentation fault",
        "User defined signal 2",
        "Broken pipe",
        "Alarm clock",
        "Terminated",
        "Stack fault",
        "Child exited",
        "Continued",
        "Stopped (signal)",
        "Stopped",
        "Stopped (tty input)",
        "Stopped (tty output)",
        "Urgent I/O condition",
        "CPU time limit exceeded",
        "File size limit exceeded",
        "Virtual timer expired",
        "Profiling timer expired",
        "Window changed",
        "I/O possible",
        "Power failure",
        "Bad system call",
    ];
    // glibc reserves 32 and 33 for its threads; SIGRTMIN is 34.
    const RTMIN: i32 = 34;
    const RTMAX: i32 = 64;
    match sig {
        1..=31 => NAMES[(sig - 1) as usize].to_owned(),
        RTMIN..=RTMAX => format!("Real-time signal {}", sig - RTMIN),
        _ => format!("Unknown signal {sig}"),
    }
}

/// Nix's failure for a build the worker stopped for taking too long
/// (`timeout`) or saying nothing for too long (`max-silent-time`): named
/// by its goal (`building of '<drv>!<outputs>' from .drv file`; `^` from
/// Nix 2.15's derived-path syntax on), without a log tail.
fn timed_out(sd_drv: &str, drv: &Derivation, wording: Wording, secs: u64, what: &str) -> Failure {
    let outputs: Vec<&str> = drv.outputs.keys().map(String::as_str).collect();
    let sep = if wording == Wording::Nix2_8 { '!' } else { '^' };
    let goal = format!(
        "building of '{sd_drv}{sep}{}' from .drv file",
        outputs.join(",")
    );
    Failure {
        message: format!(
            "\x1b[35;1m{goal}\x1b[0m timed out after \x1b[35;1m{secs}\x1b[0m seconds{what}"
        ),
        status: nix_formats::wire::BuildStatus::TimedOut,
        log_hint: None,
    }
}

/// `--keep-failed`: moves a failed build's directory where Nix keeps it,
/// `$TMPDIR/nix-build-<drv name>-<n>` (Nix 2.26: its `build` subdirectory),
/// world-readable; returns what the note names. An unsandboxed build
/// already ran there. If it cannot be moved (another file system), it is
/// kept where it is.
fn keep_build_dir(
    drv_path: &StorePath,
    build_dir: &Path,
    sandboxed: bool,
    wording: Wording,
) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let open = |p: &Path| {
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
    };
    if !sandboxed {
        open(build_dir);
        return Some(build_dir.to_owned());
    }
    let top = unsandboxed_build_dir(drv_path);
    let target = if wording == Wording::Nix2_26 {
        if std::fs::create_dir(&top).is_err() {
            return None;
        }
        open(&top);
        top.join("build")
    } else {
        top
    };
    match std::fs::rename(build_dir, &target) {
        Ok(()) => {
            open(&target);
            Some(target)
        }
        Err(_) => {
            open(build_dir);
            Some(build_dir.to_owned())
        }
    }
}

/// Nix's failure for a builder that did not succeed: what happened and
/// the log tail; the pointer to the full log comes with [`Failure::text`].
fn exit_failure(
    sd_drv: &str,
    outcome: &Outcome,
    tail: &[Vec<u8>],
    status: nix_formats::wire::BuildStatus,
) -> Failure {
    let what = match outcome {
        Outcome::Exited(c) => format!("failed with exit code {c}"),
        Outcome::Signaled(s) | Outcome::HelperKilled(s) => {
            format!("failed due to signal {s} ({})", signal_description(*s))
        }
        Outcome::TimedOut { .. } => "timed out".to_owned(),
        Outcome::Silent { .. } => "timed out after silence".to_owned(),
        Outcome::SetupFailed { message } => {
            return Failure {
                message: message.clone(),
                status,
                log_hint: None,
            };
        }
    };
    let mut m = format!("builder for '\x1b[35;1m{sd_drv}\x1b[0m' {what}");
    if !tail.is_empty() {
        m.push_str(&format!(";\nlast {} log lines:", tail.len()));
        for l in tail {
            m.push_str("\n> ");
            m.push_str(&String::from_utf8_lossy(l));
        }
    }
    Failure {
        message: m,
        status,
        log_hint: (!tail.is_empty()).then(|| sd_drv.to_owned()),
    }
}

/// Builds `drv_path` (whose inputs are valid) and registers its outputs.
pub async fn build_one(
    shared: Arc<Shared>,
    drv_path: StorePath,
    slot: u32,
    check: bool,
    opts: &crate::build::BuildOptions,
    log: mpsc::Sender<Progress>,
) -> Result<(), Failure> {
    let wording = opts.wording;
    let sd = shared.store_dir.clone();
    let shown = sd.display(&drv_path);
    let state = shared.state_dir.clone();
    let t_prepare = std::time::Instant::now();
    let (drv, closure, outputs) = {
        let (sd, drv_path, stores) = (sd.clone(), drv_path.clone(), shared.stores.clone());
        tokio::task::spawn_blocking(move || -> Result<_, Failure> {
            let mut st = stores.take().map_err(|e| fail(chain(&e)))?;
            let drv = read_derivation(&st, &sd, &drv_path).map_err(|e| fail(op_msg(e)))?;
            let closure = input_closure(&st, &sd, &drv)?;
            let outputs = output_map(&st, &sd, &drv_path).map_err(|e| fail(op_msg(e)))?;
            // What an earlier failed build left at the outputs goes first,
            // as Nix deletes invalid outputs before it builds.
            let known: Vec<StorePath> = outputs.values().flatten().cloned().collect();
            st.catalogue
                .remove_leftovers(&known)
                .map_err(|e| fail(chain(&e)))?;
            Ok((drv, closure, outputs))
        })
        .await
        .map_err(|e| fail(e.to_string()))??
    };
    phases::add(Phase::Prepare, t_prepare);
    let t_setup = std::time::Instant::now();
    let mut out_paths: BTreeMap<String, StorePath> = BTreeMap::new();
    for (name, p) in &outputs {
        match p {
            Some(p) => {
                out_paths.insert(name.clone(), p.clone());
            }
            None => {
                return Err(fail(format!(
                    "cannot build '{shown}': content-addressed outputs need the experimental feature 'ca-derivations'"
                )));
            }
        }
    }
    let work = state
        .join("builds")
        .join(format!("{}-{}", drv_path.hash_part(), slot));
    let _ = std::fs::remove_dir_all(&work);
    let settings = &*opts.settings;
    let root = work.join("root");
    // With `sandbox = false` Nix builds in `$TMPDIR/nix-build-<drv name>-<n>`
    // and the builder sees that path; sandboxed builds see `/build`.
    let build_dir = if settings.sandbox {
        work.join("build")
    } else {
        unsandboxed_build_dir(&drv_path)
    };
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("creating build directory: {e}")))?;
    std::fs::create_dir_all(&build_dir)
        .map_err(|e| fail(format!("creating build directory: {e}")))?;
    let sandbox_build_dir = if settings.sandbox {
        PathBuf::from("/build")
    } else {
        build_dir.clone()
    };
    let mut cfg = EnvConfig::new(&build_dir);
    cfg.sandbox_build_dir = sandbox_build_dir.to_string_lossy().into_owned();
    cfg.store_dir = sd.as_str().to_owned();
    cfg.cores = settings.cores as u32;
    cfg.outputs = out_paths
        .iter()
        .map(|(k, v)| (k.clone(), sd.display(v)))
        .collect();
    let inv = builder_invocation(&drv, &cfg, None).map_err(|e| fail(format!("{e}")))?;
    let register = || {
        register_all(
            &shared,
            &drv_path,
            &drv,
            &root,
            &closure,
            &out_paths,
            settings.sandbox,
        )
    };
    if drv.is_builtin() {
        let r = run_builtin_drv(&shared, &drv_path, &inv, &root, &out_paths, wording, &log).await;
        let r = match r {
            Ok(()) => register().await,
            Err(e) => {
                if !check {
                    keep_leftovers(&shared, &root, &out_paths).await;
                }
                Err(e)
            }
        };
        remove_in_background(&work);
        return r;
    }
    // Without `build-users-group`, Nix builds as the daemon's own user,
    // which the user namespace shows as 1000/100 (so the store's root-owned
    // files do too); with it, as a user of its own (ours: 30000 + slot).
    let (uid, gid) = if settings.build_users_group.is_empty() {
        (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        )
    } else {
        (30000 + slot, 30000)
    };
    inv.write_files(&build_dir, uid, gid)
        .map_err(|e| fail(format!("writing build files: {e}")))?;
    let mut spec = BuildSpec::new(inv.builder.clone(), &root, &build_dir);
    inv.apply_to(&mut spec);
    spec.store_dir = PathBuf::from(sd.as_str());
    spec.inputs = closure
        .iter()
        .map(|p| PathBuf::from(sd.display(p)))
        .collect();
    spec.outputs = out_paths
        .values()
        .map(|p| PathBuf::from(sd.display(p)))
        .collect();
    spec.sandbox_paths = parse_sandbox_paths(&settings.sandbox_paths.join(" "));
    spec.build_uid = uid;
    spec.build_gid = gid;
    spec.cores = settings.cores as u32;
    spec.timeout_secs = settings.timeout;
    spec.max_silent_secs = settings.max_silent_time;
    spec.system = drv.platform.to_str_lossy().into_owned();
    spec.sandbox_build_dir = sandbox_build_dir;
    if !settings.sandbox {
        // Unsandboxed builds share the host's network, as in Nix.
        spec.network = true;
    }
    phases::add(Phase::Setup, t_setup);
    let t_sandbox = std::time::Instant::now();
    let mut child = shared.helpers.take().map_err(|e| {
        fail(format!(
            "cannot start the sandbox helper '{}': {e}",
            shared.helpers.path().display()
        ))
    })?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let encoded = spec.encode();
    stdin
        .write_all(&encoded)
        .await
        .map_err(|e| fail(format!("sandbox helper: {e}")))?;
    drop(stdin);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_task = tokio::spawn(async move {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v).await;
        v
    });
    let mut lines = tokio::io::BufReader::new(stdout).split(b'\n');
    let mut full_log = Vec::new();
    let mut tail: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    while let Ok(Some(mut line)) = lines.next_segment().await {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        full_log.extend_from_slice(&line);
        full_log.push(b'\n');
        tail.push_back(line.clone());
        if tail.len() > LOG_LINES {
            tail.pop_front();
        }
        let _ = log.send(Progress::Line(line)).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| fail(format!("sandbox helper: {e}")))?;
    let helper_err = err_task.await.unwrap_or_default();
    let outcome = Outcome::decode(status, &helper_err);
    phases::add(Phase::Sandbox, t_sandbox);
    let t_log = std::time::Instant::now();
    let _ = crate::logs::write_log(&shared.log_dir, &drv_path, full_log.as_slice());
    phases::add(Phase::Cleanup, t_log);
    if !outcome.is_success() {
        let tail: Vec<Vec<u8>> = tail.into_iter().collect();
        if !check {
            keep_leftovers(&shared, &root, &out_paths).await;
        }
        let kept = if settings.keep_failed {
            keep_build_dir(&drv_path, &build_dir, settings.sandbox, wording)
        } else {
            None
        };
        if let Some(dir) = &kept {
            let note = format!("note: keeping build directory '{}'", dir.display());
            let _ = log.send(Progress::Next(note.into_bytes())).await;
        }
        if !kept.as_deref().is_some_and(|k| k.starts_with(&work)) {
            remove_in_background(&work);
        }
        if !settings.sandbox && kept.is_none() {
            let _ = make_writable_and_remove(&build_dir);
        }
        let status = match outcome {
            Outcome::TimedOut { .. } | Outcome::Silent { .. } => {
                nix_formats::wire::BuildStatus::TimedOut
            }
            _ => nix_formats::wire::BuildStatus::PermanentFailure,
        };
        let secs = match outcome {
            Outcome::TimedOut { .. } => Some((settings.timeout, "")),
            Outcome::Silent { .. } => Some((settings.max_silent_time, " of silence")),
            _ => None,
        };
        if let Some((secs, what)) = secs {
            return Err(timed_out(&shown, &drv, wording, secs, what));
        }
        return Err(exit_failure(&shown, &outcome, &tail, status));
    }
    if check {
        let r = compare_outputs(
            &shared.stores,
            &sd,
            &drv_path,
            &root,
            &out_paths,
            settings.sandbox,
        )
        .await;
        remove_in_background(&work);
        return r;
    }
    let t_register = std::time::Instant::now();
    let result = register().await;
    phases::add(Phase::Register, t_register);
    let t_cleanup = std::time::Instant::now();
    remove_in_background(&work);
    if !settings.sandbox {
        let _ = make_writable_and_remove(&build_dir);
    }
    phases::add(Phase::Cleanup, t_cleanup);
    result
}

/// Where Nix 2.8 looks for an output after the build, as its messages show
/// it: in the chroot (`<drv path>.chroot<out path>`) when sandboxed.
fn looked_at(sd: &StoreDir, drv_path: &StorePath, out: &StorePath, sandboxed: bool) -> String {
    if sandboxed {
        format!("{}.chroot{}", sd.display(drv_path), sd.display(out))
    } else {
        sd.display(out)
    }
}

/// After a failed build, Nix 2.8 moves whatever the builder left at its
/// (invalid) output paths into the store, unregistered, for inspection;
/// the next build of the derivation or the garbage collector deletes it.
/// Ours keeps such a tree as a leftover, which the store directory shows
/// but which is not valid. Failing to keep it only loses that debugging
/// aid, so it is logged, not reported.
async fn keep_leftovers(shared: &Shared, root: &Path, out_paths: &BTreeMap<String, StorePath>) {
    let (sd, stores) = (shared.store_dir.clone(), shared.stores.clone());
    let (root, out_paths) = (root.to_owned(), out_paths.clone());
    let kept = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut st = stores.take().map_err(|e| chain(&e))?;
        for path in out_paths.values() {
            let host = host_output(&root, &sd, path);
            if std::fs::symlink_metadata(&host).is_err() {
                continue;
            }
            let (pipe_r, pipe_w) = std::io::pipe().map_err(|e| e.to_string())?;
            let dumper = std::thread::spawn(move || {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, pipe_w);
                nix_formats::nar::dump(&host, &mut w).map_err(|e| e.to_string())?;
                std::io::Write::flush(&mut w).map_err(|e| e.to_string())
            });
            let added = st.add_leftover(path, std::io::BufReader::with_capacity(1 << 20, pipe_r));
            let dumped = dumper
                .join()
                .unwrap_or_else(|_| Err("NAR dump thread panicked".to_owned()));
            let what = sd.display(path);
            dumped.map_err(|e| format!("{what}: {e}"))?;
            added.map_err(|e| format!("{what}: {}", chain(&e)))?;
        }
        Ok(())
    })
    .await;
    let err = match kept {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(e) => e.to_string(),
    };
    eprintln!("pkgchain-daemon: cannot keep what a failed build left: {err}");
}

/// Registers every output the build left under `root`.
async fn register_all(
    shared: &Shared,
    drv_path: &StorePath,
    drv: &Derivation,
    root: &Path,
    closure: &BTreeSet<StorePath>,
    out_paths: &BTreeMap<String, StorePath>,
    sandboxed: bool,
) -> Result<(), Failure> {
    let (sd, stores) = (shared.store_dir.clone(), shared.stores.clone());
    let (drv_path, drv, root, closure, out_paths) = (
        drv_path.clone(),
        drv.clone(),
        root.to_owned(),
        closure.clone(),
        out_paths.clone(),
    );
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let mut st = stores.take().map_err(|e| fail(chain(&e)))?;
        let t_import = std::time::Instant::now();
        let mut candidates = closure;
        candidates.extend(out_paths.values().cloned());
        let mut prepared = Vec::new();
        let mut deferred = None;
        for (name, path) in &out_paths {
            let host = host_output(&root, &sd, path);
            let fixed = match drv.outputs.get(name) {
                Some(DerivationOutput::CAFixed { hash, .. }) => match hash.content_address() {
                    ContentAddress::Fixed { method, hash } => Some((method, hash)),
                    ContentAddress::Text(h) => {
                        Some((nix_formats::content_address::FileIngestionMethod::Flat, h))
                    }
                },
                _ => None,
            };
            let out = Output {
                name,
                path: path.clone(),
                host: &host,
                looked_at: looked_at(&sd, &drv_path, path, sandboxed),
                fixed,
            };
            let (p, err) = prepare_output(&st, &sd, &drv_path, &out, &candidates)
                .map_err(|e| fail(chain(&e)))?;
            deferred = deferred.or(err);
            prepared.push(p);
        }
        let ordered = order_outputs(&sd, &drv_path, prepared)?;
        phases::add(Phase::RegisterImport, t_import);
        phases::commit_timed(
            &mut st,
            ordered,
            Phase::RegisterSync,
            Phase::RegisterCatalogue,
        )
        .map_err(|e| fail(chain(&e)))?;
        match deferred {
            Some(e) => Err(fail(chain(&e))),
            None => Ok(()),
        }
    })
    .await
    .map_err(|e| fail(e.to_string()))?
}

/// Orders a derivation's outputs so that each comes after the siblings it
/// refers to; a cycle is Nix's error.
fn order_outputs(
    sd: &StoreDir,
    drv_path: &StorePath,
    mut left: Vec<store_ipfs::store::Prepared>,
) -> Result<Vec<store_ipfs::store::Prepared>, Failure> {
    let mut done: BTreeSet<StorePath> = BTreeSet::new();
    let mut ordered = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let siblings: BTreeSet<StorePath> = left.iter().map(|p| p.rec.path.clone()).collect();
        let pos = left.iter().position(|p| {
            p.rec
                .references
                .iter()
                .all(|r| *r == p.rec.path || done.contains(r) || !siblings.contains(r))
        });
        let Some(i) = pos else {
            return Err(fail(format!(
                "cycle detected in the references of the outputs of '{}'",
                sd.display(drv_path)
            )));
        };
        let p = left.remove(i);
        done.insert(p.rec.path.clone());
        ordered.push(p);
    }
    Ok(ordered)
}

/// Runs a `builtin:` builder in the daemon (as Nix runs it in the build
/// child), with `$out` created under `root`. It reads inputs through the
/// store dir; that is safe because FUSE threads never wait on builds.
async fn run_builtin_drv(
    shared: &Shared,
    drv_path: &StorePath,
    inv: &sandbox::BuilderInvocation,
    root: &Path,
    out_paths: &BTreeMap<String, StorePath>,
    wording: Wording,
    log: &mpsc::Sender<Progress>,
) -> Result<(), Failure> {
    let sd = shared.store_dir.clone();
    let shown = sd.display(drv_path);
    // The derivation's builder, `builtin:<name>`.
    let builder = String::from_utf8_lossy(&inv.builder).into_owned();
    let env: BTreeMap<String, String> = inv
        .env
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    let out = out_paths
        .get("out")
        .cloned()
        .ok_or_else(|| fail(format!("builtin derivation '{shown}' has no output 'out'")))?;
    let out_host = host_output(root, &sd, &out);
    std::fs::create_dir_all(out_host.parent().expect("output has a parent"))
        .map_err(|e| fail(e.to_string()))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let work = tokio::task::spawn_blocking(move || {
        let sink = |m: &crate::builtins::LogMessage| {
            let _ = tx.send(m.nix.clone().into_bytes());
        };
        let mut ctx =
            crate::builtins::BuiltinContext::new(sd.clone(), PathBuf::from(sd.as_str()), out_host);
        ctx.log = &sink;
        ctx.wording = wording;
        crate::builtins::run_builtin(&builder, &env, &ctx).map_err(|e| e.nix_log_text())
    });
    while let Some(m) = rx.recv().await {
        let _ = log.send(Progress::Next(m)).await;
    }
    match work.await.map_err(|e| fail(e.to_string()))? {
        Ok(_) => Ok(()),
        Err(text) => {
            let tail: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
            for l in &tail {
                let _ = log.send(Progress::Line(l.clone())).await;
            }
            Err(exit_failure(
                &shown,
                &Outcome::Exited(1),
                &tail,
                nix_formats::wire::BuildStatus::PermanentFailure,
            ))
        }
    }
}

/// `--check`: the rebuilt outputs must hash like the registered ones.
async fn compare_outputs(
    stores: &std::sync::Arc<crate::shared::StorePool>,
    sd: &StoreDir,
    drv_path: &StorePath,
    root: &Path,
    out_paths: &BTreeMap<String, StorePath>,
    sandboxed: bool,
) -> Result<(), Failure> {
    let (stores, sd, drv_path, root, out_paths) = (
        stores.clone(),
        sd.clone(),
        drv_path.clone(),
        root.to_owned(),
        out_paths.clone(),
    );
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let st = stores.take().map_err(|e| fail(chain(&e)))?;
        for (name, path) in &out_paths {
            let host = host_output(&root, &sd, path);
            let rec = st.catalogue.path_info(path).map_err(|e| fail(chain(&e)))?.ok_or_else(|| {
                fail(format!("some outputs of '{}' are not valid, so checking is not possible", sd.display(&drv_path)))
            })?;
            let (h, _) = nix_formats::nar::hash_path(nix_formats::hash::HashAlgo::Sha256, &host).map_err(|_| {
                fail(format!(
                    "builder for '{}' failed to produce output path for output '{name}' at '{}'",
                    sd.display(&drv_path),
                    looked_at(&sd, &drv_path, path, sandboxed)
                ))
            })?;
            if h != rec.nar_hash {
                return Err(Failure {
                    message: format!(
                        "derivation '{}' may not be deterministic: output '{}' differs",
                        sd.display(&drv_path),
                        sd.display(path)
                    ),
                    status: nix_formats::wire::BuildStatus::NotDeterministic,
                    log_hint: None,
                });
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| fail(e.to_string()))?
}

fn host_output(root: &Path, sd: &StoreDir, p: &StorePath) -> PathBuf {
    root.join(sd.as_str().trim_start_matches('/'))
        .join(p.to_string())
}

/// Takes a finished build's directory out of the way at once (one rename
/// to a name no build uses) and removes it on another thread: removing
/// the chroot's mount points costs milliseconds the client need not wait.
fn remove_in_background(dir: &Path) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(parent) = dir.parent() else {
        let _ = make_writable_and_remove(dir);
        return;
    };
    let trash = parent.join(format!(".trash-{}-{n}", std::process::id()));
    if std::fs::rename(dir, &trash).is_err() {
        let _ = make_writable_and_remove(dir);
        return;
    }
    std::thread::spawn(move || {
        let _ = make_writable_and_remove(&trash);
    });
}

/// Build outputs are read-only trees owned by the build user; make them
/// removable, then remove.
fn make_writable_and_remove(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                if m.is_dir() {
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
                    let _ = make_writable_and_remove(&p);
                }
            }
        }
    }
    std::fs::remove_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_descriptions_are_glibcs() {
        assert_eq!(signal_description(11), "Segmentation fault");
        assert_eq!(signal_description(9), "Killed");
        assert_eq!(signal_description(31), "Bad system call");
        assert_eq!(signal_description(34), "Real-time signal 0");
        assert_eq!(signal_description(64), "Real-time signal 30");
        assert_eq!(signal_description(32), "Unknown signal 32");
    }

    #[test]
    fn a_signal_is_named_like_nix_names_it() {
        let m = exit_failure(
            "/nix/store/x-t.drv",
            &Outcome::Signaled(11),
            &[],
            nix_formats::wire::BuildStatus::PermanentFailure,
        )
        .message;
        assert_eq!(
            m,
            "builder for '\x1b[35;1m/nix/store/x-t.drv\x1b[0m' failed due to signal 11 (Segmentation fault)"
        );
    }
}
