//! The fuzz seeds double as golden files: the valid ones were written by
//! `nix-store --dump` (Nix 2.8), the others by hand.

use std::path::PathBuf;

use crate::nar::{DecodeError, Node, ParseError};

fn seed(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/nar_reader")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn nix_written_seeds_round_trip() {
    for name in [
        "regular-file.nar",
        "empty-file.nar",
        "executable.nar",
        "symlink.nar",
        "empty-directory.nar",
        "directory.nar",
        "odd-names.nar",
    ] {
        let bytes = seed(name);
        let node = Node::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            node.to_nar().expect("valid") == bytes,
            "{name} does not re-encode to itself"
        );
    }
    let Node::Directory(odd) = Node::parse(&seed("odd-names.nar")).expect("valid") else {
        panic!("odd-names.nar holds a directory")
    };
    let names: Vec<&[u8]> = odd.keys().map(Vec::as_slice).collect();
    assert_eq!(names, [&b"with space"[..], b"\x80\xff", "ü".as_bytes()]);
}

#[test]
fn malformed_seeds_are_refused() {
    let decode = |name| match Node::parse(&seed(name)) {
        Err(ParseError::Decode(e)) => e,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        decode("bad-padding.nar"),
        DecodeError::Padding { offset: 33 }
    );
    assert!(matches!(
        decode("wrong-magic.nar"),
        DecodeError::Unexpected { offset: 0, .. }
    ));
    assert!(matches!(
        decode("unsorted.nar"),
        DecodeError::Unsorted { .. }
    ));
    assert!(matches!(
        decode("bad-name.nar"),
        DecodeError::InvalidName { .. }
    ));
    let truncated = seed("truncated.nar");
    assert_eq!(
        Node::parse(&truncated),
        Err(ParseError::Truncated {
            offset: truncated.len() as u64
        })
    );
    assert_eq!(
        Node::parse(&seed("huge-length.nar")),
        Err(ParseError::Truncated { offset: 99 })
    );
    assert_eq!(
        Node::parse(&seed("trailing-bytes.nar")),
        Err(ParseError::Trailing {
            offset: 128,
            len: 8
        })
    );
}
