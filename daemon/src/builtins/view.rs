//! The file system as a builtin builder sees it: logical paths (`/nix/store/…`,
//! `$out/…`) mapped onto host paths, with symlinks resolved in the logical
//! name space.
//!
//! Nix 2.8 runs builtins in the build sandbox, where the store is at its
//! logical place. Here the store may be mounted elsewhere
//! ([`super::BuiltinContext::store_root`]) and `$out` is a scratch path, so
//! an absolute symlink such as `/nix/store/abc-foo/share` must not be
//! followed by the host kernel. Every lookup walks the path one component at
//! a time, like the kernel does: a prefix that is known to be resolved is
//! mapped to a host path and `lstat`ed, symlinks are read and spliced in.
//! The store directory and its ancestors are directories by definition.

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One more than Linux's `MAXSYMLINKS` (40): `stat` follows 40 symlinks and
/// fails with `ELOOP` on the 41st.
const KERNEL_MAX_FOLLOW: u32 = 41;
/// Nix's `canonPath` limit.
const CANON_MAX_FOLLOW: u32 = 1024;
/// `ELOOP` on Linux.
const ELOOP: i32 = 40;

/// What paths outside the store directory (and `$out`) look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutsideStore {
    /// They do not exist, as in Nix's build sandbox (the default, and what
    /// nix-daemon does with `sandbox = true`): a symlink to `/usr/bin/x` in
    /// a package is dangling.
    #[default]
    Hidden,
    /// They are the host's own paths (Nix with `sandbox = false`).
    Host,
}

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    Symlink,
    /// Regular file, device, socket, …
    Other,
}

impl Kind {
    fn of(meta: &Metadata) -> Kind {
        let t = meta.file_type();
        if t.is_dir() {
            Kind::Directory
        } else if t.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        }
    }
}

/// Where a fully resolved logical path is.
enum Place {
    /// The store directory or one of its ancestors.
    StoreAncestor,
    Host(PathBuf),
    /// Outside the store while [`OutsideStore::Hidden`].
    Hidden,
}

/// Why resolving a path failed.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// A component could not be examined; `at` is the logical prefix that
    /// failed (Nix's `canonPath` names it in its error).
    Io { at: Vec<u8>, source: io::Error },
    /// More symlinks than allowed; `rest` is what was left to resolve.
    Loop { rest: Vec<u8> },
}

impl ResolveError {
    /// The error as the kernel would report it from `stat`.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            ResolveError::Io { source, .. } => source,
            ResolveError::Loop { .. } => io::Error::from_raw_os_error(ELOOP),
        }
    }
}

/// A logical view of the file system.
#[derive(Debug, Clone)]
pub(crate) struct View<'a> {
    store_dir: &'a [u8],
    store_root: &'a Path,
    out: &'a [u8],
    out_host: &'a Path,
    outside: OutsideStore,
}

impl<'a> View<'a> {
    pub(crate) fn new(
        store_dir: &'a str,
        store_root: &'a Path,
        out: &'a str,
        out_host: &'a Path,
        outside: OutsideStore,
    ) -> Self {
        View {
            store_dir: store_dir.as_bytes(),
            store_root,
            out: out.as_bytes(),
            out_host,
            outside,
        }
    }

    /// Where a resolved logical path is on the host.
    fn place(&self, logical: &[u8]) -> Place {
        if let Some(rest) = strip_dir(logical, self.out) {
            return Place::Host(join_bytes(self.out_host, rest));
        }
        if let Some(rest) = strip_dir(logical, self.store_dir) {
            return Place::Host(join_bytes(self.store_root, rest));
        }
        if is_dir_prefix(logical, self.store_dir) {
            return Place::StoreAncestor;
        }
        match self.outside {
            OutsideStore::Hidden => Place::Hidden,
            OutsideStore::Host => Place::Host(PathBuf::from(OsStr::from_bytes(logical))),
        }
    }

