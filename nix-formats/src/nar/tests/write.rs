//! The writer: canonical output and every refusal.

use std::io;

use super::fixtures::{nar, sample, sample_tree};
use crate::nar::grammar::{MAX_DEPTH, MAX_TARGET_LEN};
use crate::nar::{NameError, NarWriter, Node, WriteError};

#[test]
fn writes_the_sample_byte_for_byte() {
    assert_eq!(sample_tree().to_nar().expect("valid tree"), sample());
}

#[test]
fn typed_calls_build_the_sample() {
    let mut w = NarWriter::new(Vec::new());
    w.begin_directory().expect("root");
    w.entry(b"a").expect("a");
    w.regular(false, 5).expect("a is regular");
    w.contents(b"hel").expect("first part");
    w.contents(b"lo").expect("second part");
    w.entry(b"b").expect("b");
    w.regular(true, 0).expect("b is complete at once");
    w.entry(b"c").expect("c");
    w.symlink(b"../nowhere").expect("c is a symlink");
    w.entry(b"d").expect("d");
    w.begin_directory().expect("d is a directory");
    w.entry(b"e").expect("e");
    w.regular(false, 8).expect("e");
    w.contents(b"12345678").expect("e's contents");
    w.end_directory().expect("end d");
    assert!(!w.is_done());
    w.end_directory().expect("end root");
    assert!(w.is_done());
    assert_eq!(w.bytes_written(), sample().len() as u64);
    assert_eq!(w.finish().expect("complete"), sample());
}

fn in_directory() -> NarWriter<Vec<u8>> {
    let mut w = NarWriter::new(Vec::new());
    w.begin_directory().expect("root");
    w
}

#[test]
fn refuses_unsorted_and_duplicate_entries() {
    let mut w = in_directory();
    w.entry(b"b").expect("first");
    w.symlink(b"x").expect("node");
    for name in [&b"a"[..], b"b", b"B"] {
        assert!(
            matches!(w.entry(name), Err(WriteError::Unsorted { ref prev, name: ref n }) if prev == b"b" && n == name),
            "{name:?}"
        );
    }
    // A refusal writes nothing: the archive can go on.
    w.entry(b"c").expect("greater name");
    w.symlink(b"y").expect("node");
    w.end_directory().expect("end");
    let out = w.finish().expect("complete");
    assert_eq!(
        Node::parse(&out).expect("valid").to_nar().expect("valid"),
        out
    );
}

#[test]
fn refuses_bad_names() {
    let mut w = in_directory();
    for (name, reason) in [
        (&b""[..], NameError::Empty),
        (b".", NameError::Dot),
        (b"..", NameError::Dot),
        (b"../x", NameError::Slash),
        (b"a\0", NameError::Nul),
        (&[b'n'; 256], NameError::TooLong),
    ] {
        assert!(
            matches!(w.entry(name), Err(WriteError::InvalidName { reason: r, .. }) if r == reason),
            "{name:?}"
        );
    }
    w.entry(b"\xff\n \"\\").expect("raw bytes are fine");
}

#[test]
fn refuses_contents_not_matching_the_size() {
    let mut w = in_directory();
    w.entry(b"f").expect("entry");
    w.regular(false, 4).expect("file");
    assert!(matches!(
        w.contents(b"12345"),
        Err(WriteError::ContentsOverflow {
            size: 4,
            remaining: 4,
            len: 5
        })
    ));
    w.contents(b"12").expect("part");
    assert!(matches!(
        w.contents(b"345"),
        Err(WriteError::ContentsOverflow {
            size: 4,
            remaining: 2,
            len: 3
        })
    ));
    assert!(matches!(
        w.entry(b"g"),
        Err(WriteError::ContentsIncomplete {
            size: 4,
            remaining: 2
        })
    ));
    assert!(matches!(
        w.end_directory(),
        Err(WriteError::ContentsIncomplete { .. })
    ));
    w.contents(b"34").expect("rest");
    assert!(matches!(
        w.contents(b"5"),
        Err(WriteError::OutOfOrder {
            call: "contents",
            ..
        })
    ));
}

#[test]
fn refuses_calls_out_of_order() {
    let mut w = NarWriter::new(Vec::new());
    assert!(matches!(
        w.entry(b"a"),
        Err(WriteError::OutOfOrder { call: "entry", .. })
    ));
    assert!(matches!(
        w.end_directory(),
        Err(WriteError::OutOfOrder { .. })
    ));
    let mut w = in_directory();
    assert!(matches!(
        w.symlink(b"x"),
        Err(WriteError::OutOfOrder {
            call: "symlink",
            ..
        })
    ));
    assert!(matches!(
        w.regular(false, 0),
        Err(WriteError::OutOfOrder { .. })
    ));
    assert!(matches!(
        w.begin_directory(),
        Err(WriteError::OutOfOrder { .. })
    ));
    w.entry(b"a").expect("entry");
    assert!(matches!(w.entry(b"b"), Err(WriteError::OutOfOrder { .. })));
    assert!(matches!(
        w.end_directory(),
        Err(WriteError::OutOfOrder { .. })
    ));
    // Ending early is refused.
    assert!(matches!(
        w.finish(),
        Err(WriteError::OutOfOrder { call: "finish", .. })
    ));
    let w = NarWriter::new(Vec::new());
    assert!(matches!(w.finish(), Err(WriteError::OutOfOrder { .. })));
    let mut w = NarWriter::new(Vec::new());
    w.symlink(b"x").expect("root");
    assert!(matches!(
        w.symlink(b"y"),
        Err(WriteError::OutOfOrder { .. })
    ));
}

#[test]
fn refuses_long_targets_and_deep_trees() {
    let mut w = NarWriter::new(Vec::new());
    assert!(matches!(
        w.symlink(&[b't'; MAX_TARGET_LEN + 1]),
        Err(WriteError::TargetTooLong { len: 4096 })
    ));
    w.symlink(&[b't'; MAX_TARGET_LEN]).expect("at the limit");

    let mut w = NarWriter::new(io::sink());
    for _ in 1..MAX_DEPTH {
        w.begin_directory().expect("within the limit");
        w.entry(b"x").expect("entry");
    }
    w.begin_directory().expect("at the limit");
    w.entry(b"x").expect("entry");
    assert!(matches!(w.begin_directory(), Err(WriteError::TooDeep)));
}

#[test]
fn io_errors_poison_the_writer() {
    struct Broken;
    impl io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = NarWriter::new(Broken);
    w.regular(false, 1 << 20).expect("buffered");
    // A write larger than the buffer goes through and fails.
    assert!(matches!(
        w.contents(&vec![0; 1 << 20]),
        Err(WriteError::Io(_))
    ));
    assert!(matches!(w.contents(b"x"), Err(WriteError::Poisoned)));
}

#[test]
fn executable_marker_and_padding() {
    let node = Node::Regular {
        executable: true,
        contents: b"#!".to_vec(),
    };
    let want = nar(&[
        b"nix-archive-1",
        b"(",
        b"type",
        b"regular",
        b"executable",
        b"",
        b"contents",
        b"#!",
        b")",
    ]);
    assert_eq!(node.to_nar().expect("valid"), want);
}
