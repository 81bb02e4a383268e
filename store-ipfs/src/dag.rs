//! Reading UnixFS DAGs back out of the block store: node kinds, file bytes
//! (whole or by range), directory entries (flattening HAMT shards, sorted
//! by name bytes as NAR needs), and path lookup.
//!
//! DAGs may come from peers, so every block is verified against its CID and
//! every structural claim (sizes, depth, names) is checked.

use std::io::Write;

use cid::Cid;
use thiserror::Error;

use crate::blocks::{BlockError, BlockStore};
use crate::unixfs::node::{DataType, UnixFsData, decode_node};
use crate::unixfs::pb::PbError;
use crate::unixfs::{DAG_PB, HAMT_FANOUT, RAW};

/// Deepest file tree accepted (1024-wide: depth 6 is past 2^60 bytes).
const MAX_FILE_DEPTH: usize = 8;
/// Deepest HAMT (one level per hash byte).
const MAX_HAMT_DEPTH: usize = 8;

/// Errors reading a DAG.
#[derive(Debug, Error)]
pub enum DagError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("block {cid} is not a valid dag-pb node")]
    Decode {
        cid: Cid,
        #[source]
        source: PbError,
    },
    #[error("block {cid} uses codec {codec:#x}, not dag-pb or raw")]
    Codec { cid: Cid, codec: u64 },
    #[error("block {cid}: {why}")]
    Invalid { cid: Cid, why: &'static str },
    #[error("'{name}' not found in directory {dir}")]
    NotFound { dir: Cid, name: String },
    #[error("writing file contents")]
    Write(#[source] std::io::Error),
}

fn invalid(cid: &Cid, why: &'static str) -> DagError {
    DagError::Invalid { cid: *cid, why }
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File { size: u64, executable: bool },
    Directory,
    Symlink { target: Vec<u8> },
}

/// Reads DAGs from a block store.
#[derive(Debug, Clone, Copy)]
pub struct DagReader<'a> {
    blocks: &'a BlockStore,
    /// Check each block against its CID (always, but for
    /// [`DagReader::unverified`]).
    verify: bool,
    /// Raw leaves read and checked ahead by another thread, in the order
    /// a whole-DAG walk asks for them ([`DagReader::read_ahead`]).
    ahead: Option<&'a std::sync::Mutex<Option<Ahead>>>,
}

/// The receiving end of [`DagReader::read_ahead`].
type Ahead = std::sync::mpsc::Receiver<(Cid, Result<Vec<u8>, DagError>)>;

/// Raw leaves read ahead at most (each up to a chunk, 1 MiB).
const READ_AHEAD: usize = 8;

impl<'a> DagReader<'a> {
    pub fn new(blocks: &'a BlockStore) -> Self {
        DagReader {
            blocks,
            verify: true,
            ahead: None,
        }
    }

    /// A reader that takes blocks as they are on disk, corrupt or not.
    /// Only for reporting what damaged content hashes to (`nix-store
    /// --verify` prints the hash it found); never for serving content.
    pub fn unverified(blocks: &'a BlockStore) -> Self {
        DagReader {
            blocks,
            verify: false,
            ahead: None,
        }
    }

