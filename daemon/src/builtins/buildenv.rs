//! `builtin:buildenv`: the user environment `nix-env` installs into a
//! profile, as Nix 2.8's `buildProfile` makes it.
//!
//! The environment carries `derivations`, a flat sequence of
//! `ACTIVE PRIORITY N OUTPATH₁ … OUTPATHₙ` entries (from nix-env's
//! `buildenv.nix`), and `manifest`, a store path linked as
//! `$out/manifest.nix` once the tree is built.
//!
//! The tree is a forest of symlinks into the packages:
//!
//! * Packages are taken by ascending priority number (0 is the highest
//!   priority), ties by path; inactive ones (`ACTIVE` = `false`) are left
//!   out, and a path is linked only once.
//! * For each name in a package directory (names starting with `.` are
//!   skipped, and so are `…/propagated-build-inputs`, `…/nix-support`,
//!   `…/perllocal.pod`, `…/info/dir`, `…/log`, `…/manifest.nix` and
//!   `…/manifest.json` wherever they occur) a symlink is made in `$out`. A
//!   directory meeting a link to another directory is merged: the link is
//!   replaced by a real directory holding links to both sides' contents.
//! * A file meeting a link keeps the link of the lower priority number; on
//!   a tie the build fails. A directory meeting a link to a non-directory,
//!   or a file meeting a merged directory, fails too.
//! * Names a symlink resolves to nothing are skipped with a warning; a
//!   package output that is not a directory is skipped with a warning.
//! * Each package's `nix-support/propagated-user-env-packages` (paths
//!   separated by spaces or newlines) lists packages to add afterwards, in
//!   rounds, with priorities 1000, 1001, … in path order.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, symlink};

use super::error::BuiltinError;
use super::text::NixText;
use super::view::{Kind, ResolveError, View};
use super::{BuiltinContext, LogMessage, Logger, attr};

/// Names (as path suffixes) never linked into a profile.
const IGNORED_SUFFIXES: [&[u8]; 7] = [
    b"/propagated-build-inputs",
    b"/nix-support",
    b"/perllocal.pod",
    b"/info/dir",
    b"/log",
    b"/manifest.nix",
    b"/manifest.json",
];

/// The first priority number given to propagated packages.
const PROPAGATED_PRIORITY: i32 = 1000;

/// One output path of a package to link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub path: Vec<u8>,
    pub active: bool,
    pub priority: i32,
}

pub(crate) fn run(
    env: &BTreeMap<String, String>,
    ctx: &BuiltinContext<'_>,
    log: &mut Logger<'_>,
) -> Result<(), BuiltinError> {
    let out = attr(env, "out")?;
    DirBuilder::new()
        .recursive(true)
        .create(&ctx.out_host)
        .map_err(|e| BuiltinError::sys(quoted("creating directory '", out, "'"), e))?;

    let packages = parse_derivations(attr(env, "derivations")?)?;
    let view = View::new(
        ctx.store_dir.as_str(),
        &ctx.store_root,
        out,
        &ctx.out_host,
        ctx.outside_store,
    );
    let mut builder = Builder {
        view: &view,
        log,
        priorities: BTreeMap::new(),
    };
    builder.build_profile(out.as_bytes(), packages)?;

    let manifest = attr(env, "manifest")?;
    let link = format!("{out}/manifest.nix");
    symlink(manifest, view.out_path(link.as_bytes())).map_err(|e| {
        let context = NixText::new()
            .lit("creating symlink from '")
            .arg(&link)
            .lit("' to '")
            .arg(manifest)
            .lit("'");
        BuiltinError::sys(context, e)
    })
}

/// Parses `derivations`: `ACTIVE PRIORITY N PATH…` repeated, separated by
/// whitespace.
pub(crate) fn parse_derivations(s: &str) -> Result<Vec<Package>, BuiltinError> {
    let mut tokens = s.split([' ', '\t', '\n', '\r']).filter(|t| !t.is_empty());
    let mut packages = Vec::new();
    while let Some(active) = tokens.next() {
        let priority = stoi(tokens.next(), "priority")?;
        let outputs = stoi(tokens.next(), "number of outputs")?;
        for _ in 0..outputs {
            let path = tokens.next().ok_or_else(|| BuiltinError::BadDerivations {
                detail: format!("expected {outputs} output paths"),
            })?;
            packages.push(Package {
                path: path.as_bytes().to_vec(),
                active: active != "false",
                priority,
            });
        }
    }
    Ok(packages)
}

