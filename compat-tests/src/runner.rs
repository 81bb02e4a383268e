//! One run of one scenario against one daemon, inside a private mount
//! namespace: set up `/nix`, start the daemon, run the client steps, gather
//! the store's state, stop the daemon. Called by the `compat-runner` binary,
//! which `harness.rs` starts under `unshare -m -n --propagation private`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::client::{Client, RootView};
use crate::daemon::{self, Daemon};
use crate::error::RunError;
use crate::exec::{self, Captured};
use crate::layout;
use crate::normalise;
use crate::observe;
use crate::outcome::{CommandOutcome, Outcome, RawOutput, RunReport};
use crate::scenario::{Action, Scenario, Setup, Stderr, Stdout, Step};

const RAW_LIMIT: usize = 16 * 1024;
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Run `scenario` against `daemon` with `<root>/nix` as `/nix`, copying the
/// Nix files from `scenarios_dir`, the steps run by `client`. Must already
/// be in a private namespace.
pub fn run(
    scenario: &Scenario,
    daemon: &Daemon,
    client: &Client,
    root: &Path,
    scenarios_dir: &Path,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    layout::ensure_private_namespace()?;
    layout::enter_private_network()?;
    layout::enter(root)?;
    layout::populate_work(scenarios_dir)?;
    // Dropped (and so stopped) last, also when anything below fails.
    let mut services = Services::default();
    for s in &scenario.setup {
        prepare(s, client, &mut services)?;
    }
    let conf = Path::new(layout::CONF_DIR).join("nix.conf");
    fs::write(&conf, scenario.nix_conf()).map_err(RunError::io("write", &conf))?;

    let mut view = match client {
        Client::Host => None,
        Client::Root(r) => Some(RootView::prepare(r, root)?),
    };
    // The reference of a root client runs inside the view, so it needs
    // /nix there first; ours mounts its store at start, so /nix is bound
    // after it (see `RootView::bind_nix`).
    if let (Some(v), Daemon::Reference) = (view.as_mut(), daemon) {
        v.bind_nix()?;
    }
    let running = daemon.start(view.as_ref().map(RootView::path))?;
    if let (Some(v), Daemon::Ours(_)) = (view.as_mut(), daemon) {
        if let Err(e) = v.bind_nix() {
            let _ = running.stop();
            return Err(e);
        }
    }
    let result = run_steps(scenario, view.as_ref().map(RootView::path));
    let released = view.as_mut().map_or(Ok(()), RootView::release_nix);
    let stopped = running.stop();
    let (commands, raw, step_secs, store) = result?;
    released?;
    stopped?;
    drop(services);
    Ok(RunReport {
        scenario: scenario.name.to_owned(),
        daemon: daemon.label(),
        client: client.label(),
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

fn run_steps(scenario: &Scenario, client_root: Option<&Path>) -> Result<Steps, RunError> {
    let work = Path::new(layout::WORK);
    open_store_once(client_root, work)?;
    let mut commands = Vec::new();
    let mut raw = Vec::new();
    let mut secs = Vec::new();
    for step in &scenario.steps {
        let started = Instant::now();
        match &step.action {
            Action::Shell(script) => {
                let out = exec::spawn_sh_in(client_root, script, work)
                    .and_then(|child| exec::finish(child, started, step.timeout))
                    .map_err(RunError::spawn(script))?;
                record(step, step.name.to_owned(), &out, &mut commands, &mut raw);
            }
            Action::Parallel(scripts) => {
                let mut children = Vec::new();
                for script in scripts {
                    children.push(
                        exec::spawn_sh_in(client_root, script, work)
                            .map_err(RunError::spawn(script))?,
                    );
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

/// One query through the client before any step, so that the daemon's
/// database exists before the scenario's clients arrive. Nix 2.26's
/// nix-daemon creates it in each connection's process when it is missing,
/// and clients that arrive together race there: some read a half-written
/// `db/schema`, log "is corrupt" and reset their client (seen in CI, in a
/// scenario that starts with twelve builds at once; one that first does
/// something else, such as `concurrent_load`, reaches the daemon in
/// parallel first all the same). What the scenarios compare is not that
/// race; the query changes nothing in the store, both daemons get it, and
/// its outcome is not compared (a scenario whose `nix.conf` refuses root
/// gets a refusal, which opens nothing and races with nothing).
fn open_store_once(client_root: Option<&Path>, work: &Path) -> Result<(), RunError> {
    let script = format!(
        "nix-store --check-validity --print-invalid {}/00000000000000000000000000000000-absent > /dev/null 2>&1",
        layout::STORE
    );
    exec::spawn_sh_in(client_root, &script, work)
        .and_then(|child| exec::finish(child, Instant::now(), SETUP_TIMEOUT))
        .map_err(RunError::spawn(script.clone()))?;
    Ok(())
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

/// Background processes a scenario's setup started; each runs in a process
/// group of its own, which is killed when this is dropped.
#[derive(Default)]
struct Services {
    children: Vec<Child>,
}

impl Drop for Services {
    fn drop(&mut self) {
        for child in &mut self.children {
            let pid = i32::try_from(child.id()).expect("pids fit in i32");
            // ESRCH only means the group is already gone.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

const SERVICE_START: Duration = Duration::from_secs(30);

fn start_service(script: &str, listens: &str, services: &mut Services) -> Result<(), RunError> {
    let n = services.children.len();
    let log_path = Path::new(layout::TMP).join(format!("service-{n}.log"));
    let log = File::create(&log_path).map_err(RunError::io("create", &log_path))?;
    let log2 = log.try_clone().map_err(RunError::io("dup", &log_path))?;
    let mut cmd = Command::new("/bin/sh");
    exec::client_env(&mut cmd)
        .arg("-c")
        .arg(script)
        .current_dir(layout::WORK)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let child = cmd.spawn().map_err(RunError::spawn(script))?;
    services.children.push(child);
    let child = services.children.last_mut().expect("just pushed");
    let addr: SocketAddr = listens
        .parse()
        .map_err(|e| RunError::Setup(format!("service address {listens:?}: {e}")))?;
    let started = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return Ok(());
        }
        let exited = child.try_wait().map_err(RunError::spawn(script))?;
        if exited.is_some() || started.elapsed() > SERVICE_START {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Err(RunError::Setup(format!(
                "service `{script}` did not listen on {listens} ({}); its output:\n{log}",
                match exited {
                    Some(status) => format!("it exited with {}", exec::exit_code(status)),
                    None => format!("waited {} s", SERVICE_START.as_secs()),
                }
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn prepare(setup: &Setup, client: &Client, services: &mut Services) -> Result<(), RunError> {
    match setup {
        Setup::Script(script) => {
            let out = exec::run_sh(script, Path::new(layout::WORK), SETUP_TIMEOUT)
                .map_err(RunError::spawn(*script))?;
            if out.exit != 0 {
                return Err(RunError::Setup(format!(
                    "`{script}` exited with {}:\n{}{}",
                    out.exit,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            Ok(())
        }
        Setup::HostFile { path, contents } => {
            layout::plant_host_file(Path::new(path), contents.as_bytes())
        }
        Setup::Service { script, listens } => start_service(script, listens, services),
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
        Setup::ClientUsr => {
            let usr = match client {
                Client::Host => Path::new("/usr").to_owned(),
                Client::Root(root) => root.join("usr"),
            };
            let to = Path::new(crate::scenario::CLIENT_USR);
            fs::create_dir_all(to).map_err(RunError::io("mkdir", to))?;
            layout::bind_read_only(&usr, to, true)
        }
    }
}
