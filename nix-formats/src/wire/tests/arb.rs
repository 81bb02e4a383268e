//! Proptest strategies for every wire type, and the projection of a value
//! onto what a given version can carry.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

use crate::content_address::{ContentAddress, FileIngestionMethod};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::StorePath;
use crate::wire::*;

pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

pub fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

pub fn store_path() -> impl Strategy<Value = StorePath> {
    (
        any::<[u8; 20]>(),
        "[a-zA-Z0-9][a-zA-Z0-9+._?=-]{0,16}",
        any::<bool>(),
    )
        .prop_map(|(d, name, drv)| {
            let name = if drv { format!("{name}.drv") } else { name };
            StorePath::from_digest(&d, &name).expect("valid generated name")
        })
}

pub fn paths() -> impl Strategy<Value = BTreeSet<StorePath>> {
    btree_set(store_path(), 0..4)
}

pub fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4)
}

pub fn hash(algo: HashAlgo) -> impl Strategy<Value = Hash> {
    vec(any::<u8>(), algo.size()).prop_map(move |d| Hash::from_digest(algo, &d))
}

pub fn content_address() -> impl Strategy<Value = ContentAddress> {
    let algo = prop::sample::select(HashAlgo::ALL.to_vec());
    let method = prop::sample::select(vec![
        FileIngestionMethod::Flat,
        FileIngestionMethod::Recursive,
    ]);
    prop_oneof![
        hash(HashAlgo::Sha256).prop_map(ContentAddress::Text),
        (method, algo).prop_flat_map(|(method, algo)| hash(algo)
            .prop_map(move |hash| ContentAddress::Fixed { method, hash })),
    ]
}

pub fn unkeyed_info() -> impl Strategy<Value = UnkeyedValidPathInfo> {
    (
        proptest::option::of(store_path()),
        hash(HashAlgo::Sha256),
        paths(),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        btree_set("[a-z0-9-]{1,8}:[A-Za-z0-9+/=]{0,12}", 0..3),
        proptest::option::of(content_address()),
    )
        .prop_map(
            |(deriver, nar_hash, references, registration_time, nar_size, ultimate, sigs, ca)| {
                UnkeyedValidPathInfo {
                    deriver,
                    nar_hash,
                    references,
                    registration_time,
                    nar_size,
                    ultimate,
                    sigs,
                    ca,
                }
            },
        )
}

pub fn valid_path_info() -> impl Strategy<Value = ValidPathInfo> {
    (store_path(), unkeyed_info()).prop_map(|(path, info)| ValidPathInfo { path, info })
}

pub fn substitutable_info() -> impl Strategy<Value = SubstitutablePathInfo> {
    (
        proptest::option::of(store_path()),
        paths(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(deriver, references, download_size, nar_size)| SubstitutablePathInfo {
                deriver,
                references,
                download_size,
                nar_size,
            },
        )
}

pub fn derived_path() -> impl Strategy<Value = DerivedPath> {
    let names = btree_set("[a-z][a-z0-9-]{0,5}", 1..4).prop_map(OutputsSpec::Names);
    let outputs = prop_oneof![Just(OutputsSpec::All), names];
    prop_oneof![
        store_path().prop_map(DerivedPath::Opaque),
        (store_path(), outputs)
            .prop_map(|(drv_path, outputs)| DerivedPath::Built { drv_path, outputs }),
    ]
}

fn micros() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::of((0..=i64::MAX as u64).prop_map(Duration::from_micros))
}

pub fn build_result() -> impl Strategy<Value = BuildResult> {
    (
        prop::sample::select(BuildStatus::ALL.to_vec()),
        bytes(),
        (any::<u64>(), any::<bool>(), any::<u64>(), any::<u64>()),
        (micros(), micros()),
        string_map(),
    )
        .prop_map(
            |(status, error_msg, (tb, nd, start, stop), (cu, cs), built_outputs)| BuildResult {
                status,
                error_msg,
                times_built: tb,
                is_non_deterministic: nd,
                start_time: start,
                stop_time: stop,
                cpu_user: cu,
                cpu_system: cs,
                built_outputs,
            },
        )
}

pub fn keyed_build_result() -> impl Strategy<Value = KeyedBuildResult> {
    (derived_path(), build_result()).prop_map(|(path, result)| KeyedBuildResult { path, result })
}

pub fn verbosity() -> impl Strategy<Value = Verbosity> {
    prop::sample::select(Verbosity::ALL.to_vec())
}

pub fn client_settings() -> impl Strategy<Value = ClientSettings> {
    (
        any::<[bool; 5]>(),
        (verbosity(), verbosity()),
        any::<[u64; 5]>(),
        string_map(),
    )
        .prop_map(
            |(b, (verbosity, verbose_build), n, overrides)| ClientSettings {
                keep_failed: b[0],
                keep_going: b[1],
                try_fallback: b[2],
                verbosity,
                max_build_jobs: n[0],
                max_silent_time: n[1],
                use_build_hook: b[3],
                verbose_build,
                log_type: n[2],
                print_build_trace: n[3],
                build_cores: n[4],
                use_substitutes: b[4],
                overrides,
            },
        )
}