/// C++'s `std::stoi`: an optional sign and digits, anything after ignored.
fn stoi(token: Option<&str>, what: &str) -> Result<i32, BuiltinError> {
    let bad = |detail: String| BuiltinError::BadDerivations { detail };
    let token = token.ok_or_else(|| bad(format!("missing {what}")))?;
    let digits_start = usize::from(token.starts_with(['+', '-']));
    let digits_end = token[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(token.len(), |i| i + digits_start);
    if digits_end == digits_start {
        return Err(bad(format!("{what} '{token}' is not a number")));
    }
    let number = token[..digits_end].trim_start_matches('+');
    number
        .parse::<i32>()
        .map_err(|_| bad(format!("{what} '{token}' is out of range")))
}

struct Builder<'v, 'l, 'c> {
    view: &'v View<'v>,
    log: &'l mut Logger<'c>,
    /// The priority of each link made, by its logical path.
    priorities: BTreeMap<Vec<u8>, i32>,
}

impl Builder<'_, '_, '_> {
    fn warn(&mut self, text: String) {
        self.log.log(LogMessage::warn(text));
    }

    fn build_profile(
        &mut self,
        out: &[u8],
        mut packages: Vec<Package>,
    ) -> Result<(), BuiltinError> {
        let mut done = BTreeSet::new();
        let mut postponed = BTreeSet::new();

        packages.sort_by(|a, b| (a.priority, &a.path).cmp(&(b.priority, &b.path)));
        for pkg in packages.iter().filter(|p| p.active) {
            self.add_package(out, &pkg.path, pkg.priority, &mut done, &mut postponed)?;
        }

        let mut priority = PROPAGATED_PRIORITY;
        while !postponed.is_empty() {
            for dir in std::mem::take(&mut postponed) {
                self.add_package(out, &dir, priority, &mut done, &mut postponed)?;
                priority = priority.saturating_add(1);
            }
        }
        Ok(())
    }

    fn add_package(
        &mut self,
        out: &[u8],
        dir: &[u8],
        priority: i32,
        done: &mut BTreeSet<Vec<u8>>,
        postponed: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), BuiltinError> {
        if !done.insert(dir.to_vec()) {
            return Ok(());
        }
        self.create_links(dir, out, priority)?;

        let list = join(dir, b"nix-support/propagated-user-env-packages");
        match self.view.read_file(&list) {
            Ok(text) => {
                for p in text.split(|&b| b == b' ' || b == b'\n') {
                    if !p.is_empty() && !done.contains(p) {
                        postponed.insert(p.to_vec());
                    }
                }
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(BuiltinError::sys(quoted_b("opening file '", &list, "'"), e)),
        }
        Ok(())
    }

    /// Nix's `createLinks`: links the contents of `src_dir` into `dst_dir`.
    fn create_links(
        &mut self,
        src_dir: &[u8],
        dst_dir: &[u8],
        priority: i32,
    ) -> Result<(), BuiltinError> {
        let names = match self.view.read_dir(src_dir) {
            Ok(names) => names,
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                self.warn(format!(
                    "not including '{}' in the user environment because it's not a directory",
                    lossy(src_dir)
                ));
                return Ok(());
            }
            Err(e) => {
                return Err(BuiltinError::sys(
                    quoted_b("opening directory '", src_dir, "'"),
                    e,
                ));
            }
        };

        for name in names {
            if name.first() == Some(&b'.') {
                continue;
            }
            let src = join(src_dir, &name);
            let dst = join(dst_dir, &name);

            let src_kind = match self.view.stat(&src) {
                Ok(kind) => kind,
                Err(e) if is_missing(&e) => {
                    self.warn(format!("skipping dangling symlink '{}'", lossy(&dst)));
                    continue;
                }
                Err(e) => {
                    return Err(BuiltinError::sys(
                        quoted_b("getting status of '", &src, "'"),
                        e,
                    ));
                }
            };

            if IGNORED_SUFFIXES.iter().any(|s| src.ends_with(s)) {
                continue;
            }

            let dst_kind = match self.view.lstat(&dst) {
                Ok(kind) => Some(kind),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(BuiltinError::sys(
                        quoted_b("getting status of '", &dst, "'"),
                        e,
                    ));
                }
            };

            if src_kind == Kind::Directory {
                match dst_kind {
                    Some(Kind::Directory) => {
                        self.create_links(&src, &dst, priority)?;
                        continue;
                    }
                    Some(Kind::Symlink) => {
                        self.split_link(&src, &dst, priority)?;
                        continue;
                    }
                    _ => {}
                }
            } else {
                match dst_kind {
                    Some(Kind::Symlink) => {
                        let previous = *self.priorities.entry(dst.clone()).or_insert(0);
                        if previous == priority {
                            let existing = self.view.read_link(&dst).map_err(|e| {
                                BuiltinError::sys(quoted_b("reading symbolic link '", &dst, "'"), e)
                            })?;
                            return Err(BuiltinError::SamePriority {
                                path: lossy(&src),
                                existing: lossy(&existing),
                                priority,
                            });
                        }
                        if previous < priority {
                            continue;
                        }
                        self.unlink(&dst)?;
                    }
                    Some(Kind::Directory) => {
                        return Err(BuiltinError::CollisionWithDirectory {
                            path: lossy(&src),
                            directory: lossy(&dst),
                        });
                    }
                    _ => {}
                }
            }

            self.link(&src, &dst, priority)?;
        }
        Ok(())
    }

    /// A directory meets a link at `dst`: if the link leads to a directory,
    /// replace it by a real one holding the contents of both.
    fn split_link(&mut self, src: &[u8], dst: &[u8], priority: i32) -> Result<(), BuiltinError> {
        let target = self.view.canon_path(dst).map_err(|e| match e {
            ResolveError::Loop { rest } => BuiltinError::SymlinkLoop { rest: lossy(&rest) },
            ResolveError::Io { at, source } => {
                BuiltinError::sys(quoted_b("getting status of '", &at, "'"), source)
            }
        })?;
        let kind = self
            .view
            .lstat(&target)
            .map_err(|e| BuiltinError::sys(quoted_b("getting status of '", &target, "'"), e))?;
        if kind != Kind::Directory {
            return Err(BuiltinError::CollisionWithNonDirectory {
                path: lossy(src),
                target: lossy(&target),
            });
        }
        self.unlink(dst)?;
        DirBuilder::new()
            .mode(0o755)
            .create(self.view.out_path(dst))
            .map_err(|e| BuiltinError::sys(quoted_b("creating directory '", dst, "'"), e))?;
        let previous = *self.priorities.entry(dst.to_vec()).or_insert(0);
        self.create_links(&target, dst, previous)?;
        self.create_links(src, dst, priority)
    }

    fn unlink(&self, dst: &[u8]) -> Result<(), BuiltinError> {
        std::fs::remove_file(self.view.out_path(dst))
            .map_err(|e| BuiltinError::sys(quoted_b("unlinking '", dst, "'"), e))
    }

    fn link(&mut self, src: &[u8], dst: &[u8], priority: i32) -> Result<(), BuiltinError> {
        use std::os::unix::ffi::OsStrExt;
        let target = std::ffi::OsStr::from_bytes(src);
        symlink(target, self.view.out_path(dst)).map_err(|e| {
            let context = NixText::new()
                .lit("creating symlink from '")
                .arg(lossy(dst))
                .lit("' to '")
                .arg(lossy(src))
                .lit("'");
            BuiltinError::sys(context, e)
        })?;
        self.priorities.insert(dst.to_vec(), priority);
        Ok(())
    }
}

