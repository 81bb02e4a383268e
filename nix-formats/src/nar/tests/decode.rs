//! The decoder: events, splits, the exact end, and every refusal.

use super::fixtures::{
    Ev, Outcome, decode_error, decode_pieces, decode_whole, nar, s, sample, sample_tokens,
};
use crate::nar::grammar::{MAX_DEPTH, MAX_NAME_LEN, MAX_TARGET_LEN};
use crate::nar::{DecodeError, Decoder, Event, Found, NameError, Node, ParseError, Status, Step};

fn sample_events() -> Vec<Ev> {
    let e = |n: &[u8]| Ev::Entry(n.to_vec());
    vec![
        Ev::Directory,
        e(b"a"),
        Ev::Regular(false, 5),
        Ev::Contents(b"hello".to_vec()),
        Ev::NodeEnd,
        Ev::EntryEnd,
        e(b"b"),
        Ev::Regular(true, 0),
        Ev::NodeEnd,
        Ev::EntryEnd,
        e(b"c"),
        Ev::Symlink(b"../nowhere".to_vec()),
        Ev::NodeEnd,
        Ev::EntryEnd,
        e(b"d"),
        Ev::Directory,
        e(b"e"),
        Ev::Regular(false, 8),
        Ev::Contents(b"12345678".to_vec()),
        Ev::NodeEnd,
        Ev::EntryEnd,
        Ev::NodeEnd,
        Ev::EntryEnd,
        Ev::NodeEnd,
    ]
}

#[test]
fn sample_decodes_to_its_events() {
    let data = sample();
    assert_eq!(
        decode_whole(&data),
        (sample_events(), Outcome::Complete(data.len() as u64))
    );
}

#[test]
fn one_byte_at_a_time_gives_the_same_events() {
    let data = sample();
    assert_eq!(decode_pieces(&data, &[1]), decode_whole(&data));
    assert_eq!(decode_pieces(&data, &[3, 1, 7, 16, 2]), decode_whole(&data));
}

#[test]
fn every_prefix_needs_more() {
    let data = sample();
    for len in 0..data.len() {
        let (_, outcome) = decode_whole(&data[..len]);
        assert_eq!(outcome, Outcome::Incomplete, "prefix of {len} bytes");
        assert_eq!(
            Node::parse(&data[..len]),
            Err(ParseError::Truncated { offset: len as u64 })
        );
    }
}

#[test]
fn need_more_says_how_much() {
    let mut d = Decoder::new();
    assert_eq!(d.advance(&mut &[][..]), Ok(Status::NeedMore(8)));
    assert_eq!(d.advance(&mut &[13, 0, 0][..]), Ok(Status::NeedMore(5)));
    assert_eq!(d.advance(&mut &[0; 5][..]), Ok(Status::NeedMore(13)));
    assert_eq!(
        d.advance(&mut &b"nix-archive-1"[..]),
        Ok(Status::NeedMore(3))
    );
    assert_eq!(d.advance(&mut &[0; 3][..]), Ok(Status::NeedMore(8)));
    assert_eq!(d.offset(), 24);
}

#[test]
fn stops_right_after_the_archive() {
    let data = sample();
    let mut with_tail = data.clone();
    with_tail.extend_from_slice(b"next message");
    let mut d = Decoder::new();
    let mut input = &with_tail[..];
    while d.next(&mut input) != Ok(Step::Event(Event::End)) {}
    assert_eq!(input, b"next message");
    assert_eq!(d.offset(), data.len() as u64);
    // Asked again, it reports the end again and takes nothing.
    assert_eq!(d.next(&mut input), Ok(Step::Event(Event::End)));
    assert_eq!(input, b"next message");
    assert!(d.is_done());
    assert_eq!(
        Node::parse(&with_tail),
        Err(ParseError::Trailing {
            offset: data.len() as u64,
            len: 12
        })
    );
}

