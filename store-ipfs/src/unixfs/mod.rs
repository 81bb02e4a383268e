//! UnixFS DAGs with the `unixfs-v1-2025` profile (IPIP-499): CIDv1,
//! sha2-256, raw leaves, 1 MiB chunks, balanced layout with 1024 links per
//! node, HAMT sharding (fanout 256, murmur3-x64-64) when a directory's
//! encoded node would exceed 256 KiB.
//!
//! Plain files therefore get exactly the CID `ipfs add
//! --profile=unixfs-v1-2025` gives them. Executable files carry the UnixFS
//! `mode` field ([`EXECUTABLE_MODE`]) so that a DAG turns back into the exact
//! NAR; that makes their root a dag-pb node, as `ipfs add --preserve-mode`
//! does.

mod dir;
mod file;
mod hamt;
pub mod node;
pub mod pb;
mod tree;

use cid::Cid;
use multihash::Multihash;
use sha2::{Digest as _, Sha256};

pub use dir::{DirBuilder, DirError};
pub use file::FileBuilder;
pub use tree::{AddError, add_path, add_path_parallel};

/// Multicodec of dag-pb nodes.
pub const DAG_PB: u64 = 0x70;
/// Multicodec of raw leaves.
pub const RAW: u64 = 0x55;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// Bytes per file chunk.
pub const CHUNK_SIZE: usize = 1 << 20;
/// Links per file node.
pub const MAX_LINKS: usize = 1024;
/// A directory whose basic node would be larger than this becomes a HAMT.
pub const HAMT_THRESHOLD: usize = 256 * 1024;
/// Fanout of HAMT shards.
pub const HAMT_FANOUT: u64 = 256;
/// UnixFS `hashType` of HAMT shards: murmur3-x64-64.
pub const HAMT_HASH_TYPE: u64 = 0x22;
/// The mode recorded for executable files (Nix's canonical 0555).
pub const EXECUTABLE_MODE: u32 = 0o555;

/// The CID of a block with the given codec.
pub fn cid_of(codec: u64, block: &[u8]) -> Cid {
    let digest = crate::timing::timed(crate::timing::Step::HashBlocks, || Sha256::digest(block));
    Cid::new_v1(
        codec,
        Multihash::wrap(SHA2_256, &digest).expect("32-byte digest fits a multihash"),
    )
}

/// Whatever receives the blocks of a DAG as they are made (the block store,
/// a hash-only counter, a test's map). Children always come before parents.
pub trait BlockSink {
    type Error;
    fn put(&mut self, cid: &Cid, block: &[u8]) -> Result<(), Self::Error>;

    /// Like [`put`](BlockSink::put), for a block the caller gives away (a
    /// sink that keeps blocks in memory for a while need not copy it).
    fn put_owned(&mut self, cid: &Cid, block: Vec<u8>) -> Result<(), Self::Error> {
        self.put(cid, &block)
    }
}

/// A sink that keeps nothing (`--only-hash`).
#[derive(Debug, Default)]
pub struct NullSink {
    pub blocks: u64,
    pub bytes: u64,
}

impl BlockSink for NullSink {
    type Error = std::convert::Infallible;
    fn put(&mut self, _: &Cid, block: &[u8]) -> Result<(), Self::Error> {
        self.blocks += 1;
        self.bytes += block.len() as u64;
        Ok(())
    }
}

/// A sink several threads put blocks into at once ([`add_path_parallel`]).
pub trait SharedSink: Sync {
    type Error: Send;
    fn put(&self, cid: &Cid, block: &[u8]) -> Result<(), Self::Error>;

