//! The blocking reader over `BufRead`.

use std::io::{self, BufReader, Read};

use super::fixtures::{sample, sample_tree};
use crate::nar::{DecodeError, Event, NarReader, Node, ReadError};

#[test]
fn reads_the_sample_through_any_buffer_size() {
    for capacity in [1, 2, 7, 8, 9, 64, 1 << 16] {
        let data = sample();
        let node = Node::read(BufReader::with_capacity(capacity, &data[..])).expect("valid");
        assert_eq!(node, sample_tree(), "buffer of {capacity}");
    }
}

#[test]
fn leaves_the_stream_right_after_the_archive() {
    let mut stream = sample();
    stream.extend_from_slice(b"NEXT");
    for capacity in [1, 5, 4096] {
        let mut r = NarReader::new(BufReader::with_capacity(capacity, &stream[..]));
        assert_eq!(r.skip_rest().expect("valid"), sample().len() as u64);
        let mut rest = Vec::new();
        r.into_inner().read_to_end(&mut rest).expect("in memory");
        assert_eq!(rest, b"NEXT");
    }
}

/// Fails the test if read: stands for a socket on which nothing more comes.
struct MustNotRead;

impl Read for MustNotRead {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("read past the end of the archive"))
    }
}

#[test]
fn never_reads_past_the_end() {
    let data = sample();
    let mut r = NarReader::new(BufReader::with_capacity(1, (&data[..]).chain(MustNotRead)));
    loop {
        match r.next_event().expect("no read past the end") {
            Event::End => break,
            _ => continue,
        }
    }
    assert_eq!(
        r.next_event().expect("End again, without reading"),
        Event::End
    );
}

#[test]
fn contents_through_read() {
    let data = sample();
    let mut r = NarReader::new(BufReader::with_capacity(3, &data[..]));
    assert_eq!(r.next_event().expect("valid"), Event::Directory);
    assert_eq!(r.next_event().expect("valid"), Event::Entry { name: b"a" });
    assert_eq!(
        r.next_event().expect("valid"),
        Event::Regular {
            executable: false,
            size: 5
        }
    );
    assert_eq!(r.decoder().contents_remaining(), 5);
    let mut contents = Vec::new();
    r.read_to_end(&mut contents).expect("contents");
    assert_eq!(contents, b"hello");
    assert_eq!(r.read(&mut [0; 4]).expect("end of contents"), 0);
    assert_eq!(r.next_event().expect("valid"), Event::NodeEnd);
    assert_eq!(r.read(&mut [0; 4]).expect("outside contents"), 0);
    // Mixing: one byte by Read, the rest as events.
    let mut r = NarReader::new(&data[..]);
    while !matches!(
        r.next_event().expect("valid"),
        Event::Regular { size: 8, .. }
    ) {}
    let mut one = [0];
    r.read_exact(&mut one).expect("first byte");
    assert_eq!(&one, b"1");
    assert_eq!(r.next_event().expect("valid"), Event::Contents(b"2345678"));
    assert_eq!(r.next_event().expect("valid"), Event::NodeEnd);
}

#[test]
fn truncated_and_malformed_input() {
    let data = sample();
    for len in [0, 1, 30, data.len() - 1] {
        let err = Node::read(&data[..len]).expect_err("truncated");
        assert!(
            matches!(err, ReadError::Truncated { offset } if offset == len as u64),
            "{err:?}"
        );
    }
    let mut bad = data.clone();
    bad[8] = b'N';
    let err = Node::read(&bad[..]).expect_err("bad magic");
    assert!(matches!(
        err,
        ReadError::Decode(DecodeError::Unexpected { offset: 0, .. })
    ));

    let mut r = NarReader::new(BufReader::with_capacity(4, &data[..236]));
    while !matches!(r.next_event().expect("valid so far"), Event::Regular { .. }) {}
    let err = io::copy(&mut r, &mut io::sink()).expect_err("truncated contents");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn io_errors_pass_through() {
    let err = Node::read(BufReader::new(MustNotRead)).expect_err("reader fails");
    assert!(matches!(err, ReadError::Io(_)));
    // `fill_buf` is retried on EINTR.
    struct Interrupting<'a>(bool, &'a [u8]);
    impl Read for Interrupting<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.0 = !self.0;
            if self.0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.1.read(out)
        }
    }
    let data = sample();
    let node = Node::read(BufReader::with_capacity(16, Interrupting(false, &data)));
    assert_eq!(node.expect("interruptions are retried"), sample_tree());
}
