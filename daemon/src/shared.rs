//! State shared by every connection of one daemon.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::OwnedFd;
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
    temp_roots: Mutex<HashMap<u64, ConnRoots>>,
    /// One lock per derivation being built, so each is built once.
    build_locks: Mutex<HashMap<StorePath, std::sync::Arc<tokio::sync::Mutex<()>>>>,
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
            .entry(conn)
            .or_default()
            .socket = Some(socket);
    }

    pub fn add_temp_root(&self, conn: u64, path: StorePath) {
        self.temp_roots
            .lock()
            .expect("temp roots lock")
            .entry(conn)
            .or_default()
            .paths
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

    /// Every temp root of every connection whose client is still there
    /// (as with Nix, where a connection's worker process and its roots go
    /// away when the client does).
    pub fn temp_roots(&self) -> Vec<(u64, StorePath)> {
        let t = self.temp_roots.lock().expect("temp roots lock");
        t.iter()
            .filter(|(_, r)| !r.hung_up())
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
