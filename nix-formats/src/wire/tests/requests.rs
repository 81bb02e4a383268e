//! Op requests: round trips of every op's fields at every version, the
//! payload that follows, and requests as captured from Nix 2.8.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::arb::{self, Project};
use super::{MINORS, check_round_trip, cx, path};
use crate::content_address::{ContentAddressMethod, FileIngestionMethod};
use crate::hash::HashAlgo;
use crate::store_path::StorePath;
use crate::wire::*;

/// Arbitrary parts, assembled into the request of `op` as `minor` says it.
#[derive(Debug, Clone)]
struct Parts {
    p: StorePath,
    paths: std::collections::BTreeSet<StorePath>,
    text: String,
    bytes: Vec<u8>,
    flags: [bool; 3],
    n: [u64; 4],
    derived: Vec<DerivedPath>,
    settings: ClientSettings,
    drv: BasicDerivation,
    info: ValidPathInfo,
    cas: BTreeMap<StorePath, Option<crate::content_address::ContentAddress>>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (
            arb::store_path(),
            arb::paths(),
            arb::text(),
            arb::bytes(),
            any::<[bool; 3]>(),
            any::<[u64; 4]>(),
        ),
        (
            proptest::collection::vec(arb::derived_path(), 0..3),
            arb::client_settings(),
            arb::basic_derivation(),
        ),
        (
            arb::valid_path_info(),
            proptest::collection::btree_map(
                arb::store_path(),
                proptest::option::of(arb::content_address()),
                0..3,
            ),
        ),
    )
        .prop_map(
            |((p, paths, text, bytes, flags, n), (derived, settings, drv), (info, cas))| Parts {
                p,
                paths,
                text,
                bytes,
                flags,
                n,
                derived,
                settings,
                drv,
                info,
                cas,
            },
        )
}

