//! File system tree to NAR, as `nix-store --dump` does it.
//!
//! Symlinks are not followed; a regular file is executable when its owner
//! may execute it (`st_mode & S_IXUSR`); entries go in raw byte order;
//! sockets, FIFOs and device files are refused. Contents are streamed in
//! fixed-size pieces, one file open at a time, and the walk keeps its own
//! stack (no recursion).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::write::{NarWriter, WriteError};
use crate::hash::{Hash, HashAlgo, Hasher};

/// Size of the pieces file contents are read in.
const CHUNK: usize = 256 * 1024;

/// Why a path could not be dumped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// A file system call failed.
    #[error("{action} '{}'", .path.display())]
    Fs {
        /// What was being done, e.g. `"reading directory"`.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A socket, FIFO or device file.
    #[error("file '{}' has an unsupported type ({kind})", .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// `"socket"`, `"fifo"`, `"block device"` or `"character device"`.
        kind: &'static str,
    },
    /// A regular file that ended before the size it had when examined.
    #[error("file '{}' shrank below {size} bytes while being dumped", .path.display())]
    Shrunk {
        /// The file.
        path: PathBuf,
        /// Its size when examined.
        size: u64,
    },
    /// The NAR writer refused the tree (nesting too deep) or its output
    /// failed.
    #[error("dumping '{}'", .path.display())]
    Write {
        /// The path being dumped.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: WriteError,
    },
}

/// Writes the NAR of `path` to `out`; returns its size in bytes.
pub fn dump(path: &Path, out: impl Write) -> Result<u64, DumpError> {
    let mut dumper = Dumper {
        w: NarWriter::new(out),
        buf: vec![0; CHUNK],
    };
    let mut stack = Vec::new();
    stack.extend(dumper.node(path.to_path_buf())?);
    while let Some(dir) = stack.last_mut() {
        match dir.names.next() {
            Some(name) => {
                let child = dir.path.join(&name);
                let entry = dumper.w.entry(name.as_bytes());
                entry.map_err(|source| DumpError::Write {
                    path: child.clone(),
                    source,
                })?;
                stack.extend(dumper.node(child)?);
            }
            None => {
                let end = dumper.w.end_directory();
                end.map_err(|source| DumpError::Write {
                    path: dir.path.clone(),
                    source,
                })?;
                stack.pop();
            }
        }
    }
    let size = dumper.w.bytes_written();
    let finish = dumper.w.finish();
    finish.map_err(|source| DumpError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(size)
}

/// Nix's `hashPath`: the hash of the NAR of `path`, and the NAR's size.
pub fn hash_path(algo: HashAlgo, path: &Path) -> Result<(Hash, u64), DumpError> {
    let mut hasher = Hasher::new(algo);
    let size = dump(path, &mut hasher)?;
    Ok((hasher.finish(), size))
}

/// A directory being dumped: the entries still to write.
struct OpenDir {
    path: PathBuf,
    names: std::vec::IntoIter<OsString>,
}

struct Dumper<W: Write> {
    w: NarWriter<W>,
    buf: Vec<u8>,
}

impl<W: Write> Dumper<W> {
    /// Writes the node at `path`; a directory is only begun, and returned
    /// for the caller to fill.
    fn node(&mut self, path: PathBuf) -> Result<Option<OpenDir>, DumpError> {
        let meta = fs::symlink_metadata(&path).map_err(fs_error("getting status of", &path))?;
        let kind = meta.file_type();
        let written = if kind.is_file() {
            let executable = meta.permissions().mode() & 0o100 != 0;
            let mut file = File::open(&path).map_err(fs_error("opening file", &path))?;
            match self.w.regular(executable, meta.len()) {
                Ok(()) => self.contents(&mut file, meta.len(), &path)?,
                Err(e) => Err(e),
            }
        } else if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(fs_error("reading symbolic link", &path))?;
            self.w.symlink(target.as_os_str().as_bytes())
        } else if kind.is_dir() {
            let mut names = read_names(&path)?;
            names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            self.w
                .begin_directory()
                .map_err(|source| DumpError::Write {
                    path: path.clone(),
                    source,
                })?;
            return Ok(Some(OpenDir {
                path,
                names: names.into_iter(),
            }));
        } else {
            let kind = if kind.is_socket() {
                "socket"
            } else if kind.is_fifo() {
                "fifo"
            } else if kind.is_block_device() {
                "block device"
            } else {
                "character device"
            };
            return Err(DumpError::Unsupported { path, kind });
        };
        written.map_err(|source| DumpError::Write { path, source })?;
        Ok(None)
    }

    /// Streams exactly `size` bytes of `file` into the writer. The outer
    /// result is the file's, the inner the writer's.
    fn contents(
        &mut self,
        file: &mut File,
        size: u64,
        path: &Path,
    ) -> Result<Result<(), WriteError>, DumpError> {
        let mut left = size;
        while left > 0 {
            // Bounded by the buffer's length, so it fits in a usize.
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(DumpError::Shrunk {
                        path: path.to_path_buf(),
                        size,
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fs_error("reading file", path)(e)),
            };
            if let Err(e) = self.w.contents(&self.buf[..n]) {
                return Ok(Err(e));
            }
            left -= n as u64;
        }
        Ok(Ok(()))
    }
}

fn read_names(path: &Path) -> Result<Vec<OsString>, DumpError> {
    let entries = fs::read_dir(path).map_err(fs_error("opening directory", path))?;
    let names = entries.map(|entry| entry.map(|entry| entry.file_name()));
    names
        .collect::<Result<_, _>>()
        .map_err(fs_error("reading directory", path))
}

fn fs_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DumpError + 'a {
    move |source| DumpError::Fs {
        action,
        path: path.to_path_buf(),
        source,
    }
}