    /// Stores the chunk of `src` at `offset` (up to [`CHUNK_SIZE`] bytes) as
    /// a raw leaf and returns its CID and length; `None` at the end of the
    /// file. `buf` is a chunk of scratch memory. By default the chunk is
    /// read, hashed and [`put`](SharedSink::put).
    fn put_leaf(
        &self,
        src: &std::fs::File,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Option<(Cid, usize)>, LeafError<Self::Error>> {
        read_leaf(self, src, offset, buf)
    }
}

/// What went wrong storing a chunk of a file.
#[derive(Debug)]
pub enum LeafError<E> {
    Read(std::io::Error),
    Sink(E),
}

/// [`SharedSink::put_leaf`] by reading into `buf`.
pub fn read_leaf<S: SharedSink + ?Sized>(
    sink: &S,
    src: &std::fs::File,
    offset: u64,
    buf: &mut [u8],
) -> Result<Option<(Cid, usize)>, LeafError<S::Error>> {
    use std::os::unix::fs::FileExt as _;
    let buf = &mut buf[..CHUNK_SIZE];
    let mut n = 0;
    while n < buf.len() {
        match src.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LeafError::Read(e)),
        }
    }
    if n == 0 {
        return Ok(None);
    }
    let cid = cid_of(RAW, &buf[..n]);
    sink.put(&cid, &buf[..n]).map_err(LeafError::Sink)?;
    Ok(Some((cid, n)))
}

/// A [`BlockSink`] over a shared sink.
#[derive(Debug)]
pub struct ByRef<'a, S>(pub &'a S);

impl<S: SharedSink> BlockSink for ByRef<'_, S> {
    type Error = S::Error;
    fn put(&mut self, cid: &Cid, block: &[u8]) -> Result<(), S::Error> {
        self.0.put(cid, block)
    }
}

/// A shared sink that keeps nothing (`--only-hash`).
#[derive(Debug, Default)]
pub struct Discard;

impl SharedSink for Discard {
    type Error = std::convert::Infallible;
    fn put(&self, _: &Cid, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A sink that keeps every block in memory (tests, small DAGs).
#[derive(Debug, Default)]
pub struct MemorySink {
    pub blocks: std::collections::HashMap<Cid, Vec<u8>>,
}

impl BlockSink for MemorySink {
    type Error = std::convert::Infallible;
    fn put(&mut self, cid: &Cid, block: &[u8]) -> Result<(), Self::Error> {
        self.blocks.entry(*cid).or_insert_with(|| block.to_vec());
        Ok(())
    }
}

/// A finished DAG: its root and the numbers a parent link needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub cid: Cid,
    /// Cumulative size (the parent link's Tsize).
    pub tsize: u64,
    /// File bytes under it (0 for directories and symlinks).
    pub size: u64,
}

/// Emits one block and returns its entry.
fn emit<S: BlockSink>(
    sink: &mut S,
    codec: u64,
    block: &[u8],
    children_tsize: u64,
    size: u64,
) -> Result<Entry, S::Error> {
    let cid = cid_of(codec, block);
    sink.put(&cid, block)?;
    Ok(Entry {
        cid,
        tsize: block.len() as u64 + children_tsize,
        size,
    })
}

/// [`emit`] for a block the caller gives away.
fn emit_owned<S: BlockSink>(
    sink: &mut S,
    codec: u64,
    block: Vec<u8>,
    size: u64,
) -> Result<Entry, S::Error> {
    let cid = cid_of(codec, &block);
    let tsize = block.len() as u64;
    sink.put_owned(&cid, block)?;
    Ok(Entry { cid, tsize, size })
}

/// A symlink node (always dag-pb).
pub fn symlink<S: BlockSink>(target: &[u8], sink: &mut S) -> Result<Entry, S::Error> {
    let data = node::UnixFsData {
        data: Some(target),
        ..node::UnixFsData::of_type(node::DataType::Symlink)
    };
    emit(
        sink,
        DAG_PB,
        &node::encode_node(&[], Some(&data.encode())),
        0,
        0,
    )
}

/// A whole file from memory.
pub fn file<S: BlockSink>(
    contents: &[u8],
    executable: bool,
    sink: &mut S,
) -> Result<Entry, S::Error> {
    let mut f = FileBuilder::new(executable);
    f.write(contents, sink)?;
    f.finish(sink)
}

#[cfg(test)]
mod tests;
