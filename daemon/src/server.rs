//! The listening socket and the accept loop: peer credentials, who may
//! connect, one task per connection.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio::net::UnixListener;

use crate::config::Settings;
use crate::session::{Peer, serve};
use crate::shared::Shared;

/// The socket passed by systemd socket activation, if any.
fn activated() -> Option<std::os::unix::net::UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds != 1 {
        return None;
    }
    // SAFETY: systemd passes the listening socket as fd 3 and nothing else
    // in this process owns fd 3 (LISTEN_PID names us); we take ownership
    // exactly once, at start-up.
    #[allow(unsafe_code)]
    let fd = unsafe { OwnedFd::from_raw_fd(3) };
    let l = std::os::unix::net::UnixListener::from(fd);
    l.set_nonblocking(true).ok()?;
    Some(l)
}

/// Binds the daemon socket (mode 0666; access is governed by the
/// directory's permissions and `allowed-users`).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(l) = activated() {
        return UnixListener::from_std(l);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(l)
}

/// A user's name and group names from /etc/passwd and /etc/group.
fn user_info(uid: u32, gid: u32) -> (String, Vec<String>) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map(|f| f[0].to_owned())
        .unwrap_or_else(|| uid.to_string());
    let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let groups = group_file
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() > 3 && (f[2] == gid.to_string() || f[3].split(',').any(|m| m == name)))
        .map(|f| f[0].to_owned())
        .collect();
    (name, groups)
}

/// Accepts connections until `stop` resolves.
pub async fn run(
    listener: UnixListener,
    shared: Arc<Shared>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => a,
        };
        let (stream, _) = match accepted {
            Ok(x) => x,
            Err(e) => {
                eprintln!("pkgchain-daemon: accept: {e}");
                continue;
            }
        };
        let cred = match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("pkgchain-daemon: cannot get peer credentials: {e}");
                continue;
            }
        };
        let (uid, gid, pid) = (
            cred.uid.as_raw(),
            cred.gid.as_raw(),
            cred.pid.as_raw_nonzero().get(),
        );
        let (user, groups) = user_info(uid, gid);
        let settings: &Settings = &shared.settings;
        let trusted = Settings::matches(&settings.trusted_users, &user, &groups);
        let in_build_group =
            !settings.build_users_group.is_empty() && groups.contains(&settings.build_users_group);
        if (!trusted && !Settings::matches(&settings.allowed_users, &user, &groups))
            || (in_build_group && uid != 0)
        {
            eprintln!("pkgchain-daemon: user '{user}' is not allowed to connect to the Nix daemon");
            drop(stream);
            continue;
        }
        let peer = Peer {
            uid,
            gid,
            pid,
            user,
            trusted,
        };
        tokio::spawn(serve(stream, shared.clone(), peer));
    }
}
