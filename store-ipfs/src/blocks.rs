//! The block store: one read-only file per block at `<state>/blocks/<cid>`.
//!
//! A block is written to an unnamed file (`O_TMPFILE` in `blocks/`) and
//! linked under its name once whole, so no reader ever sees half a block and
//! a writer killed mid-block leaves nothing behind. Where the file system has
//! no `O_TMPFILE`, or to replace a block file already there (a copy the
//! catalogue does not vouch for), the block goes to `blocks/.tmp/` and is
//! renamed into place. Two writers of the same block both succeed (the
//! contents are identical by construction). Block files are not fsynced one
//! by one: a writer calls [`BlockStore::sync`] (one `syncfs`) before the
//! catalogue records that anything depends on its blocks. A block that is
//! not recorded there is never trusted to exist — it is written again — so
//! a crash can leave orphans (removed by GC) but never a registered path
//! with a torn block. Reads verify the block against its CID.

use std::fs;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

use cid::Cid;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::timing::{Step, timed};
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
        SHA2_256 => {
            let digest = timed(Step::HashVerify, || Sha256::digest(data));
            digest.as_slice() == mh.digest()
        }
        IDENTITY => data == mh.digest(),
        code => return Err(BlockError::UnsupportedHash { cid: *cid, code }),
    };
    if ok {
        Ok(())
    } else {
        Err(BlockError::Corrupt { cid: *cid })
    }
}

/// Links the unnamed file `f` as `dir`/`name`. Linking by descriptor needs
/// CAP_DAC_READ_SEARCH; through `/proc` it does not.
fn link_file(f: &fs::File, dir: BorrowedFd<'_>, name: &Path) -> rustix::io::Result<()> {
    match rustix::fs::linkat(f, "", dir, name, AtFlags::EMPTY_PATH) {
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::PERM) => rustix::fs::linkat(
            rustix::fs::CWD,
            format!("/proc/self/fd/{}", f.as_raw_fd()),
            dir,
            name,
            AtFlags::SYMLINK_FOLLOW,
        ),
        r => r,
    }
}

/// A block's bytes in an unnamed file of the block store, not yet linked
/// under a name ([`BlockStore::stage_from`]).
#[derive(Debug)]
pub struct Staged {
    file: fs::File,
    len: usize,
}

