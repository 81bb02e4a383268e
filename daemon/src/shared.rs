//! State shared by every connection of one daemon.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nix_formats::store_path::{StoreDir, StorePath};

use crate::config::Settings;

/// The temp roots of the live connections, and while a collection runs
/// every temp root added since it began (those stay roots until it ends,
/// even if their connection closes: the client may have made a permanent
/// root meanwhile that the collector's scan came too early to see).
#[derive(Debug, Default)]
struct TempRoots {
    per_conn: HashMap<u64, ConnRoots>,
    /// Collections running now.
    collections: usize,
    /// Temp roots added while any collection runs (emptied when none does).
    during_gc: BTreeSet<StorePath>,
}

impl TempRoots {
    /// The connections whose client is still there (as with Nix, where a
    /// connection's worker process and its roots go away when the client
    /// does).
    fn live(&self) -> impl Iterator<Item = (&u64, &ConnRoots)> {
        self.per_conn.iter().filter(|(_, r)| !r.hung_up())
    }
}

/// While alive, a collection is running: see [`Shared::begin_gc`].
#[derive(Debug)]
pub struct GcGuard<'a> {
    shared: &'a Shared,
}

impl Drop for GcGuard<'_> {
    fn drop(&mut self) {
        let mut t = self.shared.temp_roots.lock().expect("temp roots lock");
        t.collections -= 1;
        if t.collections == 0 {
            t.during_gc.clear();
        }
    }
}

/// What all connections share.
#[derive(Debug)]
pub struct Shared {
    pub state_dir: PathBuf,
    pub store_dir: StoreDir,
    /// Where Nix keeps state: `/nix/var/nix` (profiles, gcroots, logs' parent).
    pub nix_state_dir: PathBuf,
    pub log_dir: PathBuf,
    pub settings: Settings,
    pub version: String,
    next_conn: AtomicU64,
    /// Temp roots per connection, dropped when it closes.
    temp_roots: Mutex<TempRoots>,
    /// One lock per derivation being built, so each is built once.
    build_locks: Mutex<HashMap<StorePath, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Open stores the builds take turns with.
    pub stores: std::sync::Arc<StorePool>,
    /// Sandbox helpers started ahead of the builds that will use them.
    pub helpers: std::sync::Arc<crate::build::helpers::Helpers>,
    /// Hashes modulo of the derivations validated or built so far.
    pub drv_hashes: std::sync::Arc<nix_formats::derivation::SharedDrvHashes>,
}

/// Derivation hashes kept at most (about 200 bytes each).
const DRV_HASHES: usize = 65_536;

/// Open stores to reuse: opening one (a SQLite connection, its pragmas and
/// schema check) costs 0.2–0.4 ms, and a build needs one three times.
#[derive(Debug)]
pub struct StorePool {
    state: PathBuf,
    idle: Mutex<Vec<store_ipfs::store::Store>>,
}

/// Idle stores kept open at most.
const IDLE_STORES: usize = 8;

impl StorePool {
    fn new(state: PathBuf) -> Self {
        StorePool {
            state,
            idle: Mutex::default(),
        }
    }

    /// An open store, idle or new; it goes back to the pool when dropped.
    pub fn take(self: &std::sync::Arc<Self>) -> Result<PooledStore, store_ipfs::store::StoreError> {
        let idle = self.idle.lock().expect("store pool lock").pop();
        let store = match idle {
            Some(s) => s,
            // Recovered when the daemon opened it first.
            None => store_ipfs::store::Store::open_another(&self.state)?,
        };
        Ok(PooledStore {
            store: Some(store),
            pool: self.clone(),
        })
    }
}

/// A store taken from a [`StorePool`].
#[derive(Debug)]
pub struct PooledStore {
    store: Option<store_ipfs::store::Store>,
    pool: std::sync::Arc<StorePool>,
}

impl std::ops::Deref for PooledStore {
    type Target = store_ipfs::store::Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref().expect("taken until dropped")
    }
}

impl std::ops::DerefMut for PooledStore {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.store.as_mut().expect("taken until dropped")
    }
}

impl Drop for PooledStore {
    fn drop(&mut self) {
        // A store whose user panicked is not trusted with the next one.
        if std::thread::panicking() {
            return;
        }
        if let (Some(s), Ok(mut idle)) = (self.store.take(), self.pool.idle.lock()) {
            if idle.len() < IDLE_STORES {
                idle.push(s);
            }
        }
    }
}

/// One connection's temp roots, and a handle on its socket.
#[derive(Debug, Default)]
struct ConnRoots {
    /// A duplicate of the connection's socket, to see whether its client
    /// has hung up before the session has noticed (a command that follows
    /// the previous one at once must not find that one's roots alive).
    socket: Option<OwnedFd>,
    paths: BTreeSet<StorePath>,
}

impl ConnRoots {
    /// Whether the client closed its end: a peek finds the end of the
    /// stream. Pending bytes or nothing to read yet mean it is still there.
    fn hung_up(&self) -> bool {
        let Some(fd) = &self.socket else {
            return false;
        };
        let mut byte = [0u8; 1];
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        matches!(rustix::net::recv(fd, &mut byte[..], flags), Ok((_, 0)))
    }
}

