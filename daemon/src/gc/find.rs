//! Finding GC roots the way Nix 2.8 does, so that `--print-roots`,
//! `-q --roots` and the collector see the same roots under the same names:
//!
//! * `gcroots/` and then `profiles/` are walked recursively (directory
//!   entries in the order the file system lists them). A symlink into the
//!   store is a root named by the link. A symlink elsewhere is an
//!   *indirect* root: if its (absolute) target is itself a symlink into the
//!   store, that target link is the root (one level only — a link to a
//!   directory is not followed, so `gcroots/profiles` adds nothing); if the
//!   target does not exist and the link is in `gcroots/auto`, the link is
//!   removed as stale. A regular file whose name is a valid store path's
//!   base name is a root too.
//! * Links to store paths that are not valid are reported ("skipping
//!   invalid root") and ignored.
//! * Run-time roots: store paths named by `/proc/<pid>/{exe,cwd,fd/*}`,
//!   by the file column of `/proc/<pid>/maps`, anywhere in
//!   `/proc/<pid>/environ`, and by three kernel helper settings.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, FileType};
use std::io;
use std::path::{Component, Path, PathBuf};

use nix_formats::store_path::{StoreDir, StorePath};

/// Each root with the links (or `/proc` files, or `{censored}`) naming it.
pub type Roots = BTreeMap<StorePath, BTreeSet<String>>;

/// How Nix names a root whose origin an untrusted client may not see.
pub const CENSORED: &str = "{censored}";

/// One walk over the permanent roots.
pub struct Finder<'a> {
    sd: &'a StoreDir,
    auto_dir: PathBuf,
    is_valid: &'a dyn Fn(&StorePath) -> bool,
    /// What was found.
    pub roots: Roots,
    /// Nix's info messages, in order.
    pub log: Vec<String>,
}

impl std::fmt::Debug for Finder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finder")
            .field("auto_dir", &self.auto_dir)
            .field("roots", &self.roots)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// Whether `s` names something below the store directory.
fn in_store(sd: &StoreDir, s: &str) -> bool {
    s.strip_prefix(sd.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|r| !r.is_empty())
}

/// The store path `s` is in, if its first component parses as one.
fn store_path_of(sd: &StoreDir, s: &str) -> Option<StorePath> {
    sd.parse_path_within(s).ok().map(|(p, _)| p)
}

/// `target` made absolute against `dir`, with `.` and `..` resolved
/// lexically (Nix's `absPath`, which does not follow symlinks).
fn abs_path(target: &Path, dir: &Path) -> PathBuf {
    let joined = if target.is_absolute() {
        target.to_owned()
    } else {
        dir.join(target)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn shown(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl<'a> Finder<'a> {
    /// A finder for the store `sd` whose state directory is `state`;
    /// `is_valid` says which store paths are valid.
    pub fn new(sd: &'a StoreDir, state: &Path, is_valid: &'a dyn Fn(&StorePath) -> bool) -> Self {
        Finder {
            sd,
            auto_dir: state.join("gcroots").join("auto"),
            is_valid,
            roots: Roots::new(),
            log: Vec::new(),
        }
    }

    /// Walks `<state>/gcroots` and `<state>/profiles`.
    pub fn permanent(&mut self, state: &Path) {
        self.visit(&state.join("gcroots"), None);
        self.visit(&state.join("profiles"), None);
    }

    fn cannot_read(&mut self, path: &Path, e: &io::Error) {
        use io::ErrorKind as K;
        if matches!(
            e.kind(),
            K::NotFound | K::PermissionDenied | K::NotADirectory
        ) {
            self.log
                .push(format!("cannot read potential root '{}'", shown(path)));
        }
    }

    fn found(&mut self, link: &str, target: &str) {
        let Some(p) = store_path_of(self.sd, target) else {
            return;
        };
        if (self.is_valid)(&p) {
            self.roots.entry(p).or_default().insert(link.to_owned());
        } else {
            self.log
                .push(format!("skipping invalid root from '{link}' to '{target}'"));
        }
    }

    fn visit(&mut self, path: &Path, kind: Option<FileType>) {
        let kind = match kind {
            Some(k) => k,
            None => match fs::symlink_metadata(path) {
                Ok(m) => m.file_type(),
                Err(e) => return self.cannot_read(path, &e),
            },
        };
        if kind.is_dir() {
            let entries = match fs::read_dir(path) {
                Ok(rd) => rd,
                Err(e) => return self.cannot_read(path, &e),
            };
            let mut children = Vec::new();
            for e in entries {
                match e {
                    Ok(e) => children.push((e.path(), e.file_type().ok())),
                    Err(e) => return self.cannot_read(path, &e),
                }
            }
            for (child, kind) in children {
                self.visit(&child, kind);
            }
        } else if kind.is_symlink() {
            let target = match fs::read_link(path) {
                Ok(t) => t,
                Err(e) => return self.cannot_read(path, &e),
            };
            let t = shown(&target);
            if in_store(self.sd, &t) {
                return self.found(&shown(path), &t);
            }
            let target = abs_path(&target, path.parent().unwrap_or(Path::new("/")));
            match fs::symlink_metadata(&target) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    if path.starts_with(&self.auto_dir) {
                        self.log.push(format!(
                            "removing stale link from '{}' to '{}'",
                            shown(path),
                            shown(&target)
                        ));
                        // Losing the race with another remover is fine.
                        let _ = fs::remove_file(path);
                    }
                }
                Err(e) => self.cannot_read(path, &e),
                Ok(m) if m.file_type().is_symlink() => match fs::read_link(&target) {
                    Ok(t2) => {
                        let t2 = shown(&t2);
                        if in_store(self.sd, &t2) {
                            self.found(&shown(&target), &t2);
                        }
                    }
                    Err(e) => self.cannot_read(path, &e),
                },
                Ok(_) => {}
            }
        } else if kind.is_file() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(p) = name.and_then(|n| StorePath::from_base_name(&n).ok()) {
                if (self.is_valid)(&p) {
                    self.roots.entry(p).or_default().insert(shown(path));
                }
            }
        }
    }
}

