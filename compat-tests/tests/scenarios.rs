//! One test per scenario: the reference daemon against ours
//! (`PKGCHAIN_DAEMON`), or against itself when that is unset. See the crate
//! docs for the switches.

use compat_tests::{Harness, assert_compatible, scenarios};

fn harness() -> Harness {
    Harness::new(
        env!("CARGO_BIN_EXE_compat-runner"),
        env!("CARGO_TARGET_TMPDIR"),
    )
}

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                assert_compatible(&harness(), stringify!($name));
            }
        )*

        #[test]
        fn every_scenario_has_a_test() {
            let tested = [$(stringify!($name)),*];
            let registered: Vec<&str> = scenarios::all().iter().map(|s| s.name).collect();
            assert_eq!(tested.to_vec(), registered);
        }
    };
}

scenario_tests!(
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
