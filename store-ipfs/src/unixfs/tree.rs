//! Importing a file system tree into a DAG: regular files (with the
//! executable bit, as Nix sees it: owner execute), symlinks and directories.
//! Everything is included, hidden files too; other file types are refused.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

use super::{BlockSink, CHUNK_SIZE, DirBuilder, DirError, Entry, FileBuilder, symlink};

/// Errors importing a tree.
#[derive(Debug, Error)]
pub enum AddError<E> {
    #[error("reading '{path}'")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{0}' is neither a regular file, a directory nor a symlink")]
    Unsupported(PathBuf),
    #[error("directory '{path}'")]
    Dir {
        path: PathBuf,
        #[source]
        source: DirError<E>,
    },
    #[error("block sink failed")]
    Sink(#[source] E),
}

fn io<E>(path: &Path) -> impl FnOnce(std::io::Error) -> AddError<E> + '_ {
    move |source| AddError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Imports `path` (not following a top-level symlink) and returns its root.
pub fn add_path<S: BlockSink>(path: &Path, sink: &mut S) -> Result<Entry, AddError<S::Error>> {
    let mut buf = vec![0u8; CHUNK_SIZE];
    add(path, sink, &mut buf)
}

fn add<S: BlockSink>(
    path: &Path,
    sink: &mut S,
    buf: &mut [u8],
) -> Result<Entry, AddError<S::Error>> {
    let meta = fs::symlink_metadata(path).map_err(io(path))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(io(path))?;
        return symlink(target.as_os_str().as_bytes(), sink).map_err(AddError::Sink);
    }
    if ft.is_file() {
        let mut f = fs::File::open(path).map_err(io(path))?;
        let mut b = FileBuilder::new(meta.permissions().mode() & 0o100 != 0);
        loop {
            let n = f.read(buf).map_err(io(path))?;
            if n == 0 {
                break;
            }
            b.write(&buf[..n], sink).map_err(AddError::Sink)?;
        }
        return b.finish(sink).map_err(AddError::Sink);
    }
    if !ft.is_dir() {
        return Err(AddError::Unsupported(path.to_owned()));
    }
    let mut dir = DirBuilder::new();
    for entry in fs::read_dir(path).map_err(io(path))? {
        let entry = entry.map_err(io(path))?;
        let child = add(&entry.path(), sink, buf)?;
        dir.add(entry.file_name().as_bytes().to_vec(), child);
    }
    dir.finish(sink).map_err(|source| AddError::Dir {
        path: path.to_owned(),
        source,
    })
}
