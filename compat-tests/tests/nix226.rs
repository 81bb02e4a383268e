//! The scenarios again with Debian trixie's Nix 2.26 as the client: against
//! that root's own `nix-daemon` 2.26 (the reference) and against ours
//! (`PKGCHAIN_DAEMON`), or against itself when that is unset. The root is
//! made by `scripts/trixie-root.sh` (run by `scripts/setup.sh`);
//! `COMPAT_NIX226_ROOT` names it, and when that is set a missing root is a
//! failure. Without it the default root is used if it exists, and the
//! tests say they were skipped otherwise.
//!
//! What a 2.26 client prints may differ from what 2.8 prints; only the
//! 2.26 reference and ours (both serving the 2.26 client) must agree.

use compat_tests::{Client, Harness, assert_compatible};

fn harness() -> Option<Harness> {
    let client = Client::nix226_from_env()
        .unwrap_or_else(|e| panic!("the Nix 2.26 root is not usable: {e}"));
    let Some(client) = client else {
        eprintln!(
            "compat-tests: Nix 2.26 scenarios SKIPPED: no {} and {} unset (run scripts/setup.sh)",
            compat_tests::client::DEFAULT_NIX226_ROOT,
            compat_tests::client::ENV_NIX226_ROOT,
        );
        return None;
    };
    Some(
        Harness::new(
            env!("CARGO_BIN_EXE_compat-runner"),
            env!("CARGO_TARGET_TMPDIR"),
        )
        .with_client(client),
    )
}

macro_rules! nix226_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(h) = harness() {
                    assert_compatible(&h, stringify!($name));
                }
            }
        )*

        #[test]
        fn every_listed_scenario_exists() {
            for name in [$(stringify!($name)),*] {
                assert!(compat_tests::scenarios::by_name(name).is_some(), "{name}");
            }
        }
    };
}

nix226_tests!(
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
    sign_export_import,
    binary_cache,
    dump_restore,
    verify_optimise,
    add_fixed_forms,
    build_logs,
    profile_closure,
    network,
    closure,
    env_default_profile,
    env_named_profiles,
    gc_roots,
    gc_keep,
    env_user,
    user_refused,
    allowed_users,
    host_dirs,
    fetch,
    hello,
    client_settings,
);