impl Staged {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The CID of the staged bytes as a raw leaf, hashed from the staged
    /// file itself: the bytes named are the bytes stored, whatever happens
    /// to the file they were copied from.
    pub fn raw_cid(&self) -> io::Result<Cid> {
        if self.len == 0 {
            return Ok(crate::unixfs::cid_of(crate::unixfs::RAW, &[]));
        }
        // SAFETY: the mapping is of our own unnamed file, which no other
        // process can open (it has no name yet) and which this process
        // does not write while the mapping lives; it is read, then dropped.
        #[allow(unsafe_code)]
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len(self.len)
                .populate()
                .map(&self.file)?
        };
        Ok(crate::unixfs::cid_of(crate::unixfs::RAW, &map))
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// States of [`BlockStore::unnamed`].
const UNKNOWN: u8 = 0;
const UNNAMED_OK: u8 = 1;
const NAMED_ONLY: u8 = 2;

/// A directory of block files.
#[derive(Debug, Clone)]
pub struct BlockStore {
    dir: PathBuf,
    tmp: PathBuf,
    /// `dir`, open: blocks are created and linked relative to it.
    fd: Arc<OwnedFd>,
    /// Whether unnamed block files can be made and linked here:
    /// [`UNKNOWN`] until the first write finds out.
    unnamed: Arc<AtomicU8>,
}

impl BlockStore {
    /// Opens (creating if needed) `<state>/blocks`.
    pub fn open(state: &Path) -> io::Result<Self> {
        let dir = state.join("blocks");
        let tmp = dir.join(".tmp");
        fs::create_dir_all(&tmp)?;
        let fd = rustix::fs::open(
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(BlockStore {
            dir,
            tmp,
            fd: Arc::new(fd),
            unnamed: Arc::new(AtomicU8::new(UNKNOWN)),
        })
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
        timed(Step::BlockWrite, || self.put_file(cid, data))
    }

    fn put_file(&self, cid: &Cid, data: &[u8]) -> io::Result<()> {
        let name = cid.to_string();
        if let Some(mut f) = self.open_unnamed()? {
            f.write_all(data)?;
            return self.link_unnamed(&f, &name);
        }
        let tmp = self.tmp_name(&name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&tmp)?;
        let r = f
            .write_all(data)
            .and_then(|()| fs::rename(&tmp, self.dir.join(&name)));
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// Copies up to `max` bytes of `src` from `offset` into an unnamed block
    /// file, in the kernel (one copy, no trip through user memory). `None`
    /// where this file system cannot (no `O_TMPFILE`, or no
    /// `copy_file_range` from `src`'s): the caller reads and [`put`]s.
    ///
    /// [`put`]: BlockStore::put
    pub fn stage_from(
        &self,
        src: &fs::File,
        offset: u64,
        max: usize,
    ) -> io::Result<Option<Staged>> {
        use rustix::io::Errno;
        let Some(file) = self.open_unnamed()? else {
            return Ok(None);
        };
        let (mut from, mut len) = (offset, 0);
        while len < max {
            match rustix::fs::copy_file_range(src, Some(&mut from), &file, None, max - len) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(Errno::XDEV | Errno::INVAL | Errno::OPNOTSUPP | Errno::NOSYS) if len == 0 => {
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(Staged { file, len }))
    }

    /// An unnamed file in the block directory, open for reading and
    /// writing; `None` where unnamed files cannot be made or linked (no
    /// `O_TMPFILE`, or neither CAP_DAC_READ_SEARCH nor `/proc` to link
    /// one): blocks then go through a named temporary. The first call
    /// finds out, with a probe file linked and removed again.
    fn open_unnamed(&self) -> io::Result<Option<fs::File>> {
        use rustix::io::Errno;
        let state = self.unnamed.load(Ordering::Relaxed);
        if state == NAMED_ONLY {
            return Ok(None);
        }
        let open = || {
            rustix::fs::openat(
                &*self.fd,
                ".",
                OFlags::RDWR | OFlags::TMPFILE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o444),
            )
        };
        let file = match open() {
            Ok(fd) => fs::File::from(fd),
            // No O_TMPFILE here (old kernels say EISDIR).
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
                self.unnamed.store(NAMED_ONLY, Ordering::Relaxed);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if state == UNKNOWN {
            let probe = fs::File::from(open()?);
            let name = self.tmp_name("probe");
            let ok = link_file(&probe, rustix::fs::CWD, &name).is_ok();
            if ok {
                fs::remove_file(&name)?;
            }
            let now = if ok { UNNAMED_OK } else { NAMED_ONLY };
            self.unnamed.store(now, Ordering::Relaxed);
            if !ok {
                return Ok(None);
            }
        }
        Ok(Some(file))
    }

    /// Gives a staged block its name.
    pub fn link_staged(&self, staged: Staged, cid: &Cid) -> io::Result<()> {
        self.link_unnamed(&staged.file, &cid.to_string())
    }

    fn tmp_name(&self, name: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{}.{name}.{n}", std::process::id()))
    }

    /// Gives the whole, unnamed block file `f` its name. A file already
    /// there is replaced (through a named temporary and a rename): the
    /// caller writes a block only when the catalogue does not vouch for it,
    /// so the file there may be a damaged copy.
    fn link_unnamed(&self, f: &fs::File, name: &str) -> io::Result<()> {
        match link_file(f, self.fd.as_fd(), Path::new(name)) {
            Err(rustix::io::Errno::EXIST) => {
                let tmp = self.tmp_name(name);
                link_file(f, rustix::fs::CWD, &tmp)?;
                let r = fs::rename(&tmp, self.dir.join(name));
                if r.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                r
            }
            r => Ok(r?),
        }
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
        let err = |source: io::Error| match source.kind() {
            io::ErrorKind::NotFound => BlockError::Missing { cid: *cid },
            _ => BlockError::Io { cid: *cid, source },
        };
        // One open and an fstat: no lookups of the path but the one.
        let mut f = fs::File::open(self.path_of(cid)).map_err(err)?;
        let size = f.metadata().map_err(err)?.len();
        if size > MAX_BLOCK_SIZE {
            return Err(BlockError::TooLarge { cid: *cid, size });
        }
        let mut data = Vec::with_capacity(size as usize);
        io::Read::read_to_end(&mut f, &mut data).map_err(err)?;
        Ok(data)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u8) -> (Cid, Vec<u8>) {
        let data = vec![n; 1000 + n as usize];
        (crate::unixfs::cid_of(crate::unixfs::RAW, &data), data)
    }

    /// Both ways of writing a block: unnamed and linked, or through a
    /// named temporary (no `O_TMPFILE`); each replaces a damaged copy and
    /// leaves no temporary behind.
    #[test]
    fn put_writes_whole_read_only_blocks_both_ways() {
        for forced in [None, Some(NAMED_ONLY)] {
            let t = tempfile::tempdir().expect("tempdir");
            let bs = BlockStore::open(t.path()).expect("open");
            if let Some(f) = forced {
                bs.unnamed.store(f, Ordering::Relaxed);
            }
            let (cid, data) = block(7);
            bs.put(&cid, &data).expect("put");
            assert_eq!(bs.get(&cid).expect("get"), data);
            let p = bs.path_of(&cid);
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&p).expect("stat").permissions().mode() & 0o777,
                0o444
            );
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
            fs::write(&p, b"damaged").expect("damage");
            bs.put(&cid, &data).expect("put again");
            assert_eq!(bs.get(&cid).expect("replaced"), data);
            assert_eq!(fs::read_dir(&bs.tmp).expect("ls").count(), 0);
            let expect = forced.unwrap_or(UNNAMED_OK);
            assert_eq!(bs.unnamed.load(Ordering::Relaxed), expect);
        }
    }
}
