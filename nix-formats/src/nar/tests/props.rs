//! Property tests: random trees round-trip, and no split of the input
//! changes what the decoder reports.

use std::io::BufReader;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use super::fixtures::{decode_pieces, decode_whole};
use crate::nar::Node;

/// Valid entry names: raw bytes, no `/` or NUL, not `.` or `..`.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(prop_oneof![Just(b'.'), Just(b'a'), Just(b'b'), Just(b'A')], 1..4),
        2 => vec(1u8..=255, 1..12),
        1 => vec(1u8..=255, 250..=255),
    ]
    .prop_map(|n| {
        n.into_iter()
            .map(|b| if b == b'/' { b'_' } else { b })
            .collect::<Vec<u8>>()
    })
    .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (any::<bool>(), vec(any::<u8>(), 0..80)).prop_map(|(executable, contents)| Node::Regular {
            executable,
            contents
        }),
        vec(any::<u8>(), 0..40).prop_map(|target| Node::Symlink { target }),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        btree_map(name(), inner, 0..8).prop_map(Node::Directory)
    })
}

/// A valid archive with a few bytes overwritten.
fn corrupted() -> impl Strategy<Value = Vec<u8>> {
    (
        node(),
        vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(node, flips)| {
            let mut bytes = node.to_nar().expect("generated trees are valid");
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            bytes
        })
}

proptest! {
    #[test]
    fn trees_round_trip_byte_for_byte(tree in node()) {
        let bytes = tree.to_nar().expect("generated trees are valid");
        let parsed = Node::parse(&bytes).expect("our own output parses");
        prop_assert_eq!(&parsed, &tree);
        prop_assert_eq!(parsed.to_nar().expect("valid"), bytes);
    }

    #[test]
    fn splits_do_not_change_events(tree in node(), sizes in vec(1usize..24, 1..40)) {
        let bytes = tree.to_nar().expect("generated trees are valid");
        prop_assert_eq!(decode_pieces(&bytes, &sizes), decode_whole(&bytes));
    }

    #[test]
    fn splits_do_not_change_errors(bytes in corrupted(), sizes in vec(1usize..24, 1..40)) {
        prop_assert_eq!(decode_pieces(&bytes, &sizes), decode_whole(&bytes));
        crate::fuzzing::nar_reader(&bytes);
    }

    #[test]
    fn reader_agrees_with_parse(tree in node(), capacity in 1usize..40) {
        let bytes = tree.to_nar().expect("generated trees are valid");
        let read = Node::read(BufReader::with_capacity(capacity, &bytes[..])).expect("valid");
        prop_assert_eq!(read, tree);
        crate::fuzzing::nar_reader(&bytes);
    }
}