impl Shared {
    pub fn new(state_dir: PathBuf, store_dir: StoreDir, settings: Settings) -> Self {
        Shared {
            store_dir,
            nix_state_dir: std::env::var_os("NIX_STATE_DIR")
                .map_or_else(|| PathBuf::from("/nix/var/nix"), PathBuf::from),
            log_dir: std::env::var_os("NIX_LOG_DIR")
                .map_or_else(|| PathBuf::from("/nix/var/log/nix"), PathBuf::from),
            settings,
            version: format!(
                "{} (pkgchain {})",
                NIX_COMPAT_VERSION,
                env!("CARGO_PKG_VERSION")
            ),
            next_conn: AtomicU64::new(1),
            temp_roots: Mutex::default(),
            build_locks: Mutex::default(),
            stores: std::sync::Arc::new(StorePool::new(state_dir.clone())),
            helpers: std::sync::Arc::new(crate::build::helpers::Helpers::new(
                crate::build::run::helper_path(),
            )),
            drv_hashes: std::sync::Arc::new(nix_formats::derivation::SharedDrvHashes::new(
                DRV_HASHES,
            )),
            state_dir,
        }
    }

    pub fn new_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Records a connection's socket (a duplicate of it), so that its
    /// roots stop counting as soon as its client hangs up.
    pub fn open_conn(&self, conn: u64, socket: OwnedFd) {
        self.temp_roots
            .lock()
            .expect("temp roots lock")
            .per_conn
            .entry(conn)
            .or_default()
            .socket = Some(socket);
    }

    pub fn add_temp_root(&self, conn: u64, path: StorePath) {
        let mut t = self.temp_roots.lock().expect("temp roots lock");
        if t.collections > 0 {
            t.during_gc.insert(path.clone());
        }
        t.per_conn.entry(conn).or_default().paths.insert(path);
    }

    pub fn drop_temp_roots(&self, conn: u64) {
        self.temp_roots
            .lock()
            .expect("temp roots lock")
            .per_conn
            .remove(&conn);
    }

    /// Marks a collection as running until the guard is dropped; temp
    /// roots added meanwhile are kept for [`Shared::with_temp_roots`].
    pub fn begin_gc(&self) -> GcGuard<'_> {
        self.temp_roots.lock().expect("temp roots lock").collections += 1;
        GcGuard { shared: self }
    }

    /// The lock that serialises builds of `drv`.
    pub fn build_lock(&self, drv: &StorePath) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.build_locks
            .lock()
            .expect("build locks")
            .entry(drv.clone())
            .or_default()
            .clone()
    }

    /// Runs `f` on every temp root of the live connections and every one
    /// added since the running collection began, while holding the
    /// registry, so no temp root is added until `f` returns (the collector
    /// commits its deletions in here).
    pub fn with_temp_roots<R>(&self, f: impl FnOnce(&BTreeSet<StorePath>) -> R) -> R {
        let t = self.temp_roots.lock().expect("temp roots lock");
        let mut all: BTreeSet<StorePath> = t
            .live()
            .flat_map(|(_, r)| r.paths.iter())
            .cloned()
            .collect();
        all.extend(t.during_gc.iter().cloned());
        f(&all)
    }

    /// Every temp root of every live connection.
    pub fn temp_roots(&self) -> Vec<(u64, StorePath)> {
        let t = self.temp_roots.lock().expect("temp roots lock");
        t.live()
            .flat_map(|(c, r)| r.paths.iter().map(move |p| (*c, p.clone())))
            .collect()
    }
}

/// The Nix version whose behaviour the daemon reproduces.
pub const NIX_COMPAT_VERSION: &str = "2.8.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_roots_stop_counting_when_the_client_hangs_up() {
        let shared = Shared::new(
            PathBuf::from("/nonexistent"),
            StoreDir::default(),
            Settings::default(),
        );
        let p = StorePath::from_base_name("00000000000000000000000000000000-a").expect("path");
        let (ours, client) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        shared.open_conn(1, rustix::io::dup(&ours).expect("dup"));
        shared.add_temp_root(1, p.clone());
        assert_eq!(shared.temp_roots(), vec![(1, p.clone())]);
        // Bytes the session has not read yet: the client is still there.
        std::io::Write::write_all(&mut &client, b"op").expect("write");
        assert_eq!(shared.temp_roots(), vec![(1, p.clone())]);
        let mut two = [0u8; 2];
        std::io::Read::read_exact(&mut &ours, &mut two).expect("read");
        drop(client);
        assert_eq!(shared.temp_roots(), vec![]);
        // A connection without a socket handle keeps its roots until it ends.
        shared.add_temp_root(2, p.clone());
        assert_eq!(shared.temp_roots(), vec![(2, p)]);
        shared.drop_temp_roots(2);
        assert_eq!(shared.temp_roots(), vec![]);
    }
}