fn build(op: Op, minor: u8, x: Parts) -> Request {
    use Request as R;
    let [a, b, c] = x.flags;
    let mode = BuildMode::ALL[(x.n[0] % 3) as usize];
    let derived = x
        .derived
        .into_iter()
        .map(|d| d.project(minor))
        .collect::<Vec<_>>();
    let p = x.p;
    match op {
        Op::IsValidPath => R::IsValidPath(p),
        Op::HasSubstitutes => R::HasSubstitutes(p),
        Op::QueryPathHash => R::QueryPathHash(p),
        Op::QueryReferences => R::QueryReferences(p),
        Op::QueryReferrers => R::QueryReferrers(p),
        Op::AddToStore if minor >= 25 => {
            let method = [
                ContentAddressMethod::Text,
                ContentAddressMethod::Fixed(FileIngestionMethod::Flat),
                ContentAddressMethod::Fixed(FileIngestionMethod::Recursive),
                ContentAddressMethod::Fixed(FileIngestionMethod::Git),
            ][(x.n[1] % 4) as usize];
            let algo = HashAlgo::ALL[(x.n[2] % 4) as usize];
            R::AddToStore {
                name: x.text,
                method,
                algo,
                references: x.paths,
                repair: a,
            }
        }
        Op::AddToStore => R::AddToStoreLegacy {
            name: x.text.clone(),
            fixed: a,
            recursive: b,
            algo: x.text,
        },
        Op::AddTextToStore => R::AddTextToStore {
            name: x.text,
            text: x.bytes,
            references: x.paths,
        },
        Op::BuildPaths => R::BuildPaths {
            paths: derived,
            mode,
        },
        Op::EnsurePath => R::EnsurePath(p),
        Op::AddTempRoot => R::AddTempRoot(p),
        Op::AddIndirectRoot => R::AddIndirectRoot(x.text),
        Op::SyncWithGC => R::SyncWithGC,
        Op::FindRoots => R::FindRoots,
        Op::ExportPath => R::ExportPath {
            path: p,
            sign: x.n[1],
        },
        Op::QueryDeriver => R::QueryDeriver(p),
        Op::SetOptions => R::SetOptions(x.settings),
        Op::CollectGarbage => R::CollectGarbage(GcRequest {
            action: GcAction::ALL[(x.n[0] % 4) as usize],
            paths_to_delete: x.paths,
            ignore_liveness: a,
            max_freed: x.n[1],
            obsolete: [x.n[2], x.n[3], 0],
        }),
        Op::QuerySubstitutablePathInfo => R::QuerySubstitutablePathInfo(p),
        Op::QueryDerivationOutputs => R::QueryDerivationOutputs(p),
        Op::QueryAllValidPaths => R::QueryAllValidPaths,
        Op::QueryFailedPaths => R::QueryFailedPaths,
        Op::ClearFailedPaths => R::ClearFailedPaths,
        Op::QueryPathInfo => R::QueryPathInfo(p),
        Op::ImportPaths => R::ImportPaths,
        Op::QueryDerivationOutputNames => R::QueryDerivationOutputNames(p),
        Op::QueryPathFromHashPart => R::QueryPathFromHashPart(x.text),
        Op::QuerySubstitutablePathInfos if minor >= 22 => R::QuerySubstitutablePathInfos(x.cas),
        Op::QuerySubstitutablePathInfos => {
            R::QuerySubstitutablePathInfos(x.cas.into_keys().map(|k| (k, None)).collect())
        }
        Op::QueryValidPaths => R::QueryValidPaths {
            paths: x.paths,
            substitute: a && minor >= 27,
        },
        Op::QuerySubstitutablePaths => R::QuerySubstitutablePaths(x.paths),
        Op::QueryValidDerivers => R::QueryValidDerivers(p),
        Op::OptimiseStore => R::OptimiseStore,
        Op::VerifyStore => R::VerifyStore {
            check_contents: a,
            repair: b,
        },
        Op::BuildDerivation => R::BuildDerivation {
            drv_path: p,
            drv: x.drv,
            mode,
        },
        Op::AddSignatures => R::AddSignatures {
            path: p,
            sigs: x.settings.overrides.into_keys().collect(),
        },
        Op::NarFromPath => R::NarFromPath(p),
        Op::AddToStoreNar => R::AddToStoreNar {
            info: x.info.project(minor),
            repair: a,
            dont_check_sigs: c,
        },
        Op::QueryMissing => R::QueryMissing(derived),
        Op::QueryDerivationOutputMap => R::QueryDerivationOutputMap(p),
        Op::RegisterDrvOutput if minor >= 31 => {
            R::RegisterDrvOutput(DrvOutputRegistration::Realisation(x.text))
        }
        Op::RegisterDrvOutput => R::RegisterDrvOutput(DrvOutputRegistration::Legacy {
            drv_output: x.text,
            out_path: p,
        }),
        Op::QueryRealisation => R::QueryRealisation(x.text),
        Op::AddMultipleToStore => R::AddMultipleToStore {
            repair: a,
            dont_check_sigs: b,
        },
        Op::AddBuildLog => R::AddBuildLog(p),
        Op::BuildPathsWithResults => R::BuildPathsWithResults {
            paths: derived,
            mode,
        },
        Op::AddPermRoot => R::AddPermRoot {
            path: p,
            gc_root: x.text,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_request_round_trips(minor in MINORS, op in prop::sample::select(Op::ALL.to_vec()), x in parts()) {
        let req = build(op, minor, x);
        prop_assert_eq!(req.op(), op);
        check_round_trip(&req, &cx(minor));
    }
}

#[test]
fn payloads_follow_the_version() {
    let info = ValidPathInfo {
        path: path("00000000000000000000000000000000-x"),
        info: UnkeyedValidPathInfo::new(crate::hash::Hash::sha256(b""), 0),
    };
    let nar = Request::AddToStoreNar {
        info,
        repair: false,
        dont_check_sigs: false,
    };
    let at = |m| ProtocolVersion::v1(m);
    assert_eq!(nar.payload(at(23)), Payload::Framed);
    assert_eq!(nar.payload(at(22)), Payload::StderrRead);
    assert_eq!(nar.payload(at(20)), Payload::InlineNar);
    assert_eq!(
        Request::AddMultipleToStore {
            repair: false,
            dont_check_sigs: false
        }
        .payload(at(38)),
        Payload::Framed
    );
    assert_eq!(Request::QueryAllValidPaths.payload(at(38)), Payload::None);
    assert_eq!(Request::ImportPaths.payload(at(21)), Payload::StderrRead);

    // Forms of the other era are refused rather than garbled.
    let legacy = Request::AddToStoreLegacy {
        name: "x".into(),
        fixed: true,
        recursive: true,
        algo: "sha256".into(),
    };
    assert!(encode_to_vec(&cx(25), &legacy).is_err());
    assert!(encode_to_vec(&cx(24), &legacy).is_ok());
}

#[test]
fn unknown_ops_are_errors() {
    let bytes = 17u64.to_le_bytes();
    assert_eq!(
        decode_prefix::<Request>(&bytes, &cx(38)),
        Err(DecodeError::BadValue {
            field: "op",
            offset: 0,
            expected: "op",
            found: 17
        })
    );
}

#[test]
fn requests_as_nix_2_8_sent_them() {
    // captures/gc-delete.txt: CollectGarbage(DeleteSpecific, [drv], 0, u64::MAX, 0, 0, 0).
    let drv = path("3a13s75qmsd8mxm6wi78sklkhma5927c-trivial.drv");
    let gc = Request::CollectGarbage(GcRequest {
        action: GcAction::DeleteSpecific,
        paths_to_delete: [drv.clone()].into_iter().collect(),
        ignore_liveness: false,
        max_freed: u64::MAX,
        obsolete: [0; 3],
    });
    let bytes = check_round_trip(&gc, &cx(34));
    assert_eq!(&bytes[..24], [20u64, 3, 1].map(u64::to_le_bytes).concat());

    // captures/build2.txt: BuildPaths(["…drv!out"], Normal) and AddToStore(text:sha256).
    let built = Request::BuildPaths {
        paths: vec![DerivedPath::built(drv.clone(), ["out"])],
        mode: BuildMode::Normal,
    };
    let bytes = check_round_trip(&built, &cx(34));
    let s = "/nix/store/3a13s75qmsd8mxm6wi78sklkhma5927c-trivial.drv!out";
    assert_eq!(&bytes[24..24 + s.len()], s.as_bytes());
    let add = Request::AddToStore {
        name: "script.sh".into(),
        method: ContentAddressMethod::Text,
        algo: HashAlgo::Sha256,
        references: Default::default(),
        repair: false,
    };
    let bytes = check_round_trip(&add, &cx(34));
    assert_eq!(&bytes[40..51], b"text:sha256");
}
