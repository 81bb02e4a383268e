//! The entry point shared by the cargo-fuzz target `dag_pb` (`fuzz/`) and
//! the test that replays its corpus (`tests/fuzz_corpus.rs`).
//!
//! [`dag_pb`] takes arbitrary bytes as one dag-pb block, as a peer could
//! send it, must never panic on them, and checks what the codec promises:
//! * the protobuf reader walks every field and stops;
//! * a node that decodes re-encodes to bytes that decode to the same node,
//!   and [`encoded_len`] predicts their length (the HAMT threshold relies
//!   on it);
//! * UnixFS data that decodes re-encodes to data that decodes the same;
//! * what the DAG reader makes of the block ([`kind_of`]) is an answer or
//!   an error, and a file's size is what its node says it holds.

use crate::dag::{Kind, kind_of};
use crate::unixfs::node::{UnixFsData, decode_node, encode_node, encoded_len};
use crate::unixfs::pb::Reader;
use crate::unixfs::{DAG_PB, cid_of};

/// Decodes `block` every way the store does and checks the invariants
/// above.
pub fn dag_pb(block: &[u8]) {
    let mut r = Reader::new(block);
    let mut fields = 0usize;
    while let Ok(Some(_)) = r.next_field() {
        fields += 1;
        assert!(
            fields <= block.len(),
            "the protobuf reader does not advance"
        );
    }

    if let Ok(node) = decode_node(block) {
        let again = encode_node(&node.links, node.data);
        assert_eq!(
            again.len(),
            encoded_len(&node.links, node.data.map(<[u8]>::len)),
            "encoded_len disagrees with the encoder"
        );
        let back = decode_node(&again).expect("an encoded node decodes");
        assert_eq!(back, node, "re-encoding changed the node");
        if let Some(data) = node.data {
            unixfs(data);
        }
    }
    unixfs(block);

    let cid = cid_of(DAG_PB, block);
    if let Ok(Kind::File { size, .. }) = kind_of(&cid, block) {
        let node = decode_node(block).expect("kind_of decoded it");
        let fs = UnixFsData::decode(node.data.expect("a file node has data"))
            .expect("kind_of decoded its data");
        let claimed = fs
            .blocksizes
            .iter()
            .try_fold(fs.data.map_or(0, |d| d.len() as u64), |a, &b| {
                a.checked_add(b)
            });
        assert_eq!(Some(size), claimed, "file size is not what the node holds");
    }
}

/// UnixFS `Data` decodes, re-encodes and decodes the same.
fn unixfs(data: &[u8]) {
    if let Ok(fs) = UnixFsData::decode(data) {
        let again = fs.encode();
        let back = UnixFsData::decode(&again).expect("encoded UnixFS data decodes");
        assert_eq!(back, fs, "re-encoding changed the UnixFS data");
    }
}
