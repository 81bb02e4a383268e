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

/// Add user `name` with uid and gid `uid` (group of the same name) for the
/// rest of this namespace's life, and create its home directory.
pub fn add(name: &str, uid: u32) -> Result<(), RunError> {
    fs::create_dir_all(ETC).map_err(RunError::io("mkdir", ETC))?;
    let home = home(name);
    add_entry(
        "passwd",
        name,
        uid,
        &format!("{name}:x:{uid}:{uid}:{name}:{home}:/bin/sh"),
    )?;
    add_entry("group", name, uid, &format!("{name}:x:{uid}:"))?;
    fs::create_dir_all(&home).map_err(RunError::io("mkdir", &home))?;
    layout::set_mode(Path::new(&home), 0o755)?;
    chown(&home, Some(uid), Some(uid)).map_err(RunError::io("chown", &home))?;
    Ok(())
}

/// Replace `/etc/<file>` (by a bind mount) with a copy where any entry
/// with the same name or id is replaced by `line`.
fn add_entry(file: &str, name: &str, id: u32, line: &str) -> Result<(), RunError> {
    let etc = format!("/etc/{file}");
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
    let copy = format!("{ETC}/{file}.{name}");
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
