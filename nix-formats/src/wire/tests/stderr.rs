//! The stderr channel: exact bytes, error forms per version, the
//! downgrade of activities for old clients, STDERR_READ replies.

use super::{check_round_trip, cx};
use crate::wire::*;

fn u64s(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut v = u64s(&[s.len() as u64]);
    v.extend_from_slice(s);
    v.resize(v.len().next_multiple_of(8), 0);
    v
}

#[test]
fn codes_are_the_ascii_words() {
    assert_eq!(
        encode_to_vec(&cx(38), &StderrMsg::Last).expect("last"),
        b"stla\0\0\0\0"
    );
    assert_eq!(
        &encode_to_vec(&cx(38), &StderrMsg::line("x")).expect("next")[..4],
        b"gmlo"
    );
    assert_eq!(
        encode_to_vec(&cx(38), &StderrMsg::Error(ErrorInfo::new("e"))).expect("error")[..4],
        *b"ptxc"
    );
}

#[test]
fn error_forms_before_and_after_1_26() {
    // As captured from Nix 2.8 (gc-delete.txt), level 0, no traces.
    let msg = b"Cannot delete path '/nix/store/x' since it is still alive.";
    let err = ErrorInfo::new(&msg[..]).with_trace("while deleting");
    let mut modern = u64s(&[0x6378_7470]);
    modern.extend(string(b"Error"));
    modern.extend(u64s(&[0]));
    modern.extend(string(b"Error"));
    modern.extend(string(msg));
    modern.extend(u64s(&[0, 1, 0]));
    modern.extend(string(b"while deleting"));
    assert_eq!(
        check_round_trip(&StderrMsg::Error(err.clone()), &cx(26)),
        modern
    );

    let mut legacy = u64s(&[0x6378_7470]);
    legacy.extend(string(msg));
    legacy.extend(u64s(&[1]));
    let back = ErrorInfo {
        traces: Vec::new(),
        ..err
    };
    assert_eq!(check_round_trip(&StderrMsg::Error(back), &cx(25)), legacy);

    // Nix asserts the type is "Error" and that no position is sent.
    let mut wrong_type = modern.clone();
    wrong_type[16..21].copy_from_slice(b"Fatal");
    let r = decode_prefix::<StderrMsg>(&wrong_type, &cx(38));
    assert!(
        matches!(
            r,
            Err(DecodeError::Unexpected {
                field: "error type",
                offset: 8,
                ..
            })
        ),
        "{r:?}"
    );
    let pos_at = modern.len() - 8 * 3 - string(b"while deleting").len();
    let mut with_pos = modern.clone();
    with_pos[pos_at] = 1;
    let r = decode_prefix::<StderrMsg>(&with_pos, &cx(38));
    assert!(
        matches!(
            r,
            Err(DecodeError::Unexpected {
                field: "error position",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn activities_and_results_bytes() {
    let start = StderrMsg::StartActivity(StartActivity {
        id: 0x3a2f_0000_0005,
        level: Verbosity::Info,
        activity_type: ActivityType::Build,
        text: b"building '/nix/store/x.drv'".to_vec(),
        fields: vec!["/nix/store/x.drv".into(), "".into(), 1.into(), 1.into()],
        parent: 0,
    });
    let mut expected = u64s(&[0x5354_5254, 0x3a2f_0000_0005, 3, 105]);
    expected.extend(string(b"building '/nix/store/x.drv'"));
    expected.extend(u64s(&[4, 1]));
    expected.extend(string(b"/nix/store/x.drv"));
    expected.extend(u64s(&[1, 0, 0, 1, 0, 1, 0]));
    assert_eq!(check_round_trip(&start, &cx(34)), expected);

    let result = StderrMsg::Result {
        id: 5,
        result_type: ResultType::BuildLogLine,
        fields: vec!["building".into()],
    };
    let mut expected = u64s(&[0x5253_4c54, 5, 101, 1, 1]);
    expected.extend(string(b"building"));
    assert_eq!(check_round_trip(&result, &cx(34)), expected);
    assert_eq!(
        check_round_trip(&StderrMsg::StopActivity { id: 5 }, &cx(34)),
        u64s(&[0x5354_4f50, 5])
    );

    let bad_field = u64s(&[0x5253_4c54, 5, 101, 1, 2, 0]);
    assert!(matches!(
        decode_prefix::<StderrMsg>(&bad_field, &cx(34)),
        Err(DecodeError::BadValue { found: 2, .. })
    ));
    let unknown = u64s(&[0x1234]);
    assert!(matches!(
        decode_prefix::<StderrMsg>(&unknown, &cx(34)),
        Err(DecodeError::BadValue { offset: 0, .. })
    ));
}

#[test]
fn activities_downgrade_to_lines_before_1_20() {
    let old = ProtocolVersion::v1(19);
    let start = |level, text: &str| {
        StderrMsg::StartActivity(StartActivity {
            id: 1,
            level,
            activity_type: ActivityType::CopyPath,
            text: text.into(),
            fields: Vec::new(),
            parent: 0,
        })
    };
    let shown = start(Verbosity::Info, "copying path");
    assert_eq!(
        shown
            .downgrade(old, Verbosity::Info)
            .map(|m| m.into_owned()),
        Some(StderrMsg::line("copying path..."))
    );
    assert_eq!(
        start(Verbosity::Debug, "hidden").downgrade(old, Verbosity::Info),
        None
    );
    assert_eq!(
        start(Verbosity::Error, "").downgrade(old, Verbosity::Vomit),
        None
    );
    assert_eq!(
        StderrMsg::StopActivity { id: 1 }.downgrade(old, Verbosity::Vomit),
        None
    );
    assert_eq!(
        StderrMsg::Last
            .downgrade(old, Verbosity::Error)
            .map(|m| m.into_owned()),
        Some(StderrMsg::Last)
    );
    assert!(
        shown
            .downgrade(ProtocolVersion::v1(20), Verbosity::Error)
            .is_some()
    );

    // The encoder applies the downgrade itself: old clients never see an
    // activity code.
    let cx19 = WireContext::new(old);
    assert_eq!(
        encode_to_vec(&cx19, &shown).expect("line"),
        encode_to_vec(&cx19, &StderrMsg::line("copying path...")).expect("line")
    );
    assert!(
        encode_to_vec(&cx19, &StderrMsg::StopActivity { id: 1 })
            .expect("nothing")
            .is_empty()
    );
    // And the decoder refuses activity codes at that version.
    let bytes = u64s(&[0x5354_4f50, 1]);
    assert!(decode_prefix::<StderrMsg>(&bytes, &cx19).is_err());
}

#[test]
fn read_replies_are_bounded_by_the_request() {
    let cx = cx(38);
    let reply = string(b"abcdef");
    assert_eq!(
        decode_read_reply(&mut Decoder::new(&reply, &cx), 6),
        Ok(&b"abcdef"[..])
    );
    assert!(matches!(
        decode_read_reply(&mut Decoder::new(&reply[..8], &cx), 5),
        Err(DecodeError::TooLong {
            len: 6,
            limit: 5,
            ..
        })
    ));
    assert_eq!(
        decode_read_reply(&mut Decoder::new(&reply[..8], &cx), 6),
        Err(DecodeError::Incomplete { needed: 8 })
    );
    let mut out = Vec::new();
    encode_read_reply(&mut Encoder::new(&mut out, &cx), b"abcdef");
    assert_eq!(out, reply);
}
