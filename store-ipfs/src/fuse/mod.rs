//! Read-only FUSE views of the store.
//!
//! * [`View::Cids`]: `<mount>/<cid>/<path>` for any DAG whose blocks are
//!   present (the root lists pinned CIDs; any CID can be looked up).
//! * [`View::StoreDir`]: `<mount>/<hash>-<name>` for every valid store path
//!   and every leftover of a failed build, the Nix store directory clients
//!   read directly.
//!
//! Content never changes, so the kernel may cache everything: entries and
//! attributes get long timeouts, files are cached (`FOPEN_KEEP_CACHE`, or
//! no open round trip at all when passthrough is unavailable), and listings
//! stay in the kernel's cache — in the store view with no `opendir` round
//! trip at all, its root's listing dropped whenever paths come or go. A
//! file that is exactly one raw block is its block file, opened in FUSE
//! passthrough mode where the kernel allows it, so reads and `mmap` bypass
//! this process. Every block is verified against its CID once per mount
//! before any of its bytes are served; a corrupt block gives `EIO` and a log
//! line, never wrong bytes. Files show as 0444 (0555 if executable), owned
//! by root, with mtime 1, as Nix canonicalises them.

mod table;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cid::Cid;
use fuser::{
    BackingId, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, Request, SessionACL,
};
use nix_formats::store_path::StorePath;

use crate::blocks::{BlockError, BlockStore};
use crate::catalogue::Catalogue;
use crate::dag::{DagError, Kind};
use crate::pins::Pins;
use crate::unixfs::RAW;
use table::{Node, ROOT, Table};

/// Attribute and entry timeout for immutable content.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);
/// Timeout for the root's entries of the store view (paths come and go).
const ROOT_TTL: Duration = Duration::from_secs(1);

/// Which view to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Cids,
    StoreDir,
}

/// The file system.
#[derive(Debug)]
pub struct StoreFs {
    view: View,
    table: Table,
    catalogue: Option<Mutex<Catalogue>>,
    pins: Pins,
    passthrough: AtomicBool,
    backing: Mutex<HashMap<u64, (BackingId, u32)>>,
    /// The store view root's modification time, and the catalogue's data
    /// version it stands for: a new version (paths came or went) gets a
    /// later time (see [`StoreFs::root_attr`]).
    root_stamp: Mutex<(Option<i64>, SystemTime)>,
}