/// `ENOENT` or `ENOTDIR`: the path is not there.
fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn quoted(before: &str, arg: &str, after: &str) -> NixText {
    NixText::new().lit(before).arg(arg).lit(after)
}

fn quoted_b(before: &str, arg: &[u8], after: &str) -> NixText {
    quoted(before, &lossy(arg), after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::{BUILDENV, run_builtin};
    use nix_formats::StoreDir;

    #[test]
    fn a_missing_package_fails_like_nix() {
        let t = tempfile::tempdir().expect("temporary directory");
        let root = t.path().join("store");
        std::fs::create_dir_all(root.join("aaa-pkg/bin")).expect("mkdir");
        let env = BTreeMap::from([
            ("out".to_owned(), "/nix/store/zzz-env".to_owned()),
            (
                "derivations".to_owned(),
                "true 5 1 /nix/store/aaa-pkg true 5 1 /nix/store/bbb-gone".to_owned(),
            ),
            (
                "manifest".to_owned(),
                "/nix/store/mmm-env-manifest.nix".to_owned(),
            ),
        ]);
        let ctx = BuiltinContext::new(StoreDir::default(), root, t.path().join("out"));
        let err = run_builtin(BUILDENV, &env, &ctx).expect_err("a package is missing");
        assert_eq!(
            err.to_string(),
            "opening directory '/nix/store/bbb-gone': No such file or directory"
        );
    }

    #[test]
    fn derivations_are_parsed_like_nix() {
        let pkgs = parse_derivations(
            "true 5 2 /nix/store/a-x /nix/store/b-x-dev\nfalse -3 1 /nix/store/c",
        )
        .expect("well formed");
        assert_eq!(pkgs.len(), 3);
        assert_eq!(pkgs[1].path, b"/nix/store/b-x-dev".to_vec());
        assert!(pkgs[1].active && pkgs[1].priority == 5);
        assert!(!pkgs[2].active && pkgs[2].priority == -3);
        assert_eq!(parse_derivations("").expect("empty").len(), 0);
        assert_eq!(stoi(Some("12abc"), "x").expect("prefix"), 12);
        assert!(parse_derivations("true x 1 /p").is_err());
        assert!(parse_derivations("true 5 2 /p").is_err());
        assert!(parse_derivations("true 5").is_err());
        assert!(parse_derivations("true 99999999999 1 /p").is_err());
    }
}
