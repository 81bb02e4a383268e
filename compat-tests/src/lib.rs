//! Compatibility harness: the real, unmodified Nix 2.8 client runs the same
//! scenarios twice — once against the real `nix-daemon`, once against ours
//! (`pkgchain-daemon`) — and what the client sees must be identical. The
//! same scenarios run again with Debian trixie's Nix 2.26 as the client,
//! compared between its own `nix-daemon` 2.26 and ours (`client.rs`,
//! `tests/nix226.rs`).
//!
//! This crate owns the scenarios (`scenarios.rs`, `scenarios/moving.rs`,
//! `scenarios/*.nix`), the
//! runner that executes one scenario inside a private mount namespace with a
//! fresh `/nix` (`runner.rs`, binary `compat-runner`), and the comparison
//! (`compare.rs`). It must never touch the machine's own `/nix`: every mount
//! happens inside `unshare -m -n --propagation private`, and the runner
//! refuses to start outside such a namespace. Each run also has a network
//! namespace of its own (only `lo`), so the web servers scenarios start
//! (`Setup::Service`) cannot clash with the host's or the other run's, and
//! files a scenario plants in `/root` or `/home` (`Setup::HostFile`) live in
//! a tmpfs of the run's mount namespace only. Each run also has its own PID
//! namespace and `/proc`, so the collector's run-time roots (found in
//! `/proc`) never come from another run using the same store paths. It
//! does not implement any daemon.
//!
//! # Running
//!
//! As root, with Nix 2.8 (`nix-bin`), `util-linux` (`unshare`, `mount`) and
//! `busybox-static` installed (the `hello` scenario also needs `gcc`, `make`
//! and the source tarball `scripts/setup.sh` caches in `/var/cache/pkgchain/`):
//!
//! ```sh
//! cargo test -p compat-tests                                # reference twice
//! PKGCHAIN_DAEMON=$PWD/target/debug/pkgchain-daemon \
//!     cargo test -p compat-tests                            # reference vs ours
//! ```
//!
//! * `PKGCHAIN_DAEMON` unset: each scenario runs against the reference daemon
//!   in two fresh namespaces and the two outcomes must be identical. This
//!   proves the harness and the scenarios are deterministic; the test output
//!   says that ours was not run. CI sets `PKGCHAIN_DAEMON` once the daemon
//!   exists.
//! * `PKGCHAIN_DAEMON=/path/to/pkgchain-daemon`: the reference and ours run
//!   side by side, each started inside its namespace; ours is started as
//!   `pkgchain-daemon --state-dir /nix/var/pkgchain --socket
//!   /nix/var/nix/daemon-socket/socket --store-dir /nix/store`, must create
//!   the socket within 60 s, and is stopped with SIGTERM. The path must not be
//!   under `/nix`.
//! * `COMPAT_NIX226_ROOT=/var/cache/pkgchain/trixie` (made by
//!   `scripts/trixie-root.sh`, which `scripts/setup.sh` runs): the root
//!   whose Nix 2.26 `tests/nix226.rs` uses as client and reference daemon.
//!   Set, a missing root fails those tests; unset, they use that default
//!   root if it exists and say they were skipped otherwise. Client steps run
//!   chrooted into a read-only view of the root; its `nix-daemon` runs
//!   there after `pivot_root` (the kernel refuses user namespaces, which its
//!   sandbox needs, to a chrooted process); ours runs outside as usual.
//!   What 2.26 prints may differ from what 2.8 prints: only the 2.26
//!   reference and ours are compared.
//! * `COMPAT_SKIP_SLOW=1` skips the scenarios marked slow; `COMPAT_KEEP=1`
//!   keeps each run's `/nix` under `target/tmp/` for inspection.
//! * One scenario alone: `cargo test -p compat-tests --test scenarios chain`;
//!   add `-- --nocapture` to see the timings of passing scenarios.
//!
//! # What is compared
//!
//! Per client command: exit code, normalised stdout (or its SHA-256), and the
//! `error:` lines of stderr (all of stderr for steps marked so). After the
//! last step, for every valid store path (`nix path-info --all`): NAR hash,
//! NAR size, references, deriver, content address, `ultimate`, signatures and
//! the SHA-256 of `nix-store --dump` (made by the host's Nix 2.8 client, in
//! both client modes, from `/nix/store`,
//! i.e. from our FUSE view); store-directory entries that are not valid paths
//! and valid paths the directory does not list; the `result` symlinks; and
//! `nix-store --gc --print-roots`. What is normalised away is listed in
//! `normalise.rs`.

pub mod client;
pub mod compare;
pub mod daemon;
pub mod error;
pub mod exec;
pub mod harness;
pub mod layout;
pub mod normalise;
pub mod observe;
pub mod outcome;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod scenarios_env;
pub mod scenarios_stress;
pub mod users;

pub use client::Client;
pub use compare::{Diff, Difference, compare};
pub use daemon::Daemon;
pub use error::RunError;
pub use harness::{Harness, Mode, Verdict, assert_compatible};
pub use outcome::{Outcome, RunReport};
pub use scenario::{Scenario, Step};

/// Calls the macro `$m` with the name of every scenario of
/// [`scenarios::all`], in its order: the one list the test files (one
/// `#[test]` per scenario, per client) are made from.
#[macro_export]
macro_rules! for_each_scenario {
    ($m:ident) => {
        $m!(
            trivial,
            chain,
            multi_output,
            sources,
            to_file,
            fixed_output,
            failing_build,
            import_from_derivation,
            check,
            big_input,
            parallel,
            instantiate,
            realise,
            new_cli,
            store_add,
            store_query,
            export_import,
            no_sandbox,
            network,
            closure,
            host_dirs,
            fetch,
            hello,
            client_settings,
            // scenarios_env.rs
            env_default_profile,
            env_named_profiles,
            gc_roots,
            gc_keep,
            env_user,
            user_refused,
            allowed_users,
            // scenarios/moving.rs
            sign_export_import,
            binary_cache,
            dump_restore,
            verify_optimise,
            add_fixed_forms,
            build_logs,
            profile_closure,
        );
    };
}
