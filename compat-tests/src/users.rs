//! Ordinary (unprivileged) users for scenarios, made inside the run's
//! private mount namespace only: the runner writes copies of `/etc/passwd`
//! and `/etc/group` with the user added and bind-mounts them over the
//! originals, so both daemons (`getpwuid`, `/etc/passwd`) and the client
//! see the user while the machine's files are never changed. Each user
//! gets a home directory under [`USERS`], owned by it.
//!
//! A step runs as a user through [`as_user`], which wraps its script in
//! `setpriv` with the user's uid, gid and groups and the client
//! environment pointed at the user's home.

use std::fs;
use std::os::unix::fs::chown;
use std::path::Path;
use std::process::Command;

use crate::error::RunError;
use crate::layout;

/// Parent of the users' home directories.
pub const USERS: &str = "/nix/compat/users";

/// Where the passwd and group copies are written.
const ETC: &str = "/nix/compat/etc";

/// The home directory of `name`.
pub fn home(name: &str) -> String {
    format!("{USERS}/{name}")
}

/// The users added so far in this namespace, a `name uid` line each (for
/// [`graft`]).
const ADDED: &str = "/nix/compat/etc/users";

/// Add user `name` with uid and gid `uid` (group of the same name) for the
/// rest of this namespace's life, and create its home directory.
pub fn add(name: &str, uid: u32) -> Result<(), RunError> {
    fs::create_dir_all(ETC).map_err(RunError::io("mkdir", ETC))?;
    let home = home(name);
    add_entries(Path::new("/"), name, uid)?;
    let mut added = fs::read_to_string(ADDED).unwrap_or_default();
    added.push_str(&format!("{name} {uid}\n"));
    fs::write(ADDED, added).map_err(RunError::io("write", ADDED))?;
    fs::create_dir_all(&home).map_err(RunError::io("mkdir", &home))?;
    layout::set_mode(Path::new(&home), 0o755)?;
    chown(&home, Some(uid), Some(uid)).map_err(RunError::io("chown", &home))?;
    Ok(())
}

/// Gives the root file system at `root` (a client root's view: its client
/// and reference daemon read its `/etc`) the users added so far.
pub fn graft(root: &Path) -> Result<(), RunError> {
    let added = fs::read_to_string(ADDED).unwrap_or_default();
    for line in added.lines() {
        let Some((name, uid)) = line.split_once(' ') else {
            continue;
        };
        let uid: u32 = uid.parse().map_err(|_| {
            RunError::io("parse", ADDED)(std::io::Error::other(format!("bad line {line:?}")))
        })?;
        add_entries(root, name, uid)?;
    }
    Ok(())
}

/// The passwd and group entries of `name` in `<root>/etc`.
fn add_entries(root: &Path, name: &str, uid: u32) -> Result<(), RunError> {
    let home = home(name);
    add_entry(
        root,
        "passwd",
        name,
        uid,
        &format!("{name}:x:{uid}:{uid}:{name}:{home}:/bin/sh"),
    )?;
    add_entry(root, "group", name, uid, &format!("{name}:x:{uid}:"))
}

/// Replace `<root>/etc/<file>` (by a bind mount) with a copy where any
/// entry with the same name or id is replaced by `line`.
fn add_entry(root: &Path, file: &str, name: &str, id: u32, line: &str) -> Result<(), RunError> {
    let etc = root.join("etc").join(file);
    let etc = etc.to_string_lossy().into_owned();
    let old = fs::read_to_string(&etc).map_err(RunError::io("read", &etc))?;
    let id = id.to_string();
    let mut new: String = old
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.first() != Some(&name) && f.get(2) != Some(&id.as_str())
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    new.push_str(line);
    new.push('\n');
    // A new file per change, so an earlier bind mount is never written through.
    let copy = format!(
        "{ETC}/{file}.{name}{}",
        if root == Path::new("/") { "" } else { ".root" }
    );
    fs::write(&copy, new).map_err(RunError::io("write", &copy))?;
    layout::set_mode(Path::new(&copy), 0o644)?;
    let status = Command::new("mount")
        .arg("--bind")
        .arg(&copy)
        .arg(&etc)
        .status()
        .map_err(RunError::spawn("mount"))?;
    if !status.success() {
        return Err(RunError::Mount {
            from: copy.into(),
            to: etc.into(),
        });
    }
    Ok(())
}

/// `script` run by `/bin/sh` in `name`'s home directory as that user (uid
/// and gid `uid`, its groups), with the client environment's `HOME`,
/// `USER` and XDG directories pointing at its home.
pub fn as_user(name: &str, uid: u32, script: &str) -> String {
    let home = home(name);
    let quoted = script.replace('\'', r"'\''");
    format!(
        "setpriv --reuid={uid} --regid={uid} --init-groups \
         env HOME={home} USER={name} LOGNAME={name} \
         XDG_CONFIG_HOME={home}/.config XDG_CONFIG_DIRS={home}/.config-dirs \
         XDG_CACHE_HOME={home}/.cache XDG_DATA_HOME={home}/.local/share \
         XDG_STATE_HOME={home}/.local/state \
         /bin/sh -c 'cd && {quoted}'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_quoted_for_the_inner_shell() {
        let s = as_user("alice", 30001, "echo 'a b' && nix-env -q");
        assert!(s.starts_with("setpriv --reuid=30001 --regid=30001 --init-groups env HOME=/nix/compat/users/alice USER=alice"));
        assert!(s.ends_with(r"/bin/sh -c 'cd && echo '\''a b'\'' && nix-env -q'"));
    }
}