/// `readlink` of a `/proc` link, if it is an absolute path.
fn proc_link(file: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    if let Ok(t) = fs::read_link(file) {
        let t = shown(&t);
        if t.starts_with('/') {
            out.entry(t).or_default().insert(file.to_owned());
        }
    }
}

/// The file column of a `maps` line, when the line has exactly six fields
/// and the sixth is an absolute path.
fn maps_file(line: &str) -> Option<&str> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields.len() == 6 && fields[5].starts_with('/')).then(|| fields[5])
}

/// Every `<store>/<hash-ish>…` string in `text` (Nix's
/// `<store>/[0-9a-z]+[0-9a-zA-Z+\-._?=]*`).
fn store_strings<'t>(sd: &StoreDir, text: &'t str) -> Vec<&'t str> {
    let prefix = format!("{}/", sd.as_str());
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(&prefix) {
        let start = from + i;
        let rest = &text[start + prefix.len()..];
        let first = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            .count();
        if first == 0 {
            from = start + prefix.len();
            continue;
        }
        let more = rest[first..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(b))
            .count();
        let end = start + prefix.len() + first + more;
        out.push(&text[start..end]);
        from = end;
    }
    out
}

/// Store paths that running processes use, each with the `/proc` files
/// that name it (or [`CENSORED`] when `censor`). `skip_pid` is left out
/// (the daemon itself).
pub fn runtime(
    sd: &StoreDir,
    is_valid: &dyn Fn(&StorePath) -> bool,
    censor: bool,
    skip_pid: u32,
) -> Roots {
    let mut unchecked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let skip = skip_pid.to_string();
    if let Ok(procs) = fs::read_dir("/proc") {
        for e in procs.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == skip {
                continue;
            }
            proc_link(&format!("/proc/{pid}/exe"), &mut unchecked);
            proc_link(&format!("/proc/{pid}/cwd"), &mut unchecked);
            let fd_dir = format!("/proc/{pid}/fd");
            let Ok(fds) = fs::read_dir(&fd_dir) else {
                continue;
            };
            for fd in fds.flatten() {
                let name = fd.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') {
                    proc_link(&format!("{fd_dir}/{name}"), &mut unchecked);
                }
            }
            let maps = format!("/proc/{pid}/maps");
            if let Ok(text) = fs::read_to_string(&maps) {
                for l in text.lines() {
                    if let Some(f) = maps_file(l) {
                        unchecked
                            .entry(f.to_owned())
                            .or_default()
                            .insert(maps.clone());
                    }
                }
            }
            let environ = format!("/proc/{pid}/environ");
            if let Ok(bytes) = fs::read(&environ) {
                let text = String::from_utf8_lossy(&bytes);
                for s in store_strings(sd, &text) {
                    unchecked
                        .entry(s.to_owned())
                        .or_default()
                        .insert(environ.clone());
                }
            }
        }
    }
    for f in [
        "/proc/sys/kernel/modprobe",
        "/proc/sys/kernel/fbsplash",
        "/proc/sys/kernel/poweroff_cmd",
    ] {
        if let Ok(text) = fs::read_to_string(f) {
            unchecked.entry(text).or_default().insert(f.to_owned());
        }
    }
    let mut roots = Roots::new();
    for (target, links) in unchecked {
        if !in_store(sd, &target) {
            continue;
        }
        let Some(p) = store_path_of(sd, &target) else {
            continue;
        };
        if !is_valid(&p) {
            continue;
        }
        let names = roots.entry(p).or_default();
        if censor {
            names.insert(CENSORED.to_owned());
        } else {
            names.extend(links);
        }
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const A: &str = "7gi508ksc9a0njwp6m2d563j05a3dsvn-a";
    const B: &str = "rwqbwsri5vk2lyfqaxi01wsv4ynrbafb-b";

    #[test]
    fn relative_targets_are_resolved_lexically() {
        assert_eq!(
            abs_path(
                Path::new("default-1-link"),
                Path::new("/nix/var/nix/profiles")
            ),
            PathBuf::from("/nix/var/nix/profiles/default-1-link")
        );
        assert_eq!(
            abs_path(Path::new("../x/./y"), Path::new("/a/b")),
            PathBuf::from("/a/x/y")
        );
    }

    #[test]
    fn maps_and_environ_are_read_like_nix() {
        assert_eq!(
            maps_file("7f00-7f01 r-xp 00000000 00:2a 12 /nix/store/x-a/lib/libc.so"),
            Some("/nix/store/x-a/lib/libc.so")
        );
        assert_eq!(
            maps_file("7f00-7f01 r-xp 0 00:2a 12 /tmp/f (deleted)"),
            None
        );
        assert_eq!(maps_file("7f00-7f01 rw-p 00000000 00:00 0"), None);
        let sd = StoreDir::new("/nix/store").expect("store dir");
        assert_eq!(
            store_strings(
                &sd,
                "PATH=/nix/store/abc-x/bin:/nix/store/\0Z=/nix/store/9z-y=1"
            ),
            vec!["/nix/store/abc-x", "/nix/store/9z-y=1"]
        );
    }

    /// A process whose working directory is inside a store path keeps it,
    /// named by `/proc/<pid>/cwd` (or censored); invalid paths are not
    /// roots.
    #[test]
    fn a_process_working_in_a_store_path_is_a_runtime_root() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = t.path().join("store");
        let inside = store.join(A).join("sub");
        fs::create_dir_all(&inside).expect("mkdir");
        let sd = StoreDir::new(store.to_string_lossy().into_owned()).expect("store dir");
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .current_dir(&inside)
            .spawn()
            .expect("sleep runs");
        let a = StorePath::from_base_name(A).expect("path");
        let me = std::process::id();
        let seen = runtime(&sd, &|_| true, false, me);
        let censored = runtime(&sd, &|_| true, true, me);
        let invalid = runtime(&sd, &|_| false, false, me);
        // Best effort: the child is ours and only sleeps.
        let _ = child.kill();
        let _ = child.wait();
        let cwd = format!("/proc/{}/cwd", child.id());
        assert!(seen.get(&a).is_some_and(|n| n.contains(&cwd)), "{seen:?}");
        assert_eq!(
            censored
                .get(&a)
                .map(|n| n.iter().cloned().collect::<Vec<_>>()),
            Some(vec![CENSORED.to_owned()])
        );
        assert!(!invalid.contains_key(&a));
    }

    /// Nix's naming: direct links by themselves, indirect ones by the link
    /// they point to, profiles by their generation link; stale `auto`
    /// links removed; invalid targets skipped; regular files by name.
    #[test]
    fn permanent_roots_are_found_and_named_like_nix() {
        let t = tempfile::tempdir().expect("tempdir");
        let state = t.path().join("var");
        let (gc, prof, auto) = (
            state.join("gcroots"),
            state.join("profiles"),
            state.join("gcroots/auto"),
        );
        for d in [&gc, &prof, &auto, &gc.join("nested/deeper")] {
            fs::create_dir_all(d).expect("mkdir");
        }
        let a = format!("/nix/store/{A}");
        let b = format!("/nix/store/{B}");
        symlink(&prof, gc.join("profiles")).expect("ln");
        symlink(format!("{a}/bin/x"), gc.join("nested/deeper/direct")).expect("ln");
        let client = t.path().join("result");
        symlink(&b, &client).expect("ln");
        symlink(&client, auto.join("ind")).expect("ln");
        symlink(t.path().join("gone"), auto.join("stale")).expect("ln");
        symlink(
            "/nix/store/00000000000000000000000000000000-x",
            gc.join("bad"),
        )
        .expect("ln");
        fs::write(gc.join(A), "").expect("file root");
        symlink(&a, prof.join("default-1-link")).expect("ln");
        symlink("default-1-link", prof.join("default")).expect("ln");
        let sd = StoreDir::new("/nix/store").expect("store dir");
        let valid = |p: &StorePath| p.name() != "x";
        let mut f = Finder::new(&sd, &state, &valid);
        f.permanent(&state);
        let names = |p: &str| -> Vec<String> {
            f.roots[&StorePath::from_base_name(p).expect("path")]
                .iter()
                .cloned()
                .collect()
        };
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        assert_eq!(
            names(A),
            vec![
                s(gc.join(A)),
                s(gc.join("nested/deeper/direct")),
                s(prof.join("default-1-link"))
            ]
        );
        assert_eq!(names(B), vec![s(client)]);
        assert_eq!(f.roots.len(), 2);
        assert!(!auto.join("stale").exists(), "stale auto link removed");
        assert!(
            f.log
                .iter()
                .any(|l| l.starts_with("removing stale link from '") && l.ends_with("/gone'")),
            "{:?}",
            f.log
        );
        assert!(
            f.log
                .iter()
                .any(|l| l.starts_with("skipping invalid root from '"))
        );
    }
}