fn errno(e: &DagError) -> Errno {
    match e {
        DagError::Block(BlockError::Missing { .. }) | DagError::NotFound { .. } => Errno::ENOENT,
        other => {
            eprintln!("pkgchain-fuse: {}", error_chain(other));
            Errno::EIO
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn attr(ino: u64, kind: &Kind) -> FileAttr {
    let (size, ft, perm, nlink) = match kind {
        Kind::File { size, executable } => (
            *size,
            FileType::RegularFile,
            if *executable { 0o555 } else { 0o444 },
            1,
        ),
        Kind::Directory => (0, FileType::Directory, 0o555, 2),
        Kind::Symlink { target } => (target.len() as u64, FileType::Symlink, 0o777, 1),
    };
    let t = UNIX_EPOCH + Duration::from_secs(1);
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind: ft,
        perm,
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn file_type(kind: &Kind) -> FileType {
    match kind {
        Kind::File { .. } => FileType::RegularFile,
        Kind::Directory => FileType::Directory,
        Kind::Symlink { .. } => FileType::Symlink,
    }
}

impl StoreFs {
    /// A view over the store at `state`.
    pub fn new(state: &Path, view: View) -> Result<Self, crate::store::StoreError> {
        let blocks =
            BlockStore::open(state).map_err(crate::store::io_err("block directory", state))?;
        let catalogue = match view {
            View::StoreDir => Some(Mutex::new(Catalogue::open(state)?)),
            View::Cids => None,
        };
        Ok(StoreFs {
            view,
            table: Table::new(blocks),
            catalogue,
            pins: Pins::new(state),
            passthrough: AtomicBool::new(false),
            backing: Mutex::default(),
            root_stamp: Mutex::new((None, UNIX_EPOCH + Duration::from_secs(1))),
        })
    }

    /// The root's attributes. The store view's root is modified whenever
    /// the catalogue has changed since the last time they were asked for:
    /// the kernel keeps the root's listing until it sees a new time (or is
    /// told, [`crate::changes`]), at most [`ROOT_TTL`] after a change made
    /// by another process.
    fn root_attr(&self) -> FileAttr {
        let mut a = attr(ROOT, &Kind::Directory);
        if let Some(cat) = &self.catalogue {
            let version = cat.lock().expect("catalogue lock").data_version().ok();
            let mut stamp = self.root_stamp.lock().expect("root stamp lock");
            if version.is_none() || stamp.0 != version {
                let now = SystemTime::now();
                let later = stamp.1 + Duration::from_micros(1);
                *stamp = (version, now.max(later));
            }
            (a.mtime, a.ctime) = (stamp.1, stamp.1);
        }
        a
    }

    /// The root directory's child called `name`, if any.
    fn root_lookup(&self, name: &[u8]) -> Result<Option<u64>, DagError> {
        let Ok(name) = std::str::from_utf8(name) else {
            return Ok(None);
        };
        let cid = match self.view {
            View::Cids => match name.parse::<Cid>() {
                Ok(c) if self.table.blocks.has(&c) => c,
                _ => return Ok(None),
            },
            View::StoreDir => {
                let Ok(path) = StorePath::from_base_name(name) else {
                    return Ok(None);
                };
                let cat = self.catalogue.as_ref().expect("store view has a catalogue");
                let cat = cat.lock().expect("catalogue lock");
                match cat.shown_root(&path) {
                    Ok(Some(root)) => root,
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        eprintln!("pkgchain-fuse: catalogue: {}", error_chain(&e));
                        return Err(DagError::Invalid {
                            cid: Cid::default(),
                            why: "catalogue unavailable",
                        });
                    }
                }
            }
        };
        self.table.inode_of(&cid).map(Some)
    }

    fn root_entries(&self) -> Vec<(Vec<u8>, Cid)> {
        match self.view {
            View::Cids => self
                .pins
                .list()
                .map(|(live, _)| {
                    live.into_iter()
                        .map(|p| (p.cid.to_string().into_bytes(), p.cid))
                        .collect()
                })
                .unwrap_or_default(),
            View::StoreDir => {
                let cat = self.catalogue.as_ref().expect("store view has a catalogue");
                let cat = cat.lock().expect("catalogue lock");
                let mut all = cat.all_paths().unwrap_or_default();
                // A leftover is never at a valid path (registering removes it).
                all.extend(cat.leftovers().unwrap_or_default());
                all.into_iter()
                    .map(|(p, c)| (p.to_string().into_bytes(), c))
                    .collect()
            }
        }
    }

    fn node_or_err(&self, ino: u64) -> Result<Node, Errno> {
        self.table.node(ino).ok_or(Errno::ENOENT)
    }

    fn read_range(
        &self,
        ino: u64,
        node: &Node,
        offset: u64,
        size: u32,
    ) -> Result<Vec<u8>, DagError> {
        let layout = self.table.layout(ino, &node.cid)?;
        let end = offset.saturating_add(u64::from(size));
        let mut out = Vec::with_capacity(size as usize);
        let first = layout.partition_point(|p| p.file_off + p.len <= offset);
        for p in &layout[first..] {
            if p.file_off >= end {
                break;
            }
            let from = offset.max(p.file_off);
            let to = end.min(p.file_off + p.len);
            let at = p.block_off + (from - p.file_off);
            // A block read whole to be checked serves from those bytes;
            // one checked before is read where the request falls.
            if let Some(block) = self.table.verified_bytes(&p.cid)? {
                let piece = usize::try_from(at)
                    .ok()
                    .and_then(|a| block.get(a..a + (to - from) as usize))
                    .ok_or_else(|| {
                        DagError::Block(BlockError::Io {
                            cid: p.cid,
                            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                        })
                    })?;
                out.extend_from_slice(piece);
                continue;
            }
            let mut buf = vec![0u8; (to - from) as usize];
            let path = self.table.blocks.path_of(&p.cid);
            File::open(&path)
                .and_then(|f| f.read_exact_at(&mut buf, at))
                .map_err(|source| DagError::Block(BlockError::Io { cid: p.cid, source }))?;
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }

    /// A directory's entries, `.` and `..` first, with each child's kind
    /// (`None` if its node could not be read).
    fn listing(&self, ino: u64) -> Result<Vec<Listed>, Errno> {
        let mut entries: Vec<Listed> = vec![
            (ino, Some(Kind::Directory), b".".to_vec()),
            (ROOT, Some(Kind::Directory), b"..".to_vec()),
        ];
        if ino == ROOT {
            for (name, cid) in self.root_entries() {
                match self.table.inode_of(&cid) {
                    Ok(child) => {
                        let kind = self.table.node(child).map(|n| n.kind);
                        entries.push((child, kind, name));
                    }
                    Err(e) => eprintln!(
                        "pkgchain-fuse: {}: {}",
                        String::from_utf8_lossy(&name),
                        error_chain(&e)
                    ),
                }
            }
            return Ok(entries);
        }
        let node = self.node_or_err(ino)?;
        if node.kind != Kind::Directory {
            return Err(Errno::ENOTDIR);
        }
        let list = self.table.dir(ino, &node.cid).map_err(|e| errno(&e))?;
        for (name, child) in list.iter() {
            let kind = self.table.node(*child).map(|n| n.kind);
            entries.push((*child, kind, name.clone()));
        }
        Ok(entries)
    }
}

impl Filesystem for StoreFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_readahead(1 << 20);
        let _ = config
            .add_capabilities(InitFlags::FUSE_CACHE_SYMLINKS | InitFlags::FUSE_PARALLEL_DIROPS);
        // Listings always come with attributes (see `readdirplus`).
        let _ = config.add_capabilities(InitFlags::FUSE_DO_READDIRPLUS);
        if self.view == View::StoreDir {
            // A cached listing of the root is checked against the root's
            // modification time each time it is read from the start, with
            // the root's attributes asked for again once they time out.
            let _ = config.add_capabilities(InitFlags::FUSE_AUTO_INVAL_DATA);
        }
        self.passthrough.store(
            config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok(),
            Ordering::Relaxed,
        );
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.as_bytes();
        let found = if parent.0 == ROOT {
            self.root_lookup(name)
        } else {
            match self.node_or_err(parent.0) {
                Err(e) => return reply.error(e),
                Ok(n) if n.kind != Kind::Directory => return reply.error(Errno::ENOTDIR),
                Ok(n) => self.table.dir(parent.0, &n.cid).map(|entries| {
                    entries
                        .binary_search_by(|(n, _)| n.as_slice().cmp(name))
                        .ok()
                        .map(|i| entries[i].1)
                }),
            }
        };
        match found {
            Ok(Some(ino)) => {
                let node = self.table.node(ino).expect("inode just allocated");
                let ttl = if parent.0 == ROOT && self.view == View::StoreDir {
                    ROOT_TTL
                } else {
                    FOREVER
                };
                reply.entry(&ttl, &attr(ino, &node.kind), Generation(0));
            }
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino.0 == ROOT {
            return reply.attr(&ROOT_TTL, &self.root_attr());
        }
        match self.node_or_err(ino.0) {
            Ok(n) => reply.attr(&FOREVER, &attr(ino.0, &n.kind)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node_or_err(ino.0) {
            Ok(Node {
                kind: Kind::Symlink { target },
                ..
            }) => reply.data(&target),
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != fuser::OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let node = match self.node_or_err(ino.0) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let Kind::File { size, .. } = node.kind else {
            return reply.error(Errno::EISDIR);
        };
        if self.passthrough.load(Ordering::Relaxed) && node.cid.codec() == RAW && size > 0 {
            // One raw block: hand the kernel the block file itself.
            if let Err(e) = self.table.ensure_verified(&node.cid) {
                return reply.error(errno(&e));
            }
            let mut backing = self.backing.lock().expect("backing lock");
            if let Some((id, n)) = backing.get_mut(&ino.0) {
                *n += 1;
                return reply.opened_passthrough(
                    FileHandle(ino.0),
                    FopenFlags::FOPEN_KEEP_CACHE,
                    id,
                );
            }
            let opened = File::open(self.table.blocks.path_of(&node.cid))
                .and_then(|f| reply.open_backing(f));
            match opened {
                Ok(id) => {
                    let entry = backing.entry(ino.0).or_insert((id, 0));
                    entry.1 += 1;
                    return reply.opened_passthrough(
                        FileHandle(ino.0),
                        FopenFlags::FOPEN_KEEP_CACHE,
                        &entry.0,
                    );
                }
                Err(e) => {
                    eprintln!(
                        "pkgchain-fuse: passthrough unavailable ({e}); serving reads instead"
                    );
                    self.passthrough.store(false, Ordering::Relaxed);
                }
            }
        }
        // Without passthrough there is nothing to do per open: answering
        // ENOSYS makes the kernel stop sending opens for this mount and treat
        // every file as FOPEN_KEEP_CACHE, which saves a round trip per open.
        reply.error(Errno::ENOSYS);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.view == View::StoreDir {
            // No opendir round trips at all: answering ENOSYS makes the
            // kernel stop sending them for this mount and keep every
            // listing cached (`FOPEN_CACHE_DIR`), which a tree walk (the
            // Nix client's `--export` reads the store directory itself)
            // would otherwise pay once per directory. Below the root
            // nothing changes; the root's cached listing is dropped when
            // paths come or go (`root_attr`, `crate::changes`).
            return reply.error(Errno::ENOSYS);
        }
        // Directories below the root never change: let the kernel keep their
        // listings in its cache. The CID view's root (the pins) is listed
        // afresh each time.
        let flags = if ino.0 == ROOT {
            FopenFlags::empty()
        } else {
            FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE
        };
        reply.opened(FileHandle(0), flags);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let node = match self.node_or_err(ino.0) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.read_range(ino.0, &node, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if fh.0 != 0 {
            let mut backing = self.backing.lock().expect("backing lock");
            if let Some((_, n)) = backing.get_mut(&ino.0) {
                *n -= 1;
                if *n == 0 {
                    backing.remove(&ino.0);
                }
            }
        }
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.listing(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(e),
        };
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            let ft = kind.as_ref().map_or(FileType::Directory, file_type);
            if reply.add(INodeNo(child), (i + 1) as u64, ft, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    /// A listing with each entry's attributes: the kernel enters them in
    /// its caches as if each had been looked up, so a tree walk (`tar`,
    /// `nix-store --dump`, the Nix client's `--export`, which reads the
    /// store directory itself) costs one request per directory instead of
    /// one more per entry. Attributes last as long as a lookup's would.
    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let entries = match self.listing(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(e),
        };
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            // An entry whose node could not be read gets no cached
            // attributes: the kernel asks again.
            let (attr, ttl) = match &kind {
                Some(k) if ino.0 == ROOT && self.view == View::StoreDir => {
                    (attr(child, k), ROOT_TTL)
                }
                Some(k) => (attr(child, k), FOREVER),
                None => (attr(child, &Kind::Directory), Duration::ZERO),
            };
            if reply.add(
                INodeNo(child),
                (i + 1) as u64,
                OsStr::from_bytes(&name),
                &ttl,
                &attr,
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }
}

/// A listed entry: inode, kind (`None` if its node could not be read),
/// name.
type Listed = (u64, Option<Kind>, Vec<u8>);

/// A view mounted in the background: unmounted when dropped or by
/// [`Mount::umount_and_join`].
pub struct Mount {
    session: fuser::BackgroundSession,
    /// The store view's subscription to [`crate::changes`], which tells the
    /// kernel what of the root it must forget; it ends with the mount.
    _listening: Option<std::sync::Arc<crate::changes::Listener>>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount").finish_non_exhaustive()
    }
}

impl Mount {
    /// Unmounts the view and waits for its threads.
    pub fn umount_and_join(self) -> std::io::Result<()> {
        self.session.umount_and_join()
    }
}

/// Mounts a view at `mountpoint` in the background.
pub fn mount(
    state: &Path,
    view: View,
    mountpoint: &Path,
) -> Result<Mount, crate::store::StoreError> {
    let fs = StoreFs::new(state, view)?;
    let mut cfg = Config::default();
    cfg.mount_options = vec![
        MountOption::RO,
        MountOption::FSName("pkgchain".into()),
        MountOption::Subtype(match view {
            View::Cids => "ipfs".into(),
            View::StoreDir => "store".into(),
        }),
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::DefaultPermissions,
    ];
    cfg.acl = SessionACL::All;
    cfg.n_threads = Some(4);
    cfg.clone_fd = true;
    let at = || crate::store::io_err("mount point", mountpoint);
    let session = fuser::Session::new(fs, mountpoint, &cfg).map_err(at())?;
    // The store view hears of changed paths through a duplicate of the
    // mount's `/dev/fuse` descriptor.
    let root = match view {
        View::StoreDir => Some(RootInvalidator {
            dev: std::os::fd::AsFd::as_fd(&session)
                .try_clone_to_owned()
                .map_err(at())?,
        }),
        View::Cids => None,
    };
    let session = session.spawn().map_err(at())?;
    let listening = root.map(|root| {
        let listener: std::sync::Arc<crate::changes::Listener> =
            std::sync::Arc::new(move |gone: &[StorePath]| {
                for p in gone {
                    root.forget(&p.to_string());
                }
                root.relist();
            });
        crate::changes::subscribe(&listener);
        listener
    });
    Ok(Mount {
        session,
        _listening: listening,
    })
}

/// `FUSE_NOTIFY_INVAL_ENTRY` and its expire-only flag (kernel 6.2, FUSE
/// 7.38; older kernels read the flag's word as padding and drop the entry
/// and its subtree at once instead).
const NOTIFY_INVAL_ENTRY: i32 = 3;
const EXPIRE_ONLY: u32 = 1;
/// `FUSE_NOTIFY_INVAL_INODE`: an inode's attributes and cached pages (for a
/// directory, its cached listing).
const NOTIFY_INVAL_INODE: i32 = 2;

/// Tells the kernel what of the store view's root it must forget: the
/// entries of paths that went away or show another tree now, and the
/// listing.
#[derive(Debug)]
struct RootInvalidator {
    dev: std::os::fd::OwnedFd,
}

impl RootInvalidator {
    /// Forgets the cached root entry called `name`. Not cached is fine.
    ///
    /// The entry is marked expired, not dropped: the next lookup of the
    /// name asks the view again (and gets "no such file"), and the kernel
    /// drops the cached subtree then. Dropping it here would make
    /// `nix-store --delete` of a path whose files were all read wait while
    /// the kernel walks every cached dentry below it (0.4 s for a toolchain
    /// of 50,000 files).
    fn forget(&self, name: &str) {
        let name = name.as_bytes();
        let Ok(namelen) = u32::try_from(name.len()) else {
            return;
        };
        // fuse_notify_inval_entry_out: parent, namelen, flags; the name.
        let mut body = Vec::with_capacity(16 + name.len() + 1);
        body.extend_from_slice(&ROOT.to_ne_bytes());
        body.extend_from_slice(&namelen.to_ne_bytes());
        body.extend_from_slice(&EXPIRE_ONLY.to_ne_bytes());
        body.extend_from_slice(name);
        body.push(0);
        // ENOENT (nothing cached) is the common case; any other error only
        // leaves the entry until its timeout runs out.
        self.notify(NOTIFY_INVAL_ENTRY, &body);
    }

    /// Drops the root's cached listing (and attributes): the next listing
    /// asks the view.
    fn relist(&self) {
        // fuse_notify_inval_inode_out: inode, offset 0, length 0 (all).
        let mut body = [0u8; 24];
        body[..8].copy_from_slice(&ROOT.to_ne_bytes());
        // ENOENT: the kernel holds nothing for it; otherwise the root's
        // modification time still tells it, after its timeout.
        self.notify(NOTIFY_INVAL_INODE, &body);
    }

    /// Sends a notification: `fuse_out_header` (length, the code in the
    /// error field, unique 0), then `body`. Best effort (see the callers).
    fn notify(&self, code: i32, body: &[u8]) {
        let len = 16 + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&code.to_ne_bytes());
        msg.extend_from_slice(&0u64.to_ne_bytes());
        msg.extend_from_slice(body);
        let _ = rustix::io::write(&self.dev, &msg);
    }
}

/// Time the mount was made, for logs.
pub fn now() -> SystemTime {
    SystemTime::now()
}
