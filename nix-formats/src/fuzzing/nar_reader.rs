//! Fuzz entry for the NAR decoder.
//!
//! Invariants checked on arbitrary bytes:
//! * nothing panics, and nothing is allocated from a claimed length beyond
//!   the grammar's limits (contents are never reserved whole);
//! * if the input starts with a complete NAR, writing the parsed tree gives
//!   back exactly the bytes the decoder consumed;
//! * feeding the input in pieces (sizes taken from the input itself) gives
//!   the same events, contents and outcome as feeding it in one piece.

use std::io::{BufReader, Cursor, Seek};

use crate::nar::{DecodeError, Decoder, Event, Node, ParseError, ReadError, Step};

/// Decodes `data` and checks the invariants above.
pub fn nar_reader(data: &[u8]) {
    let parsed = Node::parse_prefix(data);
    if let Ok((node, used)) = &parsed {
        let again = node
            .to_nar()
            .expect("a decoded tree is within every limit the writer checks");
        assert_eq!(again, data[..*used], "re-encoding changed the archive");
    }

    // The blocking reader, through a small buffer, agrees with the parse.
    let mut source = BufReader::with_capacity(5, Cursor::new(data));
    match (Node::read(&mut source), &parsed) {
        (Ok(read), Ok((node, used))) => {
            assert_eq!(&read, node, "NarReader and parse_prefix disagree");
            assert_eq!(
                source.stream_position().ok(),
                Some(*used as u64),
                "NarReader over-read"
            );
        }
        (Err(ReadError::Decode(a)), Err(ParseError::Decode(b))) => assert_eq!(&a, b),
        (Err(ReadError::Truncated { .. }), Err(ParseError::Truncated { .. })) => {}
        (read, parsed) => panic!("NarReader gave {read:?}, parse_prefix {parsed:?}"),
    }

    let whole = decode(data, |_| data.len());
    // Piece sizes 1..=8 cycling through the input's own bytes.
    let pieces = decode(data, |i| {
        1 + usize::from(data.get(i % data.len().max(1)).copied().unwrap_or(0) % 8)
    });
    assert_eq!(whole, pieces, "splitting the input changed the result");
}

/// What decoding produced: events (contents merged) and how it stopped.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Owned>,
    end: End,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Complete { size: u64 },
    Failed(DecodeError),
    Incomplete,
}

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Directory,
    Entry(Vec<u8>),
    EntryEnd,
    Regular(bool, u64),
    Contents(Vec<u8>),
    Symlink(Vec<u8>),
    NodeEnd,
}

/// Decodes `data` handing the decoder `piece(i)` bytes at its `i`-th
/// request for more.
fn decode(data: &[u8], piece: impl Fn(usize) -> usize) -> Outcome {
    let mut decoder = Decoder::new();
    let mut events: Vec<Owned> = Vec::new();
    let mut input: &[u8] = &[];
    let (mut fed, mut requests) = (0, 0);
    let end = loop {
        let step = match decoder.next(&mut input) {
            Ok(step) => step,
            Err(e) => break End::Failed(e),
        };
        let owned = match step {
            Step::NeedMore(_) if fed == data.len() => break End::Incomplete,
            Step::NeedMore(_) => {
                let n = piece(requests).max(1).min(data.len() - fed);
                input = &data[fed..fed + n];
                fed += n;
                requests += 1;
                continue;
            }
            Step::Event(event) => match to_owned(event) {
                Some(owned) => owned,
                None => {
                    break End::Complete {
                        size: decoder.offset(),
                    };
                }
            },
        };
        match (events.last_mut(), owned) {
            (Some(Owned::Contents(have)), Owned::Contents(more)) => have.extend_from_slice(&more),
            (_, owned) => events.push(owned),
        }
    };
    Outcome { events, end }
}

/// The event as owned data; `None` for [`Event::End`].
fn to_owned(event: Event<'_>) -> Option<Owned> {
    Some(match event {
        Event::Directory => Owned::Directory,
        Event::Entry { name } => Owned::Entry(name.to_vec()),
        Event::EntryEnd => Owned::EntryEnd,
        Event::Regular { executable, size } => Owned::Regular(executable, size),
        Event::Contents(chunk) => Owned::Contents(chunk.to_vec()),
        Event::Symlink { target } => Owned::Symlink(target.to_vec()),
        Event::NodeEnd => Owned::NodeEnd,
        Event::End => return None,
    })
}
