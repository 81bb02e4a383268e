//! State shared by every connection of one daemon.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nix_formats::store_path::{StoreDir, StorePath};

use crate::config::Settings;

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
    temp_roots: Mutex<HashMap<u64, BTreeSet<StorePath>>>,
    /// One lock per derivation being built, so each is built once.
    build_locks: Mutex<HashMap<StorePath, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// The mounted store view's cache invalidator, if we mounted it.
    store_view: std::sync::OnceLock<store_ipfs::fuse::RootInvalidator>,
}

impl Shared {
    pub fn new(state_dir: PathBuf, store_dir: StoreDir, settings: Settings) -> Self {
        Shared {
            state_dir,
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
            store_view: std::sync::OnceLock::new(),
        }
    }

    /// Remembers the mounted store view, whose cached entries
    /// [`Shared::forget_store_entries`] then drops.
    pub fn set_store_view(&self, view: store_ipfs::fuse::RootInvalidator) {
        let _ = self.store_view.set(view);
    }

    /// Makes paths that are no longer in the store directory disappear from
    /// it at once (the kernel caches its entries for a second otherwise).
    pub fn forget_store_entries<'a>(&self, paths: impl IntoIterator<Item = &'a StorePath>) {
        if let Some(view) = self.store_view.get() {
            for p in paths {
                view.forget(&p.to_string());
            }
        }
    }

    pub fn new_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn add_temp_root(&self, conn: u64, path: StorePath) {
        self.temp_roots
            .lock()
            .expect("temp roots lock")
            .entry(conn)
            .or_default()
            .insert(path);
    }

    pub fn drop_temp_roots(&self, conn: u64) {
        self.temp_roots
            .lock()
            .expect("temp roots lock")
            .remove(&conn);
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

    /// Every temp root of every live connection.
    pub fn temp_roots(&self) -> Vec<(u64, StorePath)> {
        let t = self.temp_roots.lock().expect("temp roots lock");
        t.iter()
            .flat_map(|(c, ps)| ps.iter().map(move |p| (*c, p.clone())))
            .collect()
    }
}

/// The Nix version whose behaviour the daemon reproduces.
pub const NIX_COMPAT_VERSION: &str = "2.8.0";