#[test]
fn wrong_magic() {
    let e = decode_error(&nar(&[b"nix-archive-2"]));
    assert_eq!(
        e,
        DecodeError::Unexpected {
            offset: 0,
            expected: "'nix-archive-1'",
            found: Found::Token(b"nix-archive-2".to_vec())
        }
    );
    assert_eq!(
        e.to_string(),
        "bad archive: expected 'nix-archive-1' at byte 0, found 'nix-archive-2'"
    );
    // A long first string is refused from its length alone.
    let e = decode_error(&u64::MAX.to_le_bytes());
    assert!(
        matches!(
            e,
            DecodeError::Unexpected {
                found: Found::Length(u64::MAX),
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn unknown_tokens() {
    let cases: &[(&[&[u8]], &str)] = &[
        (
            &[b"nix-archive-1", b"(", b"type", b"fifo"],
            "'regular', 'symlink' or 'directory'",
        ),
        (&[b"nix-archive-1", b")"], "'('"),
        (&[b"nix-archive-1", b"(", b"kind"], "'type'"),
        (
            &[b"nix-archive-1", b"(", b"type", b"regular", b"target"],
            "'executable' or 'contents'",
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"yes",
            ],
            "'' after 'executable'",
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"",
                b"executable",
            ],
            "'contents'",
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"contents",
                b"",
                b"type",
            ],
            "')'",
        ),
        (
            &[b"nix-archive-1", b"(", b"type", b"symlink", b"contents"],
            "'target'",
        ),
        (
            &[b"nix-archive-1", b"(", b"type", b"directory", b"name"],
            "'entry' or ')'",
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"directory",
                b"entry",
                b"(",
                b"node",
            ],
            "'name'",
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"directory",
                b"entry",
                b"(",
                b"name",
                b"a",
                b"(",
            ],
            "'node'",
        ),
    ];
    for (tokens, expected) in cases {
        let data = nar(tokens);
        let last = s(tokens.last().expect("non-empty case"));
        let e = decode_error(&data);
        assert_eq!(
            e,
            DecodeError::Unexpected {
                offset: (data.len() - last.len()) as u64,
                expected,
                found: Found::Token(tokens.last().expect("non-empty case").to_vec()),
            },
            "{tokens:?}"
        );
    }
}

#[test]
fn non_zero_padding() {
    // In a token: the byte after "(" at offset 24 + 8 + 1.
    let mut data = sample();
    data[33] = 1;
    assert_eq!(decode_error(&data), DecodeError::Padding { offset: 33 });
    // In contents: "hello" is padded with 3 zeros.
    let data = sample();
    let at = data
        .windows(5)
        .position(|w| w == b"hello")
        .expect("contents present")
        + 6;
    let mut bad = data.clone();
    bad[at] = 0x80;
    assert_eq!(
        decode_error(&bad),
        DecodeError::Padding { offset: at as u64 }
    );
    // In a name: "a" is padded with 7 zeros.
    let at = data
        .windows(2)
        .position(|w| w == b"a\0")
        .expect("name present")
        + 3;
    let mut bad = data;
    bad[at] = b'a';
    assert_eq!(
        decode_error(&bad),
        DecodeError::Padding { offset: at as u64 }
    );
}

/// A root directory with entries of the given names, each an empty file.
fn dir_with(names: &[&[u8]]) -> Vec<u8> {
    let mut tokens: Vec<&[u8]> = vec![b"nix-archive-1", b"(", b"type", b"directory"];
    for name in names {
        tokens.extend([&b"entry"[..], b"(", b"name", name, b"node"]);
        tokens.extend([&b"("[..], b"type", b"regular", b"contents", b"", b")", b")"]);
    }
    tokens.push(b")");
    nar(&tokens)
}

#[test]
fn entries_must_be_sorted_and_unique() {
    assert!(Node::parse(&dir_with(&[b"A", b"B", b"a", b"b", b"\x80"])).is_ok());
    for names in [
        &[&b"b"[..], b"a"][..],
        &[b"a", b"a"],
        &[b"ab", b"a"],
        &[b"\x80", b"z"],
    ] {
        let e = decode_error(&dir_with(names));
        assert!(
            matches!(&e, DecodeError::Unsorted { prev, name, .. } if prev == names[0] && name == names[1]),
            "{names:?}: {e:?}"
        );
    }
}

