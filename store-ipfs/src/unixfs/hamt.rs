//! HAMT-sharded directories as Kubo, boxo and the JS importer build them:
//! fanout 256, the bucket at level n is byte n of the name's murmur3-x64-64
//! hash, entry links are named `<2 uppercase hex digits><name>`, sub-shard
//! links just the two digits, and each node's occupancy bitfield is the
//! minimal big-endian integer with bit i set for bucket i.

use std::collections::BTreeMap;
use std::io::Cursor;

use super::dir::DirError;
use super::node::{DataType, PbLink, UnixFsData, encode_node};
use super::{BlockSink, DAG_PB, Entry, HAMT_FANOUT, HAMT_HASH_TYPE, emit};

const HASH_BYTES: usize = 8;

/// The 64-bit murmur3 hash the HAMT uses (first 8 bytes of murmur3-x64-128,
/// seed 0, in the multiformats byte order).
pub fn name_hash(name: &[u8]) -> [u8; HASH_BYTES] {
    let h = murmur3::murmur3_x64_128(&mut Cursor::new(name), 0)
        .expect("reading from memory cannot fail");
    // The crate returns h2 << 64 | h1; multiformats emits h1 then h2, each
    // big-endian, and the HAMT takes the first 8 bytes: h1.
    (h as u64).to_be_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn murmur3_matches_multiformats() {
        // @multiformats/murmur3 murmur3128.encode("hello") = cbd8a7b341bd9b02 5b1e906a48ae1d19
        assert_eq!(
            super::name_hash(b"hello"),
            [0xcb, 0xd8, 0xa7, 0xb3, 0x41, 0xbd, 0x9b, 0x02]
        );
    }
}

#[derive(Debug)]
enum Slot {
    Entry {
        name: Vec<u8>,
        hash: [u8; HASH_BYTES],
        entry: Entry,
    },
    Shard(Box<Bucket>),
}

#[derive(Debug, Default)]
struct Bucket {
    slots: BTreeMap<u8, Slot>,
}

#[derive(Debug, Default)]
pub(super) struct Hamt {
    root: Bucket,
}

impl Hamt {
    pub(super) fn insert<E>(&mut self, name: Vec<u8>, entry: Entry) -> Result<(), DirError<E>> {
        let hash = name_hash(&name);
        insert(&mut self.root, 0, name, hash, entry)
    }

    pub(super) fn finish<S: BlockSink>(self, sink: &mut S) -> Result<Entry, S::Error> {
        write_bucket(&self.root, sink)
    }
}

fn insert<E>(
    bucket: &mut Bucket,
    level: usize,
    name: Vec<u8>,
    hash: [u8; HASH_BYTES],
    entry: Entry,
) -> Result<(), DirError<E>> {
    let idx = hash[level];
    match bucket.slots.remove(&idx) {
        None => {
            bucket.slots.insert(idx, Slot::Entry { name, hash, entry });
        }
        Some(Slot::Shard(mut sub)) => {
            let r = insert(&mut sub, level + 1, name, hash, entry);
            bucket.slots.insert(idx, Slot::Shard(sub));
            r?;
        }
        Some(Slot::Entry {
            name: other,
            hash: other_hash,
            entry: other_entry,
        }) => {
            if level + 1 >= HASH_BYTES {
                return Err(DirError::HashCollision(
                    String::from_utf8_lossy(&other).into_owned(),
                    String::from_utf8_lossy(&name).into_owned(),
                ));
            }
            let mut sub = Bucket::default();
            insert(&mut sub, level + 1, other, other_hash, other_entry)?;
            insert(&mut sub, level + 1, name, hash, entry)?;
            bucket.slots.insert(idx, Slot::Shard(Box::new(sub)));
        }
    }
    Ok(())
}

fn write_bucket<S: BlockSink>(bucket: &Bucket, sink: &mut S) -> Result<Entry, S::Error> {
    let mut links = Vec::with_capacity(bucket.slots.len());
    let mut bitfield = [0u8; 32];
    for (&idx, slot) in &bucket.slots {
        bitfield[31 - usize::from(idx / 8)] |= 1 << (idx % 8);
        let prefix = format!("{idx:02X}").into_bytes();
        links.push(match slot {
            Slot::Entry { name, entry, .. } => {
                let mut n = prefix;
                n.extend_from_slice(name);
                PbLink {
                    cid: entry.cid,
                    name: n,
                    tsize: entry.tsize,
                }
            }
            Slot::Shard(sub) => {
                let child = write_bucket(sub, sink)?;
                PbLink {
                    cid: child.cid,
                    name: prefix,
                    tsize: child.tsize,
                }
            }
        });
    }
    let first = bitfield
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bitfield.len());
    let data = UnixFsData {
        data: Some(&bitfield[first..]),
        hash_type: Some(HAMT_HASH_TYPE),
        fanout: Some(HAMT_FANOUT),
        ..UnixFsData::of_type(DataType::HamtShard)
    };
    let children: u64 = links.iter().map(|l| l.tsize).sum();
    emit(
        sink,
        DAG_PB,
        &encode_node(&links, Some(&data.encode())),
        children,
        0,
    )
}
