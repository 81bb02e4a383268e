//! What a scenario is: a `nix.conf`, some files to prepare, and client
//! commands to run in order. The list of scenarios is in `scenarios.rs`; the
//! Nix expressions they build are in `compat-tests/scenarios/`.

use std::time::Duration;

/// How a command's standard output enters the compared outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// The text, normalised (see `normalise.rs`).
    Text,
    /// Only `sha256:<hex>` of the raw bytes (for `--dump`, `--export`).
    Sha256,
    /// Not compared (still reported for debugging).
    Ignore,
}

/// Which part of a command's standard error enters the compared outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// Lines that start with `error:` (the first line of each error), normalised.
    ErrorLines,
    /// Every line, normalised. Only for commands whose log order is fixed.
    Full,
    /// Not compared.
    Ignore,
}

/// What a step runs, always from the scenario's work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// One `/bin/sh -c` script.
    Shell(String),
    /// Several `/bin/sh -c` scripts started at once; each is recorded as
    /// `<step>#<n>`.
    Parallel(Vec<String>),
}

/// One client step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Short name, unique within the scenario; it labels the step in diffs.
    pub name: &'static str,
    /// What runs.
    pub action: Action,
    /// How stdout is compared.
    pub stdout: Stdout,
    /// How stderr is compared.
    pub stderr: Stderr,
    /// The exit code the reference daemon must give, so that a scenario keeps
    /// testing what it says it tests.
    pub expect_exit: Option<i32>,
    /// Killed (exit recorded as `-1`) after this long.
    pub timeout: Duration,
}

impl Step {
    /// A shell step that must succeed.
    pub fn sh(name: &'static str, script: &str) -> Self {
        Step {
            name,
            action: Action::Shell(script.to_owned()),
            stdout: Stdout::Text,
            stderr: Stderr::ErrorLines,
            expect_exit: Some(0),
            timeout: Duration::from_secs(300),
        }
    }

    /// Scripts run concurrently, each of which must succeed.
    pub fn parallel(name: &'static str, scripts: Vec<String>) -> Self {
        Step {
            action: Action::Parallel(scripts),
            ..Step::sh(name, "")
        }
    }

    /// The exit code the reference must give (default 0).
    pub fn exit(mut self, code: i32) -> Self {
        self.expect_exit = Some(code);
        self
    }

    /// Record the exit code whatever it is.
    pub fn any_exit(mut self) -> Self {
        self.expect_exit = None;
        self
    }

    /// Compare only the SHA-256 of stdout.
    pub fn stdout_hash(mut self) -> Self {
        self.stdout = Stdout::Sha256;
        self
    }

    /// Do not compare stdout.
    pub fn ignore_stdout(mut self) -> Self {
        self.stdout = Stdout::Ignore;
        self
    }

    /// Compare all of stderr, normalised.
    pub fn full_stderr(mut self) -> Self {
        self.stderr = Stderr::Full;
        self
    }
}

/// What the runner prepares inside the run's namespaces before the daemon
/// starts, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    /// `len` bytes of a fixed pseudo-random stream (xorshift64, seed 1),
    /// written into the work directory.
    PseudoRandomFile { name: &'static str, len: u64 },
    /// A `/bin/sh -c` script run to completion in the work directory with
    /// the client's environment; the run fails if it fails.
    Script(&'static str),
    /// A file at `path`, an absolute path outside `/nix`, which only this
    /// run sees: the deepest existing directory on its path (not `/`) is
    /// covered by a tmpfs in the run's mount namespace, with each of its
    /// original entries bind-mounted back, and the file (and any missing
    /// directories) is made there. The host's directories are never written.
    HostFile {
        path: &'static str,
        contents: &'static str,
    },
    /// A `/bin/sh -c` script started in the background in the work
    /// directory (with the client's environment) that serves until the run
    /// ends; the runner waits until `listens` (`address:port`) accepts TCP
    /// connections. Each run has its own network namespace, so two runs
    /// side by side can use the same port.
    Service {
        script: &'static str,
        listens: &'static str,
    },
    /// An ordinary user that exists only in the run's namespace, with uid
    /// and gid `uid` and a home directory (see `users.rs`); steps run as
    /// it through `users::as_user`.
    User { name: &'static str, uid: u32 },
    /// The client's `/usr` (the host's, or that of the client's root),
    /// read-only at [`CLIENT_USR`], so that builds through either daemon
    /// can be given the same toolchain with `extra-sandbox-paths`.
    ClientUsr,
}

/// Where [`Setup::ClientUsr`] puts the client's `/usr` (under `/nix`, so
/// the reference daemon of a client root sees it as well).
pub const CLIENT_USR: &str = "/nix/compat/client-usr";

/// One scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Name, also the name of its `#[test]`.
    pub name: &'static str,
    /// What it checks, one sentence.
    pub about: &'static str,
    /// `sandbox = true` in `nix.conf`.
    pub sandbox: bool,
    /// `experimental-features = nix-command` in `nix.conf`.
    pub nix_command: bool,
    /// Extra `nix.conf` lines.
    pub extra_conf: Vec<&'static str>,
    /// Takes more than a few seconds; skipped when `COMPAT_SKIP_SLOW` is set.
    pub slow: bool,
    /// Files to prepare.
    pub setup: Vec<Setup>,
    /// The client commands, in order.
    pub steps: Vec<Step>,
    /// Store path names (the part after `<hash>-`) whose contents are not
    /// reproducible by design; their NAR hash and dump hash are not compared
    /// (their size and references still are).
    pub unstable: Vec<&'static str>,
}

impl Scenario {
    /// A sandboxed scenario with no steps yet.
    pub fn new(name: &'static str, about: &'static str) -> Self {
        Scenario {
            name,
            about,
            sandbox: true,
            nix_command: false,
            extra_conf: Vec::new(),
            slow: false,
            setup: Vec::new(),
            steps: Vec::new(),
            unstable: Vec::new(),
        }
    }

    /// Append a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Set `sandbox = false`.
    pub fn no_sandbox(mut self) -> Self {
        self.sandbox = false;
        self
    }

    /// Enable the `nix-command` experimental feature.
    pub fn nix_command(mut self) -> Self {
        self.nix_command = true;
        self
    }

    /// Mark as slow.
    pub fn slow(mut self) -> Self {
        self.slow = true;
        self
    }

    /// Prepare a file before the first step.
    pub fn setup(mut self, setup: Setup) -> Self {
        self.setup.push(setup);
        self
    }

    /// Add a `nix.conf` line.
    pub fn extra_conf(mut self, line: &'static str) -> Self {
        self.extra_conf.push(line);
        self
    }

    /// Declare a store path name whose contents vary from build to build.
    pub fn unstable(mut self, name: &'static str) -> Self {
        self.unstable.push(name);
        self
    }

    /// The `nix.conf` both daemons and the client read.
    pub fn nix_conf(&self) -> String {
        let mut conf = String::new();
        conf.push_str("build-users-group =\n");
        conf.push_str(&format!("sandbox = {}\n", self.sandbox));
        conf.push_str("sandbox-paths =\n");
        conf.push_str("substituters =\n");
        if self.nix_command {
            conf.push_str("experimental-features = nix-command\n");
        }
        for line in &self.extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        conf
    }
}
