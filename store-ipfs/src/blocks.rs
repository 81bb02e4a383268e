//! The block store: one read-only file per block at `<state>/blocks/<cid>`.
//!
//! Writes go to `blocks/.tmp/` and are renamed into place, so no reader ever
//! sees half a block, and two writers of the same block both succeed (the
//! contents are identical by construction). Block files are not fsynced one
//! by one: a writer calls [`BlockStore::sync`] (one `syncfs`) before the
//! catalogue records that anything depends on its blocks. A block that is
//! not recorded there is never trusted to exist — it is written again — so
//! a crash can leave orphans (removed by GC) but never a registered path
//! with a torn block. Reads verify the block against its CID.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::unixfs::SHA2_256;

/// Multihash code of identity (inline) CIDs.
const IDENTITY: u64 = 0x00;
/// Largest block accepted (bitswap's limit).
pub const MAX_BLOCK_SIZE: u64 = 4 << 20;

/// Errors reading a block.
#[derive(Debug, Error)]
pub enum BlockError {
    #[error("block {cid} is not in the block store")]
    Missing { cid: Cid },
    #[error("block {cid} is corrupt: its content does not hash to its CID")]
    Corrupt { cid: Cid },
    #[error("block {cid} uses unsupported multihash code {code:#x}")]
    UnsupportedHash { cid: Cid, code: u64 },
    #[error("block {cid} is {size} bytes, over the {MAX_BLOCK_SIZE}-byte limit")]
    TooLarge { cid: Cid, size: u64 },
    #[error("reading block {cid}")]
    Io {
        cid: Cid,
        #[source]
        source: io::Error,
    },
}

/// Whether `data` is the block `cid` names.
pub fn verify(cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
    let mh = cid.hash();
    let ok = match mh.code() {
        SHA2_256 => Sha256::digest(data).as_slice() == mh.digest(),
        IDENTITY => data == mh.digest(),
        code => return Err(BlockError::UnsupportedHash { cid: *cid, code }),
    };
    if ok {
        Ok(())
    } else {
        Err(BlockError::Corrupt { cid: *cid })
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of block files.
#[derive(Debug, Clone)]
pub struct BlockStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlockStore {
    /// Opens (creating if needed) `<state>/blocks`.
    pub fn open(state: &Path) -> io::Result<Self> {
        let dir = state.join("blocks");
        let tmp = dir.join(".tmp");
        fs::create_dir_all(&tmp)?;
        Ok(BlockStore { dir, tmp })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, cid: &Cid) -> PathBuf {
        self.dir.join(cid.to_string())
    }

    pub fn has(&self, cid: &Cid) -> bool {
        cid.hash().code() == IDENTITY || self.path_of(cid).exists()
    }

    /// Writes a block (atomically, read-only). Identity CIDs hold their data
    /// and are not stored.
    pub fn put(&self, cid: &Cid, data: &[u8]) -> io::Result<()> {
        if cid.hash().code() == IDENTITY {
            return Ok(());
        }
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{}.{}.{n}", std::process::id(), cid));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&tmp)?;
        let r = f
            .write_all(data)
            .and_then(|()| fs::rename(&tmp, self.path_of(cid)));
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// The size of a block, from its file (the content is not read).
    pub fn size(&self, cid: &Cid) -> Result<u64, BlockError> {
        if cid.hash().code() == IDENTITY {
            return Ok(cid.hash().digest().len() as u64);
        }
        match fs::metadata(self.path_of(cid)) {
            Ok(m) if m.len() > MAX_BLOCK_SIZE => Err(BlockError::TooLarge {
                cid: *cid,
                size: m.len(),
            }),
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlockError::Missing { cid: *cid }),
            Err(source) => Err(BlockError::Io { cid: *cid, source }),
        }
    }

    /// Reads a block and checks it against its CID.
    pub fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        let data = self.get_unverified(cid)?;
        verify(cid, &data)?;
        Ok(data)
    }

    /// Reads a block as it is on disk, without checking it against its CID.
    pub fn get_unverified(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if cid.hash().code() == IDENTITY {
            return Ok(cid.hash().digest().to_vec());
        }
        let path = self.path_of(cid);
        match fs::metadata(&path) {
            Ok(m) if m.len() > MAX_BLOCK_SIZE => {
                return Err(BlockError::TooLarge {
                    cid: *cid,
                    size: m.len(),
                });
            }
            Ok(_) => fs::read(&path),
            Err(e) => Err(e),
        }
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => BlockError::Missing { cid: *cid },
            _ => BlockError::Io { cid: *cid, source },
        })
    }

    /// Makes every block written so far durable (one `syncfs` of the file
    /// system holding the store).
    pub fn sync(&self) -> io::Result<()> {
        let d = fs::File::open(&self.dir)?;
        rustix::fs::syncfs(&d)?;
        Ok(())
    }

    /// Makes the given blocks durable: fsyncs each block file (whichever
    /// writer's copy is there), then the directory holding their names.
    /// Identity CIDs have no file.
    pub fn sync_each(&self, cids: &[Cid]) -> io::Result<()> {
        for cid in cids {
            if cid.hash().code() == IDENTITY {
                continue;
            }
            fs::File::open(self.path_of(cid))?.sync_data()?;
        }
        fs::File::open(&self.dir)?.sync_all()
    }

    /// Removes a block file (GC).
    pub fn remove(&self, cid: &Cid) -> io::Result<()> {
        let p = self.path_of(cid);
        // Block files are read-only; the directory is what matters for unlink.
        match fs::remove_file(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// Every block file present (names that are not CIDs are skipped).
    pub fn list(&self) -> io::Result<Vec<Cid>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            if let Some(cid) = e.file_name().to_str().and_then(|s| s.parse::<Cid>().ok()) {
                out.push(cid);
            }
        }
        Ok(out)
    }

    /// Removes leftovers of writers that died mid-write.
    pub fn clean_tmp(&self) -> io::Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.tmp)? {
            let e = e?;
            let name = e.file_name();
            let pid = name
                .to_str()
                .and_then(|s| s.split('.').next())
                .and_then(|p| p.parse::<i32>().ok());
            if pid.is_none_or(|p| !crate::pins::pid_alive(p)) {
                fs::remove_file(e.path())?;
                n += 1;
            }
        }
        Ok(n)
    }
}
