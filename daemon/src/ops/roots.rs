//! GC roots as Nix clients create them: temp roots (per connection),
//! indirect roots (`gcroots/auto`), permanent roots; FindRoots; and the
//! per-user directories Nix ≤ 2.13 clients expect the daemon to create.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::store_path::StorePath;
use nix_formats::wire::GcRequest;

use crate::session::{OpError, Peer, Session, client_err};
use crate::shared::Shared;

/// `profiles/per-user/<user>` and `gcroots/per-user/<user>`, owned by the
/// user, as the 2.8 daemon creates them on every connection.
pub fn create_user_dirs(shared: &Shared, peer: &Peer) {
    if peer.user.is_empty() || peer.user.contains('/') {
        return;
    }
    for kind in ["profiles", "gcroots"] {
        let d = shared
            .nix_state_dir
            .join(kind)
            .join("per-user")
            .join(&peer.user);
        if d.exists() {
            continue;
        }
        if std::fs::create_dir_all(&d).is_ok() {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
            let _ = rustix::fs::chown(
                &d,
                Some(rustix::fs::Uid::from_raw(peer.uid)),
                Some(rustix::fs::Gid::from_raw(peer.gid)),
            );
        }
    }
}

pub fn add_temp_root(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    s.shared.add_temp_root(s.id, p);
    s.u64_reply(1)
}

/// `gcroots/auto/<nix32(sha1(link))>` → `link`.
fn indirect_root_link(shared: &Shared, link: &str) -> PathBuf {
    let name = Hash::of_bytes(HashAlgo::Sha1, link.as_bytes()).to_nix32();
    shared.nix_state_dir.join("gcroots").join("auto").join(name)
}

fn make_symlink(target: &Path, at: &Path) -> std::io::Result<()> {
    let dir = at.parent().expect("link has a parent");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        at.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_file(&tmp);
    symlink(target, &tmp)?;
    std::fs::rename(&tmp, at)
}

pub fn add_indirect_root(s: &mut Session, link: String) -> Result<(), OpError> {
    if !link.starts_with('/') {
        return Err(client_err(format!("path '{link}' is not absolute")));
    }
    let at = indirect_root_link(&s.shared, &link);
    make_symlink(Path::new(&link), &at)
        .map_err(|e| client_err(format!("creating indirect root '{}': {e}", at.display())))?;
    s.u64_reply(1)
}

pub fn add_perm_root(s: &mut Session, path: StorePath, gc_root: String) -> Result<(), OpError> {
    let target = s.shared.store_dir.display(&path);
    make_symlink(Path::new(&target), Path::new(&gc_root))
        .map_err(|e| client_err(format!("creating root '{gc_root}': {e}")))?;
    let at = indirect_root_link(&s.shared, &gc_root);
    make_symlink(Path::new(&gc_root), &at)
        .map_err(|e| client_err(format!("creating indirect root: {e}")))?;
    s.reply(gc_root.as_str())
}

/// Follows a root symlink to a store path (through other symlinks).
fn resolve_root(shared: &Shared, link: &Path) -> Option<StorePath> {
    let mut cur = link.to_owned();
    for _ in 0..32 {
        let target = std::fs::read_link(&cur).ok()?;
        let target = if target.is_absolute() {
            target
        } else {
            cur.parent()?.join(target)
        };
        if let Ok((p, _)) = shared.store_dir.parse_path_within(target.to_str()?) {
            return Some(p);
        }
        cur = target;
    }
    None
}

/// Removes indirect roots whose client link is gone; returns Nix's
/// messages for them.
pub fn remove_stale_links(shared: &Shared) -> Vec<String> {
    let auto = shared.nix_state_dir.join("gcroots").join("auto");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&auto) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(target) = std::fs::read_link(&p) else {
            continue;
        };
        let alive =
            std::fs::symlink_metadata(&target).is_ok() && resolve_root(shared, &p).is_some();
        if !alive {
            out.push(format!(
                "removing stale link from '{}' to '{}'",
                p.display(),
                target.display()
            ));
            let _ = std::fs::remove_file(&p);
        }
    }
    out
}

/// Every root link with the store path it keeps alive.
pub fn scan_roots(shared: &Shared) -> Vec<(String, StorePath)> {
    let mut out = Vec::new();
    let mut stack = vec![
        shared.nix_state_dir.join("gcroots"),
        shared.nix_state_dir.join("profiles"),
    ];
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_symlink() {
                if let Some(sp) = resolve_root(shared, &p) {
                    // Report indirect roots by the client's link, as Nix does.
                    let shown = if p.starts_with(shared.nix_state_dir.join("gcroots/auto")) {
                        std::fs::read_link(&p)
                            .map(|t| t.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    } else {
                        p.to_string_lossy().into_owned()
                    };
                    out.push((shown, sp));
                } else if std::fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false)
                    && seen.insert(p.clone())
                {
                    stack.push(p);
                }
            }
        }
    }
    out
}

pub async fn find_roots(s: &mut Session) -> Result<(), OpError> {
    for l in remove_stale_links(&s.shared) {
        s.log_line(nix_formats::wire::Verbosity::Info, &l);
    }
    let shared = s.shared.clone();
    let trusted = s.peer.trusted;
    let roots = s
        .blocking(move |st, _| {
            let mut out = Vec::new();
            for (link, p) in scan_roots(&shared) {
                if st
                    .catalogue
                    .is_valid(&p)
                    .map_err(|e| client_err(e.to_string()))?
                {
                    out.push((link, p));
                }
            }
            for (conn, p) in shared.temp_roots() {
                if st
                    .catalogue
                    .is_valid(&p)
                    .map_err(|e| client_err(e.to_string()))?
                {
                    let name = if trusted {
                        format!("{{temp:{conn}}}")
                    } else {
                        "{censored}".to_owned()
                    };
                    out.push((name, p));
                }
            }
            Ok(out)
        })
        .await?;
    s.log(&nix_formats::wire::StderrMsg::Last);
    let sd = s.shared.store_dir.clone();
    let mut e = nix_formats::wire::Encoder::new(&mut s.wire.out, &s.cx);
    e.u64(roots.len() as u64);
    for (link, p) in roots {
        e.str(&link);
        e.str(&sd.display(&p));
    }
    Ok(())
}

pub async fn collect_garbage(s: &mut Session, req: GcRequest) -> Result<(), OpError> {
    if req.ignore_liveness {
        return Err(client_err("you are not allowed to ignore liveness"));
    }
    let res = s
        .blocking(move |st, shared| crate::gc::collect(st, shared, &req))
        .await?;
    for l in &res.log {
        s.log_line(nix_formats::wire::Verbosity::Info, l);
    }
    if let Some(p) = &res.still_alive {
        let shown = s.shared.store_dir.display(p);
        return Err(crate::session::client_err(s.wording().still_alive(&shown)));
    }
    s.log(&nix_formats::wire::StderrMsg::Last);
    let sd = s.shared.store_dir.clone();
    let mut e = nix_formats::wire::Encoder::new(&mut s.wire.out, &s.cx);
    let shown: Vec<String> = res.paths.iter().map(|p| sd.display(p)).collect();
    e.strings(shown.iter());
    e.u64(res.bytes_freed);
    e.u64(0);
    Ok(())
}
