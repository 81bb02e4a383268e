//! Round trips of every wire type at every version we serve, and the
//! decoder's behaviour on hostile or non-canonical input.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::arb::{self, Project};
use super::{MINORS, check_round_trip, cx};
use crate::store_path::StorePath;
use crate::wire::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn primitives(minor in MINORS, n: u64, b: bool, s in arb::text(), p in arb::store_path()) {
        let cx = cx(minor);
        check_round_trip(&n, &cx);
        check_round_trip(&b, &cx);
        check_round_trip(&s, &cx);
        check_round_trip(&p, &cx);
    }

    #[test]
    fn collections(
        minor in MINORS,
        list in proptest::collection::vec(arb::text(), 0..5),
        paths in arb::paths(),
        map in arb::string_map(),
        nested in proptest::collection::btree_set(proptest::collection::btree_set(arb::text(), 0..3), 0..3),
    ) {
        let cx = cx(minor);
        check_round_trip(&list, &cx);
        check_round_trip(&paths, &cx);
        check_round_trip(&map, &cx);
        check_round_trip(&nested, &cx);
    }

    #[test]
    fn path_infos(minor in MINORS, v in arb::valid_path_info(), s in arb::substitutable_info()) {
        let cx = cx(minor);
        let bytes = check_round_trip(&v.clone().project(minor), &cx);
        let unkeyed = check_round_trip(&v.info.project(minor), &cx);
        prop_assert_eq!(&bytes[bytes.len() - unkeyed.len()..], &unkeyed[..]);
        check_round_trip(&s, &cx);
    }

    #[test]
    fn build_results(minor in MINORS, r in arb::build_result(), k in arb::keyed_build_result()) {
        let cx = cx(minor);
        check_round_trip(&r.project(minor), &cx);
        check_round_trip(&k.project(minor), &cx);
    }

    #[test]
    fn derived_paths(minor in MINORS, paths in proptest::collection::vec(arb::derived_path(), 0..4)) {
        let cx = cx(minor);
        let paths: Vec<DerivedPath> = paths.into_iter().map(|p| p.project(minor)).collect();
        check_round_trip(&paths, &cx);
    }

    #[test]
    fn settings_and_derivations(minor in MINORS, s in arb::client_settings(), d in arb::basic_derivation()) {
        let cx = cx(minor);
        check_round_trip(&s, &cx);
        check_round_trip(&d, &cx);
    }

    #[test]
    fn stderr_messages(minor in MINORS, m in arb::stderr_msg(), f in arb::field()) {
        let cx = cx(minor);
        check_round_trip(&m.project(minor), &cx);
        check_round_trip(&f, &cx);
    }

    #[test]
    fn enums(minor in MINORS, v in arb::verbosity(), t: u64, i in 0usize..4) {
        let cx = cx(minor);
        check_round_trip(&v, &cx);
        check_round_trip(&ActivityType::from_u64(t), &cx);
        check_round_trip(&ResultType::from_u64(t), &cx);
        check_round_trip(&BuildMode::ALL[i % 3], &cx);
        check_round_trip(&GcAction::ALL[i], &cx);
        check_round_trip(&Trust::ALL[i % 3], &cx);
    }

    /// Whatever the bytes, decoding never panics, and what decodes
    /// canonically re-encodes to the same bytes.
    #[test]
    fn arbitrary_bytes(minor in MINORS, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let cx = cx(minor);
        reencodes::<ValidPathInfo>(&bytes, &cx);
        reencodes::<BuildResult>(&bytes, &cx);
        reencodes::<ClientSettings>(&bytes, &cx);
        reencodes::<StderrMsg>(&bytes, &cx);
        reencodes::<BasicDerivation>(&bytes, &cx);
    }
}

fn reencodes<T: WireDecode + WireEncode>(bytes: &[u8], cx: &WireContext) {
    let mut d = Decoder::new(bytes, cx);
    if let Ok(v) = T::decode(&mut d) {
        if d.is_canonical() {
            assert_eq!(
                encode_to_vec(cx, &v).expect("decoded values encode"),
                &bytes[..d.pos()]
            );
        }
    }
}

