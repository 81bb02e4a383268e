//! The FUSE view's memory: one inode per CID (content never changes, so a
//! CID fully determines a node), directory listings, and for each file the
//! list of byte ranges of block files that make it up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use cid::Cid;

use crate::blocks::BlockStore;
use crate::dag::{DagError, DagReader, Kind};
use crate::unixfs::RAW;
use crate::unixfs::node::{DataType, UnixFsData, decode_node};

/// Inode of the root directory.
pub const ROOT: u64 = 1;

/// A node as the file system shows it.
#[derive(Debug, Clone)]
pub struct Node {
    pub cid: Cid,
    pub kind: Kind,
}

/// A directory listing: (name, inode), sorted by name bytes.
pub type Listing = Arc<Vec<(Vec<u8>, u64)>>;

/// A range of a file that lives at `block_off` in block `cid`.
#[derive(Debug, Clone, Copy)]
pub struct Piece {
    pub file_off: u64,
    pub len: u64,
    pub cid: Cid,
    pub block_off: u64,
}

#[derive(Debug, Default)]
struct Inodes {
    by_cid: HashMap<Cid, u64>,
    nodes: Vec<Node>,
}

/// All state shared by the FUSE worker threads.
#[derive(Debug)]
pub struct Table {
    pub blocks: BlockStore,
    inodes: RwLock<Inodes>,
    dirs: Mutex<HashMap<u64, Listing>>,
    layouts: Mutex<HashMap<u64, Arc<Vec<Piece>>>>,
    verified: Mutex<HashSet<Cid>>,
}

impl Table {
    pub fn new(blocks: BlockStore) -> Self {
        Table {
            blocks,
            inodes: RwLock::default(),
            dirs: Mutex::default(),
            layouts: Mutex::default(),
            verified: Mutex::default(),
        }
    }

    fn reader(&self) -> DagReader<'_> {
        DagReader::new(&self.blocks)
    }

    /// The inode of `cid`, reading its root block the first time.
    pub fn inode_of(&self, cid: &Cid) -> Result<u64, DagError> {
        if let Some(&ino) = self.inodes.read().expect("inode lock").by_cid.get(cid) {
            return Ok(ino);
        }
        let kind = self.reader().kind(cid)?;
        self.mark_verified(cid);
        let mut t = self.inodes.write().expect("inode lock");
        if let Some(&ino) = t.by_cid.get(cid) {
            return Ok(ino);
        }
        t.nodes.push(Node { cid: *cid, kind });
        let ino = t.nodes.len() as u64 + ROOT;
        t.by_cid.insert(*cid, ino);
        Ok(ino)
    }

    pub fn node(&self, ino: u64) -> Option<Node> {
        let idx = ino.checked_sub(ROOT + 1)?;
        self.inodes
            .read()
            .expect("inode lock")
            .nodes
            .get(idx as usize)
            .cloned()
    }

    fn mark_verified(&self, cid: &Cid) {
        self.verified.lock().expect("verified lock").insert(*cid);
    }

    /// Verifies a block once per mount (reading it whole); hands over the
    /// bytes when it had to read them (`None`: verified before), so that a
    /// read that needs them does not read the block again.
    pub fn verified_bytes(&self, cid: &Cid) -> Result<Option<Vec<u8>>, DagError> {
        if self.verified.lock().expect("verified lock").contains(cid) {
            return Ok(None);
        }
        let block = self.blocks.get(cid)?;
        self.mark_verified(cid);
        Ok(Some(block))
    }

    /// [`Table::verified_bytes`] for a caller that needs no bytes.
    pub fn ensure_verified(&self, cid: &Cid) -> Result<(), DagError> {
        self.verified_bytes(cid).map(drop)
    }

    /// A directory's entries with their inodes, sorted by name.
    pub fn dir(&self, ino: u64, cid: &Cid) -> Result<Listing, DagError> {
        if let Some(d) = self.dirs.lock().expect("dir lock").get(&ino) {
            return Ok(d.clone());
        }
        let mut out = Vec::new();
        for (name, child) in self.reader().entries(cid)? {
            out.push((name, self.inode_of(&child)?));
        }
        let out = Arc::new(out);
        self.dirs.lock().expect("dir lock").insert(ino, out.clone());
        Ok(out)
    }

    /// Where a file's bytes live.
    pub fn layout(&self, ino: u64, cid: &Cid) -> Result<Arc<Vec<Piece>>, DagError> {
        if let Some(l) = self.layouts.lock().expect("layout lock").get(&ino) {
            return Ok(l.clone());
        }
        let mut pieces = Vec::new();
        self.walk(cid, 0, &mut pieces, 0)?;
        let pieces = Arc::new(pieces);
        self.layouts
            .lock()
            .expect("layout lock")
            .insert(ino, pieces.clone());
        Ok(pieces)
    }

    fn walk(
        &self,
        cid: &Cid,
        file_off: u64,
        out: &mut Vec<Piece>,
        depth: usize,
    ) -> Result<u64, DagError> {
        if depth > 8 {
            return Err(DagError::Invalid {
                cid: *cid,
                why: "file DAG too deep",
            });
        }
        let block = self.blocks.get(cid)?;
        self.mark_verified(cid);
        if cid.codec() == RAW {
            if !block.is_empty() {
                out.push(Piece {
                    file_off,
                    len: block.len() as u64,
                    cid: *cid,
                    block_off: 0,
                });
            }
            return Ok(block.len() as u64);
        }
        let node = decode_node(&block).map_err(|source| DagError::Decode { cid: *cid, source })?;
        let data = node.data.ok_or(DagError::Invalid {
            cid: *cid,
            why: "no UnixFS data",
        })?;
        let fs =
            UnixFsData::decode(data).map_err(|source| DagError::Decode { cid: *cid, source })?;
        if !matches!(fs.ty, Some(DataType::File | DataType::Raw)) {
            return Err(DagError::Invalid {
                cid: *cid,
                why: "not a file",
            });
        }
        let mut pos = file_off;
        if let Some(inline) = fs.data.filter(|d| !d.is_empty()) {
            let block_off = inline.as_ptr() as usize - block.as_ptr() as usize;
            out.push(Piece {
                file_off: pos,
                len: inline.len() as u64,
                cid: *cid,
                block_off: block_off as u64,
            });
            pos += inline.len() as u64;
        }
        if node.links.len() != fs.blocksizes.len() {
            return Err(DagError::Invalid {
                cid: *cid,
                why: "number of links and blocksizes differ",
            });
        }
        for (link, &size) in node.links.iter().zip(&fs.blocksizes) {
            let got = self.walk(&link.cid, pos, out, depth + 1)?;
            if got != size {
                return Err(DagError::Invalid {
                    cid: link.cid,
                    why: "child size differs from its parent's blocksizes",
                });
            }
            pos += size;
        }
        Ok(pos - file_off)
    }
}
