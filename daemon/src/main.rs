//! `pkgchain-daemon`: mounts the store dir, serves the Nix daemon socket.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use daemon::config::Settings;
use daemon::shared::Shared;
use nix_formats::store_path::StoreDir;
use store_ipfs::fuse::{View, mount};

#[derive(Debug, Parser)]
#[command(
    name = "pkgchain-daemon",
    version,
    about = "A nix-daemon whose store lives in IPFS blocks"
)]
struct Args {
    /// State directory: blocks, catalogue, pins.
    #[arg(long, default_value = "/ipfs")]
    state_dir: PathBuf,
    /// The daemon socket.
    #[arg(
        long,
        default_value = "/nix/var/nix/daemon-socket/socket",
        env = "NIX_DAEMON_SOCKET_PATH"
    )]
    socket: PathBuf,
    /// The Nix store directory (mounted here with FUSE).
    #[arg(long, default_value = "/nix/store")]
    store_dir: String,
    /// Do not mount the store dir (something else serves it).
    #[arg(long)]
    no_mount: bool,
}

/// A daemon that was killed (`kill -9`, OOM) leaves its FUSE mount behind
/// with no one serving it: every access gives ENOTCONN, so neither
/// `create_dir_all` nor a new mount on top can work. Such a mount is
/// detached (lazily, as `umount -l` does) so the store can be mounted
/// afresh; a live mount of another process is left alone.
fn detach_stale_mount(store_dir: &std::path::Path) -> Result<()> {
    let notconn =
        |e: &std::io::Error| e.raw_os_error() == Some(rustix::io::Errno::NOTCONN.raw_os_error());
    // The kernel answers `stat` of the root, opening it and listing it
    // from its caches; looking up a name that is not there always asks the
    // server (the view caches no absent names).
    let absent = store_dir.join(".pkgchain-probe");
    let probe = std::fs::metadata(store_dir).and_then(|_| std::fs::symlink_metadata(&absent));
    match probe {
        Err(e) if notconn(&e) => {
            eprintln!(
                "pkgchain-daemon: '{}' is a stale mount (its server is gone); detaching it",
                store_dir.display()
            );
            rustix::mount::unmount(store_dir, rustix::mount::UnmountFlags::DETACH)
                .with_context(|| format!("detaching the stale mount at '{}'", store_dir.display()))
        }
        _ => Ok(()),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let settings = Settings::load().context("reading nix.conf")?;
    let store_dir = StoreDir::new(args.store_dir.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating '{}'", args.state_dir.display()))?;
    let store = store_ipfs::store::Store::open(&args.state_dir).context("opening the store")?;
    if !store.lost_on_open().is_empty() {
        eprintln!(
            "pkgchain-daemon: the machine went down before these paths' contents reached the disk; they are no longer valid:"
        );
        for p in store.lost_on_open() {
            eprintln!("  {}", store_dir.display(p));
        }
    }
    // Small paths a killed daemon of this boot registered before their
    // blocks were durable (its flusher died with it).
    store
        .flush_undurable()
        .context("making the paths registered before durable")?;
    let session = if args.no_mount {
        None
    } else {
        let dir = std::path::Path::new(&args.store_dir);
        detach_stale_mount(dir)?;
        if std::fs::create_dir_all(dir).is_err() {
            // A server that was still going away when it was probed (a
            // daemon killed just before this one started) leaves a stale
            // mount that only shows now.
            detach_stale_mount(dir)?;
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating '{}'", args.store_dir))?;
        }
        Some(
            mount(
                &args.state_dir,
                View::StoreDir,
                std::path::Path::new(&args.store_dir),
            )
            .with_context(|| format!("mounting the store at '{}'", args.store_dir))?,
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let shared = Arc::new(Shared::new(args.state_dir.clone(), store_dir, settings));
    daemon::ops::roots::init_state_dirs(&shared).with_context(|| {
        format!(
            "creating the state directories under '{}'",
            shared.nix_state_dir.display()
        )
    })?;
    let result = rt.block_on(async {
        let listener = daemon::server::bind(&args.socket)
            .with_context(|| format!("binding '{}'", args.socket.display()))?;
        eprintln!("pkgchain-daemon: listening on {}", args.socket.display());
        // SIGUSR1: print where time went so far.
        let mut usr1 =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
                .context("SIGUSR1 handler")?;
        eprintln!("pkgchain-daemon: SIGUSR1 prints where time went (builds, uploads, collections)");
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                eprint!("{}", daemon::phases::report());
            }
        });
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        daemon::server::run(listener, shared, stop).await;
        anyhow::Ok(())
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(10));
    // What was registered in the last moments, durable before we go (if
    // this fails, the next start checks those paths).
    if let Err(e) = store.flush_undurable() {
        eprintln!("pkgchain-daemon: making the last paths durable: {e}");
    }
    if let Some(s) = session {
        s.umount_and_join().context("unmounting the store")?;
    }
    let _ = std::fs::remove_file(&args.socket);
    result
}
