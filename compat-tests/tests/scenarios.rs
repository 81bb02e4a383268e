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

compat_tests::for_each_scenario!(scenario_tests);
