//! Pins: what keeps blocks alive besides valid store paths.
//!
//! * `pins/per-user/<user>/<prog>/<cid>` — a symlink to `<state>/store/<cid>`.
//! * `pins/per-user/<user>/<prog>/auto/<hash>` — a symlink to a link the
//!   user made elsewhere (like Nix's indirect roots); it pins whatever that
//!   link points to and is removed once the user's link is gone.
//! * `pins/temp/<pid>[.<n>]` — the CIDs an add in progress has written or
//!   relies on, one per line, appended *before* the block is looked up or
//!   written. GC re-reads these after moving a dead block aside and puts
//!   back anything that appeared, so adds never wait for GC.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use nix_formats::hash::Hash;

/// Whether a process is alive (its `/proc` entry exists).
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// The pin directories of a state dir.
#[derive(Debug, Clone)]
pub struct Pins {
    state: PathBuf,
}

/// One pin as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEntry {
    pub link: PathBuf,
    pub cid: Cid,
}

impl Pins {
    pub fn new(state: &Path) -> Self {
        Pins {
            state: state.to_owned(),
        }
    }

    fn per_user(&self) -> PathBuf {
        self.state.join("pins/per-user")
    }

    fn temp_dir(&self) -> PathBuf {
        self.state.join("pins/temp")
    }

    fn prog_dir(&self, user: &str, prog: &str) -> PathBuf {
        self.per_user().join(user).join(prog)
    }

    /// Where a CID's content appears (the target every pin link names).
    pub fn store_path_of(&self, cid: &Cid) -> PathBuf {
        self.state.join("store").join(cid.to_string())
    }

    /// Pins `cid` for `user`/`prog`.
    pub fn add(&self, user: &str, prog: &str, cid: &Cid) -> io::Result<PathBuf> {
        let dir = self.prog_dir(user, prog);
        fs::create_dir_all(&dir)?;
        let link = dir.join(cid.to_string());
        let tmp = dir.join(format!(".{}.tmp", cid));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(self.store_path_of(cid), &tmp)?;
        fs::rename(&tmp, &link)?;
        Ok(link)
    }

    /// Removes `user`/`prog`'s pin of `cid`; false if there was none.
    pub fn remove(&self, user: &str, prog: &str, cid: &Cid) -> io::Result<bool> {
        match fs::remove_file(self.prog_dir(user, prog).join(cid.to_string())) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Registers an automatic pin for a link the user made at `user_link`
    /// (which must point into `<state>/store/<cid>`).
    pub fn add_auto(&self, user: &str, prog: &str, user_link: &Path) -> io::Result<PathBuf> {
        let dir = self.prog_dir(user, prog).join("auto");
        fs::create_dir_all(&dir)?;
        let name = Hash::of_bytes(
            nix_formats::HashAlgo::Sha1,
            user_link.as_os_str().as_encoded_bytes(),
        )
        .to_nix32();
        let link = dir.join(name);
        let tmp = dir.join(".auto.tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(user_link, &tmp)?;
        fs::rename(&tmp, &link)?;
        Ok(link)
    }

    /// Follows a pin link to the CID it keeps, if it still resolves into
    /// `<state>/store/<cid>`.
    fn resolve(&self, link: &Path) -> Option<Cid> {
        let store = self.state.join("store");
        let mut cur = link.to_owned();
        for _ in 0..16 {
            let target = fs::read_link(&cur).ok()?;
            let target = if target.is_absolute() {
                target
            } else {
                cur.parent()?.join(target)
            };
            if let Ok(rest) = target.strip_prefix(&store) {
                return rest.components().next()?.as_os_str().to_str()?.parse().ok();
            }
            cur = target;
        }
        None
    }

    /// Every pin (per-user and auto). Links that no longer resolve are
    /// returned in the second list (GC removes them).
    pub fn list(&self) -> io::Result<(Vec<PinEntry>, Vec<PathBuf>)> {
        let (mut live, mut dangling) = (Vec::new(), Vec::new());
        let mut stack = vec![self.per_user()];
        while let Some(dir) = stack.pop() {
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for e in rd {
                let e = e?;
                let ft = e.file_type()?;
                let path = e.path();
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_symlink() && !e.file_name().to_string_lossy().ends_with(".tmp") {
                    match self.resolve(&path) {
                        Some(cid) => live.push(PinEntry { link: path, cid }),
                        None => dangling.push(path),
                    }
                }
            }
        }
        live.sort_by(|a, b| a.link.cmp(&b.link));
        Ok((live, dangling))
    }

    /// CIDs named by every live temp pin; stale files (dead pids) are removed.
    pub fn temp_cids(&self) -> io::Result<HashSet<Cid>> {
        let mut out = HashSet::new();
        let rd = match fs::read_dir(self.temp_dir()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for e in rd {
            let e = e?;
            let name = e.file_name();
            let pid = name
                .to_str()
                .and_then(|s| s.split('.').next())
                .and_then(|p| p.parse::<i32>().ok());
            if pid.is_none_or(|p| !pid_alive(p)) {
                let _ = fs::remove_file(e.path());
                continue;
            }
            let text = match fs::read_to_string(e.path()) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            out.extend(text.lines().filter_map(|l| l.parse::<Cid>().ok()));
        }
        Ok(out)
    }

    /// Starts a temp pin for this process.
    pub fn temp(&self) -> io::Result<TempPin> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(self.temp_dir())?;
        let path = self.temp_dir().join(format!(
            "{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(TempPin { path, file })
    }
}

/// A temp pin; removed when dropped.
#[derive(Debug)]
pub struct TempPin {
    path: PathBuf,
    file: fs::File,
}

impl TempPin {
    /// Records `cid` (visible to GC as soon as this returns).
    pub fn add(&mut self, cid: &Cid) -> io::Result<()> {
        self.file.write_all(format!("{cid}\n").as_bytes())
    }
}

impl Drop for TempPin {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
