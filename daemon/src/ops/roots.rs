//! GC roots as Nix clients create them: temp roots (per connection),
//! indirect roots (`gcroots/auto`), permanent roots; FindRoots and
//! CollectGarbage (the walk is in `gc/`); and the state directories a Nix
//! 2.8 daemon creates — at start the ones its `LocalStore` makes, and on
//! each connection the per-user profile and GC-root directories the 2.8
//! client expects.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::store_path::StorePath;
use nix_formats::wire::{Encoder, GcRequest, StderrMsg, Verbosity};

use crate::gc::find::{self, Finder};
use crate::session::{OpError, Peer, Session, client_err};
use crate::shared::Shared;

fn set_mode(d: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode))
}

/// What a 2.8 `LocalStore` creates when it opens: `profiles/`, `gcroots/`
/// (with the `profiles` link when `gcroots/` is new), both `per-user/`
/// directories (mode 0755). The daemon's own user's directories follow
/// with the first connection of a client that expects them (see the
/// handshake in `session.rs`).
pub fn init_state_dirs(shared: &Shared) -> std::io::Result<()> {
    let state = &shared.nix_state_dir;
    let profiles = state.join("profiles");
    std::fs::create_dir_all(&profiles)?;
    let gcroots = state.join("gcroots");
    if std::fs::symlink_metadata(&gcroots).is_err() {
        std::fs::create_dir_all(&gcroots)?;
        symlink(&profiles, gcroots.join("profiles"))?;
    }
    for d in [profiles.join("per-user"), gcroots.join("per-user")] {
        std::fs::create_dir_all(&d)?;
        set_mode(&d, 0o755)?;
    }
    Ok(())
}

/// `profiles/per-user/<user>` and `gcroots/per-user/<user>`, mode 0755,
/// owned by the user and the daemon's group (as the 2.8 daemon's
/// `createUser` leaves them).
pub fn create_user_dirs(shared: &Shared, user: &str, uid: u32) -> std::io::Result<()> {
    if user.is_empty() || user.contains('/') || user == "." || user == ".." {
        return Ok(());
    }
    for kind in ["profiles", "gcroots"] {
        let d = shared.nix_state_dir.join(kind).join("per-user").join(user);
        std::fs::create_dir_all(&d)?;
        set_mode(&d, 0o755)?;
        rustix::fs::chown(
            &d,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::process::getgid()),
        )?;
    }
    Ok(())
}

/// The per-user directories of a connecting client.
pub fn create_peer_dirs(shared: &Shared, peer: &Peer) -> std::io::Result<()> {
    create_user_dirs(shared, &peer.user, peer.uid)
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

/// FindRoots: permanent roots, run-time roots and temp roots; the latter
/// two are `{censored}` for untrusted clients, as in Nix.
pub async fn find_roots(s: &mut Session) -> Result<(), OpError> {
    let trusted = s.peer.trusted;
    let (roots, log) = s
        .blocking(move |st, shared| {
            let sd = &shared.store_dir;
            let is_valid = |p: &StorePath| st.catalogue.is_valid(p).unwrap_or(false);
            let mut finder = Finder::new(sd, &shared.nix_state_dir, &is_valid);
            finder.permanent(&shared.nix_state_dir);
            let mut roots = finder.roots;
            let log = finder.log;
            for (p, names) in find::runtime(sd, &is_valid, !trusted, std::process::id()) {
                roots.entry(p).or_default().extend(names);
            }
            for (conn, p) in shared.temp_roots() {
                if is_valid(&p) {
                    let name = if trusted {
                        format!("{{temp:{conn}}}")
                    } else {
                        find::CENSORED.to_owned()
                    };
                    roots.entry(p).or_default().insert(name);
                }
            }
            Ok((roots, log))
        })
        .await?;
    for l in &log {
        s.log_line(Verbosity::Info, l);
    }
    s.log(&StderrMsg::Last);
    let sd = s.shared.store_dir.clone();
    let mut e = Encoder::new(&mut s.wire.out, &s.cx);
    e.u64(roots.values().map(|links| links.len() as u64).sum());
    for (p, links) in roots {
        for link in links {
            e.str(&link);
            e.str(&sd.display(&p));
        }
    }
    Ok(())
}

/// CollectGarbage, with this connection's `keep-*` settings.
pub async fn collect_garbage(s: &mut Session, req: GcRequest) -> Result<(), OpError> {
    if req.ignore_liveness {
        return Err(client_err("you are not allowed to ignore liveness"));
    }
    let overrides = s
        .options
        .as_ref()
        .filter(|_| s.peer.trusted)
        .map(|o| o.overrides.clone());
    let res = s
        .blocking(move |st, shared| {
            let keep = crate::gc::keep_for(shared, overrides.as_ref());
            crate::gc::collect(st, shared, &req, keep)
        })
        .await?;
    for l in &res.log {
        s.log_line(Verbosity::Info, l);
    }
    if let Some(p) = &res.refused {
        let shown = s.shared.store_dir.display(p);
        return Err(client_err(s.wording().still_alive(&shown)));
    }
    s.log(&StderrMsg::Last);
    let sd = s.shared.store_dir.clone();
    let mut e = Encoder::new(&mut s.wire.out, &s.cx);
    let shown: Vec<String> = res.paths.iter().map(|p| sd.display(p)).collect();
    e.strings(shown.iter());
    e.u64(res.bytes_freed);
    e.u64(0);
    Ok(())
}
