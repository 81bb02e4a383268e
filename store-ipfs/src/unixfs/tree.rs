//! Importing a file system tree into a DAG: regular files (with the
//! executable bit, as Nix sees it: owner execute), symlinks and directories.
//! Everything is included, hidden files too; other file types are refused.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

use super::{
    BlockSink, ByRef, CHUNK_SIZE, DirBuilder, DirError, Entry, FileBuilder, LeafError, SharedSink,
    symlink,
};

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
    #[error("'{0}' shrank while it was being added")]
    Changed(PathBuf),
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

/// A directory entry whose DAG is still being made.
enum Pending {
    /// A regular file, handed to a worker: the index of its result.
    File(usize),
    Done(Entry),
    Dir(PathBuf, Vec<(Vec<u8>, Pending)>),
}

/// A regular file for a worker.
struct FileJob {
    slot: usize,
    path: PathBuf,
    executable: bool,
    size: u64,
}

/// Imports `path` like [`add_path`], with the files' contents read, hashed
/// and stored by `threads` workers at once (directories are walked and
/// their nodes made on the calling thread). Large files are stored chunk by
/// chunk through [`SharedSink::put_leaf`]. The DAG is the same.
///
/// [`SharedSink::put_leaf`]: super::SharedSink::put_leaf
pub fn add_path_parallel<S: SharedSink>(
    path: &Path,
    sink: &S,
    threads: usize,
) -> Result<Entry, AddError<S::Error>>
where
    S::Error: Send,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, mpsc};

    let (jobs_tx, jobs_rx) = mpsc::channel::<FileJob>();
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<Entry, AddError<S::Error>>)>();
    let jobs_rx = Mutex::new(jobs_rx);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (jobs_rx, done_tx, stop) = (&jobs_rx, done_tx.clone(), &stop);
            scope.spawn(move || {
                let mut buf = vec![0u8; CHUNK_SIZE];
                loop {
                    let job = jobs_rx.lock().expect("job queue lock").recv();
                    let Ok(job) = job else { return };
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    let r = add_file(&job, sink, &mut buf);
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if done_tx.send((job.slot, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut slots = 0;
        let walked = walk(path, sink, &jobs_tx, &mut slots, &stop);
        if walked.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(jobs_tx);
        let mut entries: Vec<Option<Entry>> = vec![None; slots];
        let mut first_err = None;
        for (slot, r) in done_rx {
            match r {
                Ok(e) => entries[slot] = Some(e),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let tree = walked?;
        if let Some(e) = first_err {
            return Err(e);
        }
        build(tree, &entries, sink)
    })
}

fn walk<S: SharedSink>(
    path: &Path,
    sink: &S,
    jobs: &std::sync::mpsc::Sender<FileJob>,
    slots: &mut usize,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Pending, AddError<S::Error>> {
    let meta = fs::symlink_metadata(path).map_err(io(path))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(io(path))?;
        return symlink(target.as_os_str().as_bytes(), &mut ByRef(sink))
            .map(Pending::Done)
            .map_err(AddError::Sink);
    }
    if ft.is_file() {
        let slot = *slots;
        *slots += 1;
        let job = FileJob {
            slot,
            path: path.to_owned(),
            executable: meta.permissions().mode() & 0o100 != 0,
            size: meta.len(),
        };
        // The workers only go away with the scope.
        let _ = jobs.send(job);
        return Ok(Pending::File(slot));
    }
    if !ft.is_dir() {
        return Err(AddError::Unsupported(path.to_owned()));
    }
    let mut children = Vec::new();
    for entry in fs::read_dir(path).map_err(io(path))? {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let entry = entry.map_err(io(path))?;
        let child = walk(&entry.path(), sink, jobs, slots, stop)?;
        children.push((entry.file_name().as_bytes().to_vec(), child));
    }
    Ok(Pending::Dir(path.to_owned(), children))
}

fn build<S: SharedSink>(
    p: Pending,
    files: &[Option<Entry>],
    sink: &S,
) -> Result<Entry, AddError<S::Error>> {
    match p {
        Pending::Done(e) => Ok(e),
        Pending::File(slot) => Ok(files[slot].expect("every file job reported")),
        Pending::Dir(path, children) => {
            let mut dir = DirBuilder::new();
            for (name, child) in children {
                dir.add(name, build(child, files, sink)?);
            }
            dir.finish(&mut ByRef(sink))
                .map_err(|source| AddError::Dir { path, source })
        }
    }
}

/// One regular file: small ones are read and chunked as [`add`] does; one
/// of more than a chunk goes leaf by leaf through the sink's `put_leaf`.
fn add_file<S: SharedSink>(
    job: &FileJob,
    sink: &S,
    buf: &mut [u8],
) -> Result<Entry, AddError<S::Error>> {
    let path = &job.path;
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut b = FileBuilder::new(job.executable);
    if job.size <= CHUNK_SIZE as u64 {
        loop {
            let n = f.read(buf).map_err(io(path))?;
            if n == 0 {
                break;
            }
            b.write(&buf[..n], &mut ByRef(sink))
                .map_err(AddError::Sink)?;
        }
        return b.finish(&mut ByRef(sink)).map_err(AddError::Sink);
    }
    let mut offset = 0u64;
    loop {
        match sink.put_leaf(&f, offset, buf) {
            Ok(Some((cid, n))) => {
                b.push_leaf(Entry {
                    cid,
                    tsize: n as u64,
                    size: n as u64,
                });
                offset += n as u64;
                if n < CHUNK_SIZE {
                    break;
                }
            }
            Ok(None) => break,
            Err(LeafError::Read(source)) => {
                return Err(AddError::Io {
                    path: path.clone(),
                    source,
                });
            }
            Err(LeafError::Sink(e)) => return Err(AddError::Sink(e)),
        }
    }
    if offset <= CHUNK_SIZE as u64 {
        return Err(AddError::Changed(path.clone()));
    }
    b.finish(&mut ByRef(sink)).map_err(AddError::Sink)
}