fn u64s(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn lengths_are_checked_before_waiting_or_allocating() {
    let small = WireContext {
        limits: Limits {
            max_string_len: 16,
            max_collection_len: 4,
            max_frame_len: 16,
            max_message_len: 64,
        },
        ..cx(38)
    };
    // A string longer than the limit fails at once, without its data.
    let r = Decoder::new(&u64s(&[17]), &small).bytes("s");
    assert_eq!(
        r,
        Err(DecodeError::TooLong {
            field: "s",
            offset: 0,
            len: 17,
            limit: 16
        })
    );
    let r = Decoder::new(&u64s(&[u64::MAX]), &cx(38)).bytes("s");
    assert!(matches!(r, Err(DecodeError::TooLong { len: u64::MAX, .. })));
    // Within the limit, it asks for exactly the rest (data + padding).
    assert_eq!(
        Decoder::new(&u64s(&[9]), &small).bytes("s"),
        Err(DecodeError::Incomplete { needed: 16 })
    );
    // Counts likewise.
    let r = Decoder::new(&u64s(&[5]), &small).strings("l");
    assert_eq!(
        r,
        Err(DecodeError::TooMany {
            field: "l",
            offset: 0,
            count: 5,
            limit: 4
        })
    );
    // A huge count within the limit with no items yet only asks for more:
    // at least 8 bytes for each of its items, allocating nothing.
    let r = Decoder::new(&u64s(&[1 << 20]), &cx(38)).strings("l");
    assert_eq!(r, Err(DecodeError::Incomplete { needed: 8 << 20 }));
    // Part-way through, it asks for the rest of the item it is in plus
    // the least the remaining ones take.
    let mut two_of_four = u64s(&[4, 1]);
    two_of_four.extend_from_slice(b"a\0\0\0\0\0\0\0");
    two_of_four.extend_from_slice(&u64s(&[3]));
    assert_eq!(
        Decoder::new(&two_of_four, &small).strings("l"),
        Err(DecodeError::Incomplete { needed: 8 + 2 * 8 })
    );
    // A map entry cut in its key still owes its value and the entries after.
    assert_eq!(
        Decoder::new(&u64s(&[3]), &small).string_map("m"),
        Err(DecodeError::Incomplete { needed: 8 + 5 * 8 })
    );
    // Nothing spans more than the message limit, arrived or not: the
    // same error whether the bytes are there or still to come.
    let mut strings = u64s(&[4]);
    for _ in 0..4 {
        strings.extend(u64s(&[16, 0, 0]));
    }
    for end in [strings.len(), 64] {
        assert_eq!(
            Decoder::new(&strings[..end], &small).strings("l"),
            Err(DecodeError::MessageTooLong {
                offset: 64,
                len: 16,
                limit: 64
            }),
            "with {end} bytes at hand"
        );
    }
    // A store path longer than any valid one is refused from its length.
    let r = Decoder::new(&u64s(&[300]), &cx(38)).store_path("p");
    assert_eq!(
        r,
        Err(DecodeError::TooLong {
            field: "p",
            offset: 0,
            len: 300,
            limit: "/nix/store".len() + 2 + 32 + 211
        })
    );
}

#[test]
fn malformed_strings_are_errors() {
    let cx = cx(38);
    let mut bad_pad = u64s(&[1]);
    bad_pad.extend_from_slice(b"a\0\0\0\0\0\0\x01");
    assert_eq!(
        Decoder::new(&bad_pad, &cx).bytes("s"),
        Err(DecodeError::BadPadding {
            field: "s",
            offset: 0
        })
    );
    let mut latin1 = u64s(&[1]);
    latin1.extend_from_slice(b"\xe9\0\0\0\0\0\0\0");
    assert_eq!(Decoder::new(&latin1, &cx).bytes("s"), Ok(vec![0xe9]));
    assert!(matches!(
        Decoder::new(&latin1, &cx).string("s"),
        Err(DecodeError::NotUtf8 { offset: 8, .. })
    ));
    let mut rel = u64s(&[8]);
    rel.extend_from_slice(b"/tmp/foo");
    assert!(matches!(
        Decoder::new(&rel, &cx).store_path("p"),
        Err(DecodeError::StorePath { .. })
    ));
}

#[test]
fn nix_leniencies_are_accepted_but_not_canonical() {
    let cx = cx(38);
    let two = u64s(&[2]);
    let mut d = Decoder::new(&two, &cx);
    assert_eq!(d.bool(), Ok(true));
    assert!(!d.is_canonical());

    let a: StorePath =
        StorePath::from_base_name("00000000000000000000000000000000-a").expect("path");
    let b: StorePath =
        StorePath::from_base_name("11111111111111111111111111111111-b").expect("path");
    let sorted: BTreeSet<StorePath> = [a.clone(), b.clone()].into_iter().collect();
    let unsorted = encode_to_vec(&cx, &vec![b.clone(), a.clone(), b.clone()]).expect("list");
    let mut d = Decoder::new(&unsorted, &cx);
    assert_eq!(d.path_set("refs"), Ok(sorted.clone()));
    assert!(!d.is_canonical());
    let canonical = encode_to_vec(&cx, &sorted).expect("set");
    let mut d = Decoder::new(&canonical, &cx);
    assert_eq!(d.path_set("refs"), Ok(sorted));
    assert!(d.is_canonical());

    let pairs = encode_to_vec(
        &cx,
        &vec!["k".to_string(), "1".into(), "k".into(), "2".into()],
    )
    .expect("list");
    // Re-label the list of 4 strings as a map of 2 pairs.
    let mut map_bytes = u64s(&[2]);
    map_bytes.extend_from_slice(&pairs[8..]);
    let mut d = Decoder::new(&map_bytes, &cx);
    assert_eq!(
        d.string_map("m"),
        Ok(BTreeMap::from([("k".to_string(), "2".to_string())]))
    );
    assert!(!d.is_canonical());
}

#[test]
fn version_gated_fields_change_the_length() {
    let info = UnkeyedValidPathInfo::new(crate::hash::Hash::sha256(b""), 8);
    let at = |m| encode_to_vec(&cx(m), &info).expect("info").len();
    assert_eq!(at(16) - at(15), 3 * 8);
    let r = BuildResult::new(BuildStatus::Built, "");
    let at = |m| encode_to_vec(&cx(m), &r).expect("result").len();
    assert_eq!((at(27), at(28), at(29), at(37)), (16, 24, 56, 72));
}

#[test]
fn client_settings_bytes_match_the_2_8_capture() {
    // SetOptions from captures/build2.txt (Nix 2.8.0, protocol 1.34).
    let settings = ClientSettings {
        build_cores: 2,
        overrides: BTreeMap::from([
            ("sandbox-paths".into(), "/bin /lib /lib64 /usr".into()),
            ("substituters".into(), String::new()),
        ]),
        ..ClientSettings::default()
    };
    let mut expected = u64s(&[0, 0, 0, 3, 1, 0, 1, 0, 0, 0, 2, 1, 2]);
    for s in ["sandbox-paths", "/bin /lib /lib64 /usr", "substituters", ""] {
        expected.extend(u64s(&[s.len() as u64]));
        expected.extend_from_slice(s.as_bytes());
        expected.resize(expected.len().next_multiple_of(8), 0);
    }
    assert_eq!(check_round_trip(&settings, &cx(34)), expected);
    assert!(settings.verbose_build());
}