pub fn basic_derivation() -> impl Strategy<Value = BasicDerivation> {
    let output =
        (proptest::option::of(store_path()), text(), text()).prop_map(|(path, hash_algo, hash)| {
            WireDerivationOutput {
                path,
                hash_algo,
                hash,
            }
        });
    (
        btree_map("[a-z]{1,5}", output, 0..3),
        paths(),
        text(),
        text(),
        vec(text(), 0..3),
        string_map(),
    )
        .prop_map(
            |(outputs, input_srcs, platform, builder, args, env)| BasicDerivation {
                outputs,
                input_srcs,
                platform,
                builder,
                args,
                env,
            },
        )
}

pub fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<u64>().prop_map(Field::Int),
        bytes().prop_map(Field::String)
    ]
}

pub fn error_info() -> impl Strategy<Value = ErrorInfo> {
    (verbosity(), bytes(), vec(bytes(), 0..3), any::<u64>()).prop_map(
        |(level, message, traces, exit_status)| ErrorInfo {
            level,
            message,
            traces,
            exit_status,
        },
    )
}

pub fn stderr_msg() -> impl Strategy<Value = StderrMsg> {
    let fields = || vec(field(), 0..4);
    prop_oneof![
        bytes().prop_map(StderrMsg::Next),
        any::<u64>().prop_map(StderrMsg::Read),
        bytes().prop_map(StderrMsg::Write),
        Just(StderrMsg::Last),
        error_info().prop_map(StderrMsg::Error),
        (
            any::<u64>(),
            verbosity(),
            any::<u64>(),
            bytes(),
            fields(),
            any::<u64>()
        )
            .prop_map(
                |(id, level, t, text, fields, parent)| StderrMsg::StartActivity(StartActivity {
                    id,
                    level,
                    activity_type: ActivityType::from_u64(t % 120),
                    text,
                    fields,
                    parent,
                })
            ),
        any::<u64>().prop_map(|id| StderrMsg::StopActivity { id }),
        (any::<u64>(), any::<u64>(), fields()).prop_map(|(id, t, fields)| StderrMsg::Result {
            id,
            result_type: ResultType::from_u64(t % 120),
            fields,
        }),
    ]
}

/// Values a version can carry: what a round trip at that version must
/// give back.
pub trait Project {
    fn project(self, minor: u8) -> Self;
}

impl Project for UnkeyedValidPathInfo {
    fn project(mut self, minor: u8) -> Self {
        if minor < 16 {
            (self.ultimate, self.sigs, self.ca) = (false, BTreeSet::new(), None);
        }
        self
    }
}

impl Project for ValidPathInfo {
    fn project(self, minor: u8) -> Self {
        ValidPathInfo {
            path: self.path,
            info: self.info.project(minor),
        }
    }
}

impl Project for BuildResult {
    fn project(mut self, minor: u8) -> Self {
        if minor < 29 {
            (
                self.times_built,
                self.is_non_deterministic,
                self.start_time,
                self.stop_time,
            ) = (0, false, 0, 0);
        }
        if minor < 37 {
            (self.cpu_user, self.cpu_system) = (None, None);
        }
        if minor < 28 {
            self.built_outputs.clear();
        }
        self
    }
}

impl Project for DerivedPath {
    /// Before 1.30 an opaque `.drv` cannot be said; nor can "all outputs"
    /// of a path that is not a `.drv`. Swap those for what can.
    fn project(self, minor: u8) -> Self {
        if minor >= 30 {
            return self;
        }
        match self {
            DerivedPath::Opaque(p) if p.is_derivation() => DerivedPath::Built {
                drv_path: p,
                outputs: OutputsSpec::All,
            },
            DerivedPath::Built {
                drv_path,
                outputs: OutputsSpec::All,
            } if !drv_path.is_derivation() => DerivedPath::Opaque(drv_path),
            other => other,
        }
    }
}

impl Project for KeyedBuildResult {
    fn project(self, minor: u8) -> Self {
        KeyedBuildResult {
            path: self.path.project(minor),
            result: self.result.project(minor),
        }
    }
}

impl Project for ErrorInfo {
    fn project(mut self, minor: u8) -> Self {
        if minor < 26 {
            (self.level, self.traces) = (Verbosity::Error, Vec::new());
        } else {
            self.exit_status = 1;
        }
        self
    }
}

impl Project for StderrMsg {
    fn project(self, minor: u8) -> Self {
        match self {
            StderrMsg::Error(e) => StderrMsg::Error(e.project(minor)),
            other => other,
        }
    }
}
