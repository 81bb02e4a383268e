//! Nix's own characterisation vectors (tests/data/wire/*.bin, from Nix
//! 2.28.0), decoded with our decoders and encoded back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use super::{check_prefixes, cx, data, path};
use crate::content_address::ContentAddress;
use crate::hash::{Hash, HashAlgo};
use crate::store_path::StorePath;
use crate::wire::types::{decode_nar_hash, decode_opt_ca, encode_opt_ca};
use crate::wire::*;

type Dec<T> = fn(&mut Decoder<'_>) -> Result<T, DecodeError>;
type Enc<T> = fn(&mut Encoder<'_>, &T);

/// Decodes the whole file as a sequence of values, checks each is
/// canonical and its prefixes are incomplete, and that encoding them again
/// reproduces the file.
fn golden_with<T: Debug>(name: &str, minor: u8, dec: Dec<T>, enc: Enc<T>) -> Vec<T> {
    let bytes = data(name);
    let cx = cx(minor);
    let mut values = Vec::new();
    let mut d = Decoder::new(&bytes, &cx);
    while !d.rest().is_empty() {
        let start = d.pos();
        let v = dec(&mut d).unwrap_or_else(|e| panic!("{name} at {start}: {e}"));
        let one = &bytes[start..d.pos()];
        for len in 0..one.len() {
            let r = dec(&mut Decoder::new(&one[..len], &cx));
            assert!(
                matches!(r, Err(DecodeError::Incomplete { .. })),
                "{name}: prefix {len}: {r:?}"
            );
        }
        values.push(v);
    }
    assert!(d.is_canonical(), "{name} is not canonical for us");
    let mut out = Vec::new();
    let mut e = Encoder::new(&mut out, &cx);
    for v in &values {
        enc(&mut e, v);
    }
    assert_eq!(out, bytes, "{name}: re-encoding differs");
    values
}

fn golden<T: WireDecode + WireEncode + Debug>(name: &str, minor: u8) -> Vec<T> {
    golden_with(name, minor, T::decode, |e, v| {
        v.encode(e).expect("encodable")
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn nar_hash() -> Hash {
    Hash::parse_any("sha256-FePFYIlMuycIXPZbWi7LGEiMmZSX9FMbaQenWBzm1Sc=", None).expect("SRI hash")
}

const G: &str = "g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q";

#[test]
fn strings_lists_and_sets() {
    assert_eq!(
        golden::<String>("string.bin", 38),
        strings(&["", "hi", "white rabbit", "大白兔", "oh no "])
    );

    let v = golden_with(
        "vector.bin",
        38,
        |d| {
            let a: Vec<Vec<String>> = (0..3).map(|_| d.strings("v")).collect::<Result<_, _>>()?;
            Ok((a, d.list("vv", |d| d.strings("v"))?))
        },
        |e, (a, b)| {
            a.iter().for_each(|x| e.strings(x));
            e.list(b, |e, x| {
                e.strings(x);
                Ok(())
            })
            .expect("infallible");
        },
    );
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].0,
        vec![strings(&[]), strings(&[""]), strings(&["", "foo", "bar"])]
    );
    assert_eq!(
        v[0].1,
        vec![strings(&[]), strings(&[""]), strings(&["", "1", "2"])]
    );

    let s = golden_with(
        "set.bin",
        38,
        |d| {
            let a: Vec<BTreeSet<String>> = (0..3)
                .map(|_| d.string_set("s"))
                .collect::<Result<_, _>>()?;
            Ok((a, d.set("ss", |d| d.string_set("s"))?))
        },
        |e, (a, b)| {
            a.iter().for_each(|x| e.strings(x));
            e.list(b, |e, x| {
                e.strings(x);
                Ok(())
            })
            .expect("infallible");
        },
    );
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(s[0].0, vec![set(&[]), set(&[""]), set(&["", "bar", "foo"])]);
    assert_eq!(
        s[0].1,
        [set(&[]), set(&[""]), set(&["", "1", "2"])]
            .into_iter()
            .collect()
    );
}

#[test]
fn store_paths_and_content_addresses() {
    let foo = path(&format!("{G}-foo"));
    let foo_bar = path(&format!("{G}-foo-bar"));
    assert_eq!(
        golden::<StorePath>("store-path.bin", 38),
        vec![foo, foo_bar.clone()]
    );
    let opt = golden_with(
        "optional-store-path.bin",
        38,
        |d| d.opt_store_path("p"),
        |e, v| e.opt_store_path(v.as_ref()),
    );
    assert_eq!(opt, vec![None, Some(foo_bar)]);

    let cas = golden_with("content-address.bin", 38, decode_opt_ca, |e, v| {
        encode_opt_ca(e, v.as_ref())
    });
    let expect: Vec<ContentAddress> = [
        "text:sha256:1vb2xd67750jrvqgykxrf5ipl3h1q57sxc57q5nzjw56bqp3sxzr",
        "fixed:sha1:1amk6n7wxjlw4qkq6dcj6mm7hw3acrw0",
        "fixed:r:sha256:1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh",
    ]
    .iter()
    .map(|s| s.parse().expect("ca"))
    .collect();
    assert_eq!(cas, expect.iter().cloned().map(Some).collect::<Vec<_>>());
    let opt = golden_with("optional-content-address.bin", 38, decode_opt_ca, |e, v| {
        encode_opt_ca(e, v.as_ref())
    });
    assert_eq!(opt, vec![None, Some(expect[1])]);
}

#[test]
fn small_enums() {
    assert_eq!(
        golden::<BuildMode>("build-mode.bin", 38),
        vec![BuildMode::Normal, BuildMode::Repair, BuildMode::Check]
    );
    assert_eq!(
        golden::<Trust>("optional-trusted-flag.bin", 38),
        vec![Trust::Unknown, Trust::Trusted, Trust::NotTrusted]
    );
}

#[test]
fn derived_paths_both_syntaxes() {
    let foo = path(&format!("{G}-foo"));
    let foo_drv = path(&format!("{G}-foo.drv"));
    let bar_drv = path(&format!("{G}-bar.drv"));
    let all = DerivedPath::Built {
        drv_path: bar_drv.clone(),
        outputs: OutputsSpec::All,
    };
    let xy = DerivedPath::built(bar_drv, ["x", "y"]);
    assert_eq!(
        golden::<DerivedPath>("derived-path-1.29.bin", 29),
        vec![DerivedPath::Opaque(foo.clone()), all.clone(), xy.clone()]
    );
    assert_eq!(
        golden::<DerivedPath>("derived-path-1.30.bin", 30),
        vec![
            DerivedPath::Opaque(foo),
            DerivedPath::Opaque(foo_drv),
            all,
            xy
        ]
    );
}

#[test]
fn path_infos() {
    let bar = path(&format!("{G}-bar"));
    let bar_drv = path(&format!("{G}-bar.drv"));
    let foo_drv = path("g1w7hyyyy1w7hy3qg1w7hy3qgqqqqy3q-foo.drv");
    let foo = path("g1w7hyyyy1w7hy3qg1w7hy3qgqqqqy3q-foo");
    let mut plain = UnkeyedValidPathInfo::new(nar_hash(), 34878);
    plain.registration_time = 23423;
    assert_eq!(
        plain.nar_hash.to_base16(),
        "15e3c560894cbb27085cf65b5a2ecb18488c999497f4531b6907a7581ce6d527"
    );

    let mut with_deriver = plain.clone();
    with_deriver.deriver = Some(bar_drv.clone());
    with_deriver.references = [foo_drv].into_iter().collect();
    assert_eq!(
        golden::<UnkeyedValidPathInfo>("unkeyed-valid-path-info-1.15.bin", 15),
        vec![plain.clone(), with_deriver]
    );

    let mut refs = plain.clone();
    refs.deriver = Some(bar_drv.clone());
    refs.references = [bar.clone(), foo.clone()].into_iter().collect();
    let keyed = |info: &UnkeyedValidPathInfo| ValidPathInfo {
        path: bar.clone(),
        info: info.clone(),
    };
    assert_eq!(
        golden::<ValidPathInfo>("valid-path-info-1.15.bin", 15),
        vec![keyed(&plain), keyed(&refs)]
    );

    let infos = golden::<ValidPathInfo>("valid-path-info-1.16.bin", 16);
    assert_eq!(infos.len(), 3);
    assert!(infos[0].info.ultimate);
    assert_eq!(
        infos[1].info.sigs,
        ["fake-sig-1", "fake-sig-2"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let ca: ContentAddress = "fixed:r:sha256:1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh"
        .parse()
        .expect("ca");
    assert_eq!(infos[2].info.ca, Some(ca));
    assert_eq!(
        infos[2].path.to_string(),
        "n5wkd9frr45pa74if5gpz9j7mifg27fh-foo"
    );
    assert_eq!(infos[2].info.references.len(), 2);
}

fn realisation(out: &str) -> (String, String) {
    let id =
        format!("sha256:6f869f9ea2823bda165e06076fd0de4366dead2c0e8d2dbbad277d4f15c373f5!{out}");
    let json = format!(
        r#"{{"dependentRealisations":{{}},"id":"{id}","outPath":"{G}-{out}","signatures":[]}}"#
    );
    (id, json)
}

fn expected_build_results(minor: u8) -> Vec<BuildResult> {
    let rejected = BuildResult::new(BuildStatus::OutputRejected, "no idea why");
    let mut nondet = BuildResult::new(BuildStatus::NotDeterministic, "no idea why");
    let mut built = BuildResult::new(BuildStatus::Built, "");
    if minor >= 28 {
        built.built_outputs = BTreeMap::from([realisation("bar"), realisation("foo")]);
    }
    if minor >= 29 {
        (
            nondet.times_built,
            nondet.is_non_deterministic,
            nondet.start_time,
            nondet.stop_time,
        ) = (3, true, 30, 50);
        (built.times_built, built.start_time, built.stop_time) = (1, 30, 50);
    }
    if minor >= 37 {
        built.cpu_user = Some(Duration::from_secs(500));
        built.cpu_system = Some(Duration::from_secs(604));
    }
    vec![rejected, nondet, built]
}

#[test]
fn build_results_at_each_version() {
    for minor in [27, 28, 29, 37] {
        let got = golden::<BuildResult>(&format!("build-result-1.{minor}.bin"), minor);
        assert_eq!(got, expected_build_results(minor), "build-result-1.{minor}");
    }
}

#[test]
fn keyed_build_results() {
    let got = golden::<KeyedBuildResult>("keyed-build-result-1.29.bin", 29);
    let mut nondet = BuildResult::new(BuildStatus::NotDeterministic, "no idea why");
    (
        nondet.times_built,
        nondet.is_non_deterministic,
        nondet.start_time,
        nondet.stop_time,
    ) = (3, true, 30, 50);
    assert_eq!(
        got,
        vec![
            KeyedBuildResult {
                path: DerivedPath::Opaque(path(&format!("{G}-xxx"))),
                result: BuildResult::new(BuildStatus::OutputRejected, "no idea why"),
            },
            KeyedBuildResult {
                path: DerivedPath::built(path(&format!("{G}-bar.drv")), ["out"]),
                result: nondet
            },
        ]
    );
}

#[test]
fn nar_hash_accepts_any_base_but_only_base16_is_canonical() {
    let h = nar_hash();
    let cx = cx(38);
    for (s, canonical) in [
        (h.to_base16(), true),
        (h.to_prefixed_nix32(), false),
        (h.to_sri(), false),
    ] {
        let bytes = encode_to_vec(&cx, &s).expect("string");
        let mut d = Decoder::new(&bytes, &cx);
        assert_eq!(decode_nar_hash(&mut d), Ok(h));
        assert_eq!(d.is_canonical(), canonical, "{s}");
    }
    let bytes = encode_to_vec(
        &cx,
        &Hash::of_bytes(HashAlgo::Sha1, b"x").to_prefixed_nix32(),
    )
    .expect("string");
    assert!(matches!(
        decode_nar_hash(&mut Decoder::new(&bytes, &cx)),
        Err(DecodeError::Hash { .. })
    ));
    check_prefixes::<String>(&bytes, &cx);
}
