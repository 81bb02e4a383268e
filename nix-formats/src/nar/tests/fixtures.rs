//! Hand-built archives and a decoding harness shared by the tests.

use std::collections::BTreeMap;

use crate::nar::grammar::padding;
use crate::nar::{DecodeError, Decoder, Event, Node, Step};

/// `str(x)`: length, bytes, zero padding.
pub(super) fn s(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(bytes);
    out.resize(out.len() + padding(bytes.len() as u64), 0);
    out
}

/// The concatenation of `str(t)` for every token.
pub(super) fn nar(tokens: &[&[u8]]) -> Vec<u8> {
    tokens.iter().flat_map(|t| s(t)).collect()
}

/// Tokens of a small archive with every kind of node.
#[rustfmt::skip]
pub(super) fn sample_tokens() -> Vec<&'static [u8]> {
    vec![
        b"nix-archive-1", b"(", b"type", b"directory",
        b"entry", b"(", b"name", b"a", b"node",
        b"(", b"type", b"regular", b"contents", b"hello", b")",
        b")",
        b"entry", b"(", b"name", b"b", b"node",
        b"(", b"type", b"regular", b"executable", b"", b"contents", b"", b")",
        b")",
        b"entry", b"(", b"name", b"c", b"node",
        b"(", b"type", b"symlink", b"target", b"../nowhere", b")",
        b")",
        b"entry", b"(", b"name", b"d", b"node",
        b"(", b"type", b"directory",
        b"entry", b"(", b"name", b"e", b"node",
        b"(", b"type", b"regular", b"contents", b"12345678", b")",
        b")",
        b")",
        b")",
        b")",
    ]
}

pub(super) fn sample() -> Vec<u8> {
    nar(&sample_tokens())
}

pub(super) fn regular(executable: bool, contents: &[u8]) -> Node {
    Node::Regular {
        executable,
        contents: contents.to_vec(),
    }
}

pub(super) fn dir<const N: usize>(entries: [(&[u8], Node); N]) -> Node {
    Node::Directory(
        entries
            .into_iter()
            .map(|(n, node)| (n.to_vec(), node))
            .collect::<BTreeMap<_, _>>(),
    )
}

pub(super) fn sample_tree() -> Node {
    dir([
        (b"a", regular(false, b"hello")),
        (b"b", regular(true, b"")),
        (
            b"c",
            Node::Symlink {
                target: b"../nowhere".to_vec(),
            },
        ),
        (b"d", dir([(b"e", regular(false, b"12345678"))])),
    ])
}

/// An event as owned data, contents merged across pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ev {
    Directory,
    Entry(Vec<u8>),
    EntryEnd,
    Regular(bool, u64),
    Contents(Vec<u8>),
    Symlink(Vec<u8>),
    NodeEnd,
}

/// How decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// `End` after consuming this many bytes.
    Complete(u64),
    Failed(DecodeError),
    /// The input ran out inside the archive.
    Incomplete,
}

/// Decodes `data` fed in pieces of the given sizes (cycled; 0 counts as 1).
pub(super) fn decode_pieces(data: &[u8], sizes: &[usize]) -> (Vec<Ev>, Outcome) {
    let mut decoder = Decoder::new();
    let mut events: Vec<Ev> = Vec::new();
    let mut input: &[u8] = &[];
    let (mut fed, mut requests) = (0, 0);
    loop {
        let step = match decoder.next(&mut input) {
            Ok(step) => step,
            Err(e) => return (events, Outcome::Failed(e)),
        };
        let ev = match step {
            Step::Event(Event::End) => {
                assert_eq!(decoder.offset(), (fed - input.len()) as u64);
                return (events, Outcome::Complete(decoder.offset()));
            }
            Step::NeedMore(n) => {
                assert!(
                    n >= 1 && input.is_empty(),
                    "NeedMore({n}) with {} bytes left",
                    input.len()
                );
                if fed == data.len() {
                    return (events, Outcome::Incomplete);
                }
                let size = sizes
                    .get(requests % sizes.len().max(1))
                    .copied()
                    .unwrap_or(usize::MAX);
                let size = size.clamp(1, data.len() - fed);
                input = &data[fed..fed + size];
                fed += size;
                requests += 1;
                continue;
            }
            Step::Event(Event::Directory) => Ev::Directory,
            Step::Event(Event::Entry { name }) => Ev::Entry(name.to_vec()),
            Step::Event(Event::EntryEnd) => Ev::EntryEnd,
            Step::Event(Event::Regular { executable, size }) => Ev::Regular(executable, size),
            Step::Event(Event::Contents(chunk)) => {
                assert!(!chunk.is_empty());
                Ev::Contents(chunk.to_vec())
            }
            Step::Event(Event::Symlink { target }) => Ev::Symlink(target.to_vec()),
            Step::Event(Event::NodeEnd) => Ev::NodeEnd,
        };
        match (events.last_mut(), ev) {
            (Some(Ev::Contents(have)), Ev::Contents(more)) => have.extend_from_slice(&more),
            (_, ev) => events.push(ev),
        }
    }
}

/// Decodes `data` given in one piece.
pub(super) fn decode_whole(data: &[u8]) -> (Vec<Ev>, Outcome) {
    decode_pieces(data, &[])
}

/// The error decoding `data` (in one piece) ends with.
pub(super) fn decode_error(data: &[u8]) -> DecodeError {
    match decode_whole(data).1 {
        Outcome::Failed(e) => e,
        other => panic!("expected a decode error, got {other:?}"),
    }
}