    /// Runs `f` with a reader whose raw leaves another thread reads and
    /// checks ahead of it, in the order a whole walk of `root` takes them
    /// (directories in name order, files front to back), so that reading
    /// and hashing the blocks overlaps with what `f` does with them. A
    /// request out of that order is served directly (and ends the read
    /// ahead); nothing is ever served unchecked.
    pub fn read_ahead<T>(&self, root: &Cid, f: impl FnOnce(&DagReader<'_>) -> T) -> T {
        if !self.verify {
            return f(self);
        }
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
            let blocks = self.blocks;
            scope.spawn(move || {
                let _ = DagReader::new(blocks).leaves_in_order(root, &tx, 0);
            });
            // The receiver goes before the scope waits for the reading
            // thread, which then stops at its next send.
            let rx = std::sync::Mutex::new(Some(rx));
            let reader = DagReader {
                blocks,
                verify: true,
                ahead: Some(&rx),
            };
            f(&reader)
        })
    }

    /// Sends the raw leaves under `cid` in walk order; stops at the first
    /// node it cannot read (the walk itself then meets the same error) or
    /// when nobody listens any more.
    fn leaves_in_order(
        &self,
        cid: &Cid,
        tx: &std::sync::mpsc::SyncSender<(Cid, Result<Vec<u8>, DagError>)>,
        depth: usize,
    ) -> Result<(), ()> {
        if depth > MAX_FILE_DEPTH + MAX_HAMT_DEPTH + 256 {
            return Err(());
        }
        if cid.codec() == RAW {
            return tx.send((*cid, self.load(cid))).map_err(drop);
        }
        // A node is read once here: its kind and, for a file, its links.
        let block = self.load(cid).map_err(drop)?;
        match kind_of(cid, &block).map_err(drop)? {
            Kind::Symlink { .. } => Ok(()),
            Kind::Directory => {
                for (_, child) in self.entries(cid).map_err(drop)? {
                    self.leaves_in_order(&child, tx, depth + 1)?;
                }
                Ok(())
            }
            Kind::File { .. } => self.file_leaves(&block, tx, 0),
        }
    }

    /// The raw leaves under a file node (`block`), front to back.
    fn file_leaves(
        &self,
        block: &[u8],
        tx: &std::sync::mpsc::SyncSender<(Cid, Result<Vec<u8>, DagError>)>,
        depth: usize,
    ) -> Result<(), ()> {
        if depth > MAX_FILE_DEPTH {
            return Err(());
        }
        for link in decode_node(block).map_err(drop)?.links {
            if link.cid.codec() == RAW {
                tx.send((link.cid, self.load(&link.cid))).map_err(drop)?;
            } else {
                let child = self.load(&link.cid).map_err(drop)?;
                self.file_leaves(&child, tx, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The next leaf read ahead, if it is `cid`.
    fn take_ahead(&self, cid: &Cid) -> Option<Result<Vec<u8>, DagError>> {
        let mut ahead = self.ahead?.lock().expect("read-ahead lock");
        match ahead.as_ref()?.recv() {
            Ok((c, r)) if c == *cid => Some(r),
            _ => {
                *ahead = None;
                None
            }
        }
    }

    fn load(&self, cid: &Cid) -> Result<Vec<u8>, DagError> {
        if cid.codec() == RAW
            && let Some(r) = self.take_ahead(cid)
        {
            return r;
        }
        match cid.codec() {
            RAW | DAG_PB if self.verify => Ok(self.blocks.get(cid)?),
            RAW | DAG_PB => Ok(self.blocks.get_unverified(cid)?),
            codec => Err(DagError::Codec { cid: *cid, codec }),
        }
    }

    /// The bytes of a raw leaf (a whole small file), checked like any block.
    pub fn raw_leaf(&self, cid: &Cid) -> Result<Vec<u8>, DagError> {
        match cid.codec() {
            RAW => self.load(cid),
            codec => Err(DagError::Codec { cid: *cid, codec }),
        }
    }

    /// The kind of the node at `cid`.
    pub fn kind(&self, cid: &Cid) -> Result<Kind, DagError> {
        if cid.codec() == RAW {
            // A raw leaf's size is its block's: no need to read (and hash)
            // the content, which is verified when it is read. So a corrupt
            // file does not make its directory unlistable, and listing a
            // directory of large files does not read them.
            return Ok(Kind::File {
                size: self.blocks.size(cid)?,
                executable: false,
            });
        }
        kind_of(cid, &self.load(cid)?)
    }

    /// Streams a file's bytes into `out`; returns how many were written.
    pub fn write_file(&self, cid: &Cid, out: &mut dyn Write) -> Result<u64, DagError> {
        self.read_range(
            cid,
            0,
            u64::MAX,
            &mut |b| out.write_all(b).map_err(DagError::Write),
            0,
        )
    }

    /// Reads up to `len` bytes of a file from `offset`.
    pub fn read_at(&self, cid: &Cid, offset: u64, len: usize) -> Result<Vec<u8>, DagError> {
        let mut v = Vec::with_capacity(len.min(1 << 20));
        self.read_range(
            cid,
            offset,
            len as u64,
            &mut |b| {
                v.extend_from_slice(b);
                Ok(())
            },
            0,
        )?;
        Ok(v)
    }

    fn read_range(
        &self,
        cid: &Cid,
        offset: u64,
        len: u64,
        out: &mut dyn FnMut(&[u8]) -> Result<(), DagError>,
        depth: usize,
    ) -> Result<u64, DagError> {
        if depth > MAX_FILE_DEPTH {
            return Err(invalid(cid, "file DAG too deep"));
        }
        let block = self.load(cid)?;
        let emit_slice = |data: &[u8],
                          out: &mut dyn FnMut(&[u8]) -> Result<(), DagError>|
         -> Result<u64, DagError> {
            let start = offset.min(data.len() as u64) as usize;
            let end = offset.saturating_add(len).min(data.len() as u64) as usize;
            out(&data[start..end])?;
            Ok((end - start) as u64)
        };
        if cid.codec() == RAW {
            return emit_slice(&block, out);
        }
        let node = decode_node(&block).map_err(|source| DagError::Decode { cid: *cid, source })?;
        let data = node
            .data
            .ok_or_else(|| invalid(cid, "dag-pb node without UnixFS data"))?;
        let fs =
            UnixFsData::decode(data).map_err(|source| DagError::Decode { cid: *cid, source })?;
        if !matches!(fs.ty, Some(DataType::File | DataType::Raw)) {
            return Err(invalid(cid, "not a file"));
        }
        let inline = fs.data.unwrap_or_default();
        let mut written = emit_slice(inline, out)?;
        if node.links.len() != fs.blocksizes.len() {
            return Err(invalid(cid, "number of links and blocksizes differ"));
        }
        let mut pos = inline.len() as u64;
        let end = offset.saturating_add(len);
        for (link, &size) in node.links.iter().zip(&fs.blocksizes) {
            let child_end = pos
                .checked_add(size)
                .ok_or_else(|| invalid(cid, "file size overflows"))?;
            if child_end > offset && pos < end {
                let child_off = offset.saturating_sub(pos);
                let child_len = end.min(child_end) - (pos + child_off);
                let got = self.read_range(&link.cid, child_off, child_len, out, depth + 1)?;
                if got != child_len {
                    return Err(invalid(
                        &link.cid,
                        "child holds fewer bytes than its parent claims",
                    ));
                }
                written += got;
            }
            pos = child_end;
            if pos >= end {
                break;
            }
        }
        Ok(written)
    }

    /// A directory's entries, sorted by name bytes (HAMT shards flattened).
    pub fn entries(&self, cid: &Cid) -> Result<Vec<(Vec<u8>, Cid)>, DagError> {
        let mut out = Vec::new();
        self.collect_entries(cid, &mut out, 0, true)?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if out.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(invalid(cid, "duplicate directory entry"));
        }
        Ok(out)
    }

    fn collect_entries(
        &self,
        cid: &Cid,
        out: &mut Vec<(Vec<u8>, Cid)>,
        depth: usize,
        top: bool,
    ) -> Result<(), DagError> {
        if depth > MAX_HAMT_DEPTH {
            return Err(invalid(cid, "HAMT too deep"));
        }
        if cid.codec() != DAG_PB {
            return Err(invalid(cid, "not a directory"));
        }
        let block = self.load(cid)?;
        let node = decode_node(&block).map_err(|source| DagError::Decode { cid: *cid, source })?;
        let data = node
            .data
            .ok_or_else(|| invalid(cid, "dag-pb node without UnixFS data"))?;
        let fs =
            UnixFsData::decode(data).map_err(|source| DagError::Decode { cid: *cid, source })?;
        match fs.ty {
            Some(DataType::Directory) if top => {
                out.extend(node.links.into_iter().map(|l| (l.name, l.cid)));
                Ok(())
            }
            Some(DataType::HamtShard) => {
                if fs.fanout != Some(HAMT_FANOUT) {
                    return Err(invalid(cid, "unsupported HAMT fanout"));
                }
                for l in node.links {
                    if l.name.len() < 2 {
                        return Err(invalid(cid, "HAMT link name too short"));
                    }
                    if l.name.len() == 2 {
                        self.collect_entries(&l.cid, out, depth + 1, false)?;
                    } else {
                        out.push((l.name[2..].to_vec(), l.cid));
                    }
                }
                Ok(())
            }
            _ => Err(invalid(cid, "not a directory")),
        }
    }

    /// Finds `name` in a directory.
    pub fn lookup(&self, dir: &Cid, name: &[u8]) -> Result<Option<Cid>, DagError> {
        let entries = self.entries(dir)?;
        Ok(entries
            .binary_search_by(|(n, _)| n.as_slice().cmp(name))
            .ok()
            .map(|i| entries[i].1))
    }

    /// Writes the DAG at `cid` out as a file system tree at `dest` (which
    /// must not exist): files 0644 or 0755, symlinks, directories.
    pub fn restore(&self, cid: &Cid, dest: &std::path::Path) -> Result<(), DagError> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e| DagError::Write(e);
        match self.kind(cid)? {
            Kind::File { executable, .. } => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if executable { 0o755 } else { 0o644 })
                    .open(dest)
                    .map_err(io)?;
                self.write_file(cid, &mut f)?;
            }
            Kind::Symlink { target } => {
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), dest)
                    .map_err(io)?;
            }
            Kind::Directory => {
                std::fs::create_dir(dest).map_err(io)?;
                for (name, child) in self.entries(cid)? {
                    if name.is_empty()
                        || name == b"."
                        || name == b".."
                        || name.contains(&b'/')
                        || name.contains(&0)
                    {
                        return Err(invalid(
                            cid,
                            "directory entry name is not a valid file name",
                        ));
                    }
                    self.restore(&child, &dest.join(std::ffi::OsStr::from_bytes(&name)))?;
                }
            }
        }
        Ok(())
    }

    /// Reads every block of the DAG at `cid` (verifying each against its
    /// CID and the structure above it); returns the number of nodes seen.
    pub fn check(&self, cid: &Cid) -> Result<u64, DagError> {
        let mut stack = vec![*cid];
        let mut seen = std::collections::HashSet::new();
        while let Some(c) = stack.pop() {
            if !seen.insert(c) {
                continue;
            }
            match self.kind(&c)? {
                Kind::Directory => {
                    stack.extend(self.entries(&c)?.into_iter().map(|(_, child)| child))
                }
                Kind::File { .. } => {
                    self.write_file(&c, &mut std::io::sink())?;
                }
                Kind::Symlink { .. } => {}
            }
        }
        Ok(seen.len() as u64)
    }

    /// Resolves `a/b/c` below `root` (no symlinks followed).
    pub fn resolve(&self, root: &Cid, sub: &[u8]) -> Result<Cid, DagError> {
        let mut cur = *root;
        for part in sub.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            cur = self.lookup(&cur, part)?.ok_or_else(|| DagError::NotFound {
                dir: cur,
                name: String::from_utf8_lossy(part).into_owned(),
            })?;
        }
        Ok(cur)
    }
}

