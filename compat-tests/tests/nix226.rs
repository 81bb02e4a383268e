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

// The same scenarios as `tests/scenarios.rs`, all of which run with the
// 2.26 client too.
compat_tests::for_each_scenario!(nix226_tests);
