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

/// The name of user `uid` from /etc/passwd (its number if it has none).
pub fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map(|f| f[0].to_owned())
        .unwrap_or_else(|| uid.to_string())
}

/// A user's name, primary group name, and the names of every group it is
/// in, from /etc/passwd and /etc/group.
fn user_info(uid: u32, gid: u32) -> (String, String, Vec<String>) {
    let name = user_name(uid);
    let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let entries: Vec<Vec<&str>> = group_file
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() > 3)
        .collect();
    let primary = entries
        .iter()
        .find(|f| f[2] == gid.to_string())
        .map_or_else(|| gid.to_string(), |f| f[0].to_owned());
    let groups = entries
        .iter()
        .filter(|f| f[2] == gid.to_string() || f[3].split(',').any(|m| m == name))
        .map(|f| f[0].to_owned())
        .collect();
    (name, primary, groups)
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
        let (user, primary_group, groups) = user_info(uid, gid);
        let settings: &Settings = &shared.settings;
        let trusted = Settings::matches(&settings.trusted_users, &user, &groups);
        // As in Nix 2.8: the primary group alone decides build-user refusal.
        if (!trusted && !Settings::matches(&settings.allowed_users, &user, &groups))
            || primary_group == settings.build_users_group
        {
            // Close first: the client learns of the refusal by the socket closing.
            drop(stream);
            eprintln!("pkgchain-daemon: user '{user}' is not allowed to connect to the Nix daemon");
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