#[test]
fn bad_names() {
    let long = [b'x'; MAX_NAME_LEN + 1];
    assert!(Node::parse(&dir_with(&[&long[..MAX_NAME_LEN]])).is_ok());
    for (name, reason) in [
        (&b""[..], NameError::Empty),
        (b".", NameError::Dot),
        (b"..", NameError::Dot),
        (b"a/b", NameError::Slash),
        (b"/", NameError::Slash),
        (b"a\0", NameError::Nul),
    ] {
        let e = decode_error(&dir_with(&[name]));
        assert!(
            matches!(&e, DecodeError::InvalidName { name: n, reason: r, offset: 128 } if n == name && *r == reason),
            "{name:?}: {e:?}"
        );
    }
    let e = decode_error(&dir_with(&[&long]));
    assert_eq!(
        e,
        DecodeError::TooLong {
            offset: 128,
            what: "file name",
            len: 256,
            limit: MAX_NAME_LEN
        }
    );
}

#[test]
fn symlink_target_limit() {
    let target = vec![b't'; MAX_TARGET_LEN + 1];
    let tokens = |t| {
        nar(&[
            b"nix-archive-1",
            b"(",
            b"type",
            b"symlink",
            b"target",
            t,
            b")",
        ])
    };
    assert!(Node::parse(&tokens(&target[..MAX_TARGET_LEN])).is_ok());
    // Empty and NUL-bearing targets pass: Nix does not check them either.
    assert!(Node::parse(&tokens(b"")).is_ok());
    assert!(Node::parse(&tokens(b"a\0b")).is_ok());
    assert!(matches!(
        decode_error(&tokens(&target)),
        DecodeError::TooLong {
            what: "symlink target",
            len: 4096,
            ..
        }
    ));
}

/// `depth` directories, each the only entry (`x`) of its parent.
fn nested(depth: usize) -> Vec<u8> {
    let mut tokens: Vec<&[u8]> = vec![b"nix-archive-1"];
    for i in 0..depth {
        tokens.extend([&b"("[..], b"type", b"directory"]);
        if i + 1 < depth {
            tokens.extend([&b"entry"[..], b"(", b"name", b"x", b"node"]);
        }
    }
    for i in 0..depth {
        tokens.push(b")");
        if i + 1 < depth {
            tokens.push(b")");
        }
    }
    nar(&tokens)
}

#[test]
fn nesting_limit() {
    let ok = Node::parse(&nested(MAX_DEPTH)).expect("MAX_DEPTH directories are allowed");
    assert_eq!(
        ok.to_nar().expect("the writer allows them too"),
        nested(MAX_DEPTH)
    );
    assert!(matches!(
        decode_error(&nested(MAX_DEPTH + 1)),
        DecodeError::TooDeep {
            limit: MAX_DEPTH,
            ..
        }
    ));
}

#[test]
fn huge_contents_length_is_not_allocated() {
    let mut data = nar(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]);
    data.extend_from_slice(&u64::MAX.to_le_bytes());
    data.extend_from_slice(b"some bytes");
    let (events, outcome) = decode_whole(&data);
    assert_eq!(
        events,
        [
            Ev::Regular(false, u64::MAX),
            Ev::Contents(b"some bytes".to_vec())
        ]
    );
    assert_eq!(outcome, Outcome::Incomplete);
    assert_eq!(
        Node::parse(&data),
        Err(ParseError::Truncated {
            offset: data.len() as u64
        })
    );
}

#[test]
fn errors_are_sticky() {
    let data = nar(&[b"nix-archive-1", b"(", b"type", b"socket"]);
    let mut d = Decoder::new();
    let mut input = &data[..];
    let first = d.advance(&mut input).expect_err("bad type");
    assert_eq!(d.advance(&mut &sample()[..]), Err(first.clone()));
    assert_eq!(d.next(&mut &sample()[..]), Err(first));
    assert_eq!(d.event(&mut &sample()[..]), None);
}

#[test]
fn sample_parses_to_its_tree() {
    assert_eq!(Node::parse(&sample()), Ok(super::fixtures::sample_tree()));
    assert_eq!(nar(&sample_tokens()), sample());
}