    /// The host path of a logical path below `$out` (which holds only real
    /// directories and the links this builder makes, so needs no resolving).
    pub(crate) fn out_path(&self, logical: &[u8]) -> PathBuf {
        match strip_dir(logical, self.out) {
            Some(rest) => join_bytes(self.out_host, rest),
            None => PathBuf::from(OsStr::from_bytes(logical)),
        }
    }

    /// `lstat` of a resolved path.
    fn lstat_resolved(&self, logical: &[u8]) -> io::Result<Kind> {
        match self.place(logical) {
            Place::StoreAncestor => Ok(Kind::Directory),
            Place::Host(p) => fs::symlink_metadata(p).map(|m| Kind::of(&m)),
            Place::Hidden => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn readlink_resolved(&self, logical: &[u8]) -> io::Result<Vec<u8>> {
        match self.place(logical) {
            Place::Host(p) => fs::read_link(p).map(|t| t.into_os_string().into_vec()),
            Place::StoreAncestor => Err(io::Error::from_raw_os_error(22)),
            Place::Hidden => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    /// Resolves `path` (absolute) like Nix's `canonPath(path, true)` when
    /// `follow_last`, or its parent only otherwise, following at most
    /// `max_follow` symlinks.
    fn resolve(
        &self,
        path: &[u8],
        follow_last: bool,
        max_follow: u32,
    ) -> Result<Vec<u8>, ResolveError> {
        let mut resolved: Vec<u8> = Vec::new();
        let mut rest: Vec<u8> = path.to_vec();
        let mut followed = 0;
        loop {
            let start = rest.iter().position(|&b| b != b'/').unwrap_or(rest.len());
            rest.drain(..start);
            if rest.is_empty() {
                break;
            }
            let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let component: Vec<u8> = rest.drain(..end).collect();
            match component.as_slice() {
                b"." => continue,
                b".." => {
                    let cut = resolved.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    resolved.truncate(cut);
                    continue;
                }
                _ => {}
            }
            let parent_len = resolved.len();
            resolved.push(b'/');
            resolved.extend_from_slice(&component);
            if rest.is_empty() && !follow_last {
                break;
            }
            let kind = self
                .lstat_resolved(&resolved)
                .map_err(|source| ResolveError::Io {
                    at: resolved.clone(),
                    source,
                })?;
            if kind != Kind::Symlink {
                continue;
            }
            followed += 1;
            if followed >= max_follow {
                return Err(ResolveError::Loop { rest });
            }
            let mut target =
                self.readlink_resolved(&resolved)
                    .map_err(|source| ResolveError::Io {
                        at: resolved.clone(),
                        source,
                    })?;
            target.extend_from_slice(&rest);
            rest = target;
            if rest.first() == Some(&b'/') {
                resolved.clear();
            } else {
                resolved.truncate(parent_len);
            }
        }
        if resolved.is_empty() {
            resolved.push(b'/');
        }
        Ok(resolved)
    }

    /// Nix's `canonPath(path, true)`.
    pub(crate) fn canon_path(&self, path: &[u8]) -> Result<Vec<u8>, ResolveError> {
        self.resolve(path, true, CANON_MAX_FOLLOW)
    }

    /// `stat(2)`: the kind of what `path` finally names.
    pub(crate) fn stat(&self, path: &[u8]) -> io::Result<Kind> {
        let resolved = self
            .resolve(path, true, KERNEL_MAX_FOLLOW)
            .map_err(ResolveError::into_io)?;
        self.lstat_resolved(&resolved)
    }

    /// `lstat(2)`.
    pub(crate) fn lstat(&self, path: &[u8]) -> io::Result<Kind> {
        let resolved = self
            .resolve(path, false, KERNEL_MAX_FOLLOW)
            .map_err(ResolveError::into_io)?;
        self.lstat_resolved(&resolved)
    }

    /// `readlink(2)`.
    pub(crate) fn read_link(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        let resolved = self
            .resolve(path, false, KERNEL_MAX_FOLLOW)
            .map_err(ResolveError::into_io)?;
        self.readlink_resolved(&resolved)
    }

    /// The host path `path` finally names, if it is on the host.
    fn host_target(&self, path: &[u8]) -> io::Result<PathBuf> {
        let resolved = self
            .resolve(path, true, KERNEL_MAX_FOLLOW)
            .map_err(ResolveError::into_io)?;
        match self.place(&resolved) {
            Place::Host(p) => Ok(p),
            // Listing `/`, `/nix` or the store itself is never needed.
            Place::StoreAncestor => Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            Place::Hidden => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    /// `opendir` + `readdir`: the names in a directory (without `.` and
    /// `..`), sorted by bytes. Nix takes them in `readdir` order, which
    /// changes no result, only which of several collisions is reported.
    pub(crate) fn read_dir(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let host = self.host_target(path)?;
        let mut names = Vec::new();
        for entry in fs::read_dir(host)? {
            names.push(entry?.file_name().into_vec());
        }
        names.sort();
        Ok(names)
    }

    /// `readFile`: a file's contents, following symlinks.
    pub(crate) fn read_file(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        fs::read(self.host_target(path)?)
    }
}

/// `path` below `dir` (`Some(b"")` for `dir` itself, `Some(b"/x")` below).
fn strip_dir<'p>(path: &'p [u8], dir: &[u8]) -> Option<&'p [u8]> {
    let rest = path.strip_prefix(dir)?;
    (rest.is_empty() || rest.first() == Some(&b'/')).then_some(rest)
}

/// Whether `path` is `dir` or one of its ancestors.
fn is_dir_prefix(path: &[u8], dir: &[u8]) -> bool {
    path == b"/" || strip_dir(dir, path).is_some()
}

/// `base` + `rest` where `rest` is empty or starts with `/`.
fn join_bytes(base: &Path, rest: &[u8]) -> PathBuf {
    let mut bytes = base.as_os_str().as_bytes().to_vec();
    bytes.extend_from_slice(rest);
    PathBuf::from(OsStr::from_bytes(&bytes))
}

trait IntoVec {
    fn into_vec(self) -> Vec<u8>;
}

impl IntoVec for std::ffi::OsString {
    fn into_vec(self) -> Vec<u8> {
        std::os::unix::ffi::OsStringExt::into_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temporary directory")
    }

    #[test]
    fn absolute_links_resolve_through_the_store_root() {
        let t = tmp();
        let root = t.path().join("store");
        fs::create_dir_all(root.join("aaa-real/share/doc")).expect("mkdir");
        fs::create_dir_all(root.join("bbb-link")).expect("mkdir");
        symlink("/nix/store/aaa-real/share", root.join("bbb-link/share")).expect("symlink");
        symlink("../bbb-link/share", root.join("bbb-link/rel")).expect("symlink");
        symlink("loop", root.join("bbb-link/loop")).expect("symlink");
        let out_host = t.path().join("out");
        let view = View::new(
            "/nix/store",
            &root,
            "/nix/store/ccc-out",
            &out_host,
            OutsideStore::Hidden,
        );
        let p = b"/nix/store/bbb-link/share/doc";
        assert_eq!(view.stat(p).expect("stat"), Kind::Directory);
        assert_eq!(
            view.lstat(b"/nix/store/bbb-link/share").expect("lstat"),
            Kind::Symlink
        );
        assert_eq!(
            view.canon_path(b"/nix/store/bbb-link/rel/doc")
                .expect("canon"),
            b"/nix/store/aaa-real/share/doc".to_vec()
        );
        assert_eq!(
            view.stat(b"/nix/store/bbb-link/loop")
                .expect_err("a loop")
                .raw_os_error(),
            Some(ELOOP)
        );
        assert!(matches!(
            view.canon_path(b"/nix/store/bbb-link/loop"),
            Err(ResolveError::Loop { .. })
        ));
        assert_eq!(view.stat(b"/nix").expect("ancestor"), Kind::Directory);
        assert_eq!(
            view.stat(b"/etc").expect_err("hidden").kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(view.read_dir(p).expect("readdir"), Vec::<Vec<u8>>::new());
    }
}
