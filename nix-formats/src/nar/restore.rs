//! NAR to file system tree, as `nix-store --restore` (Nix 2.8) does it.
//!
//! Like Nix: directories are created with mode 0777 and regular files with
//! 0666, both less the umask; an executable file then gets `u+x,g+x,o+x`
//! added to whatever mode it was created with (so 0755 under umask 022 —
//! the execute bits ignore the umask). Nothing is created over an existing
//! path: the destination must not exist, and every file is created with
//! `O_EXCL`, so no symlink in the archive can redirect a later write. Names
//! cannot escape the destination: the decoder refuses `/`, `.`, `..` and
//! NUL in names. Nix preallocates file space; we do not, which changes no
//! byte or mode of the result. On error, whatever was created stays.

use std::ffi::OsStr;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::decode::Event;
use super::read::{NarReader, ReadError};

/// Why a NAR could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The archive could not be read or is malformed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The destination already exists.
    #[error("cannot restore to '{}': it already exists", .path.display())]
    Exists {
        /// The destination.
        path: PathBuf,
    },
    /// A file system call failed.
    #[error("{action} '{}'", .path.display())]
    Fs {
        /// What was being done, e.g. `"creating directory"`.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// Restores the NAR read from `nar` at `dest`, which must not exist.
/// Reads exactly the archive's bytes; returns its size.
pub fn restore(nar: impl BufRead, dest: &Path) -> Result<u64, RestoreError> {
    if dest.symlink_metadata().is_ok() {
        return Err(RestoreError::Exists {
            path: dest.to_path_buf(),
        });
    }
    let mut reader = NarReader::new(nar);
    let mut path = dest.to_path_buf();
    let mut file: Option<File> = None;
    loop {
        match reader.next_event()? {
            Event::Directory => {
                let created = DirBuilder::new().mode(0o777).create(&path);
                created.map_err(fs_error("creating directory", &path))?;
            }
            Event::Entry { name } => path.push(OsStr::from_bytes(name)),
            Event::EntryEnd => {
                path.pop();
            }
            Event::Regular { executable, .. } => file = Some(create_file(&path, executable)?),
            Event::Contents(chunk) => {
                if let Some(f) = &mut file {
                    f.write_all(chunk)
                        .map_err(fs_error("writing to file", &path))?;
                }
            }
            Event::Symlink { target } => {
                let made = symlink(OsStr::from_bytes(target), &path);
                made.map_err(fs_error("creating symlink", &path))?;
            }
            Event::NodeEnd => file = None,
            Event::End => break,
        }
    }
    Ok(reader.decoder().offset())
}

fn create_file(path: &Path, executable: bool) -> Result<File, RestoreError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(path)
        .map_err(fs_error("creating file", path))?;
    if executable {
        let mode = file
            .metadata()
            .map_err(fs_error("getting status of", path))?
            .permissions()
            .mode();
        let chmod = file.set_permissions(Permissions::from_mode(mode | 0o111));
        chmod.map_err(fs_error("making executable", path))?;
    }
    Ok(file)
}

fn fs_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> RestoreError + 'a {
    move |source| RestoreError::Fs {
        action,
        path: path.to_path_buf(),
        source,
    }
}