/// The kind of `block`, the (verified) block that `cid` names, from that
/// block alone: what a node claims about itself is checked as far as it
/// can be without its children.
pub fn kind_of(cid: &Cid, block: &[u8]) -> Result<Kind, DagError> {
    match cid.codec() {
        RAW => {
            return Ok(Kind::File {
                size: block.len() as u64,
                executable: false,
            });
        }
        DAG_PB => {}
        codec => return Err(DagError::Codec { cid: *cid, codec }),
    }
    let node = decode_node(block).map_err(|source| DagError::Decode { cid: *cid, source })?;
    let data = node
        .data
        .ok_or_else(|| invalid(cid, "dag-pb node without UnixFS data"))?;
    let fs = UnixFsData::decode(data).map_err(|source| DagError::Decode { cid: *cid, source })?;
    match fs.ty {
        Some(DataType::File | DataType::Raw) => Ok(Kind::File {
            size: file_size(cid, &fs, node.links.len())?,
            executable: fs.mode.is_some_and(|m| m & 0o100 != 0),
        }),
        Some(DataType::Directory | DataType::HamtShard) => Ok(Kind::Directory),
        Some(DataType::Symlink) => Ok(Kind::Symlink {
            target: fs.data.unwrap_or_default().to_vec(),
        }),
        Some(DataType::Metadata) | None => Err(invalid(cid, "unsupported UnixFS node type")),
    }
}

fn file_size(cid: &Cid, fs: &UnixFsData<'_>, links: usize) -> Result<u64, DagError> {
    let inline = fs.data.map_or(0, |d| d.len() as u64);
    let total = fs
        .blocksizes
        .iter()
        .try_fold(inline, |a, &b| a.checked_add(b))
        .ok_or_else(|| invalid(cid, "file size overflows"))?;
    if links != fs.blocksizes.len() {
        return Err(invalid(cid, "number of links and blocksizes differ"));
    }
    match fs.filesize {
        Some(s) if s != total => Err(invalid(
            cid,
            "filesize disagrees with the data under the node",
        )),
        _ => Ok(total),
    }
}
