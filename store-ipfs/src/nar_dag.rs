//! NAR ⇄ DAG. Import reads a NAR stream (as the daemon receives it) straight
//! into blocks while hashing it in the same pass; export walks a DAG and
//! writes the identical NAR. Both stream: memory does not grow with the
//! size of the path (one chunk per open file, one entry list per open
//! directory).

use std::io::{BufRead, Read, Write};

use nix_formats::hash::{Hash, HashAlgo, Hasher};
use nix_formats::nar::{Event, NarReader, NarWriter, ReadError, WriteError};
use thiserror::Error;

use crate::dag::{DagError, DagReader, Kind};
use crate::timing;
use crate::unixfs::{BlockSink, DirBuilder, DirError, Entry, FileBuilder, symlink};

/// Errors importing a NAR.
#[derive(Debug, Error)]
pub enum ImportError<E> {
    #[error("invalid NAR")]
    Nar(#[from] ReadError),
    #[error("building a directory")]
    Dir(#[source] DirError<E>),
    #[error("block sink failed")]
    Sink(#[source] E),
}

/// What an import produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub root: Entry,
    pub nar_hash: Hash,
    pub nar_size: u64,
}

/// Hashes every byte the NAR reader consumes.
struct Hashing<R> {
    inner: R,
    hasher: Hasher,
    size: u64,
}

/// Hashes `bytes` into the NAR hash, timed when they are contents (see
/// [`timing::Step::HashNar`]).
fn hash_nar(hasher: &mut Hasher, size: &mut u64, bytes: &[u8]) {
    if bytes.len() >= timing::MIN_COUNTED {
        timing::timed(timing::Step::HashNar, || hasher.update(bytes));
    } else {
        hasher.update(bytes);
    }
    *size += bytes.len() as u64;
}

impl<R: BufRead> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        hash_nar(&mut self.hasher, &mut self.size, &buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(b) = self.inner.fill_buf() {
            let take = amt.min(b.len());
            hash_nar(&mut self.hasher, &mut self.size, &b[..take]);
        }
        self.inner.consume(amt);
    }
}

enum Frame {
    Dir(DirBuilder, Option<Vec<u8>>),
    File(FileBuilder),
}

/// Imports one NAR from `input` (reading exactly its bytes) into `sink`.
pub fn import_nar<S: BlockSink>(
    input: impl BufRead,
    sink: &mut S,
) -> Result<Imported, ImportError<S::Error>> {
    let mut hashing = Hashing {
        inner: input,
        hasher: Hasher::new(HashAlgo::Sha256),
        size: 0,
    };
    let mut reader = NarReader::new(&mut hashing);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Entry> = None;
    let mut done: Option<Entry> = None;
    loop {
        let ev = reader.next_event()?;
        match ev {
            Event::Directory => stack.push(Frame::Dir(DirBuilder::new(), None)),
            Event::Entry { name } => {
                if let Some(Frame::Dir(_, pending)) = stack.last_mut() {
                    *pending = Some(name.to_vec());
                }
            }
            Event::EntryEnd => {}
            Event::Regular { executable, .. } => {
                stack.push(Frame::File(FileBuilder::new(executable)))
            }
            Event::Contents(bytes) => {
                if let Some(Frame::File(f)) = stack.last_mut() {
                    f.write(bytes, sink).map_err(ImportError::Sink)?;
                }
            }
            Event::Symlink { target } => {
                done = Some(symlink(target, sink).map_err(ImportError::Sink)?)
            }
            Event::NodeEnd => {
                let entry = match done.take() {
                    Some(e) => e,
                    None => match stack.pop() {
                        Some(Frame::File(f)) => f.finish(sink).map_err(ImportError::Sink)?,
                        Some(Frame::Dir(d, _)) => d.finish(sink).map_err(ImportError::Dir)?,
                        None => unreachable!("the decoder balances nodes"),
                    },
                };
                match stack.last_mut() {
                    Some(Frame::Dir(d, pending)) => {
                        d.add(
                            pending.take().expect("the decoder announces entries"),
                            entry,
                        );
                    }
                    _ => root = Some(entry),
                }
            }
            Event::End => break,
        }
    }
    drop(reader);
    Ok(Imported {
        root: root.expect("a complete NAR has a root node"),
        nar_hash: hashing.hasher.finish(),
        nar_size: hashing.size,
    })
}

/// Errors exporting a DAG as a NAR.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Dag(#[from] DagError),
    #[error("writing the NAR")]
    Nar(#[from] WriteError),
}

/// Writes the DAG at `root` as a NAR; returns the NAR's size.
pub fn export_nar(
    dag: &DagReader<'_>,
    root: &cid::Cid,
    out: impl Write,
) -> Result<u64, ExportError> {
    let mut w = NarWriter::new(out);
    dag.read_ahead(root, |dag| node(dag, root, &mut w))?;
    let n = w.bytes_written();
    w.finish()?;
    Ok(n)
}

struct Contents<'a, W: Write> {
    nar: &'a mut NarWriter<W>,
    err: Option<WriteError>,
}

impl<W: Write> Write for Contents<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.nar.contents(buf).map_err(|e| {
            let msg = e.to_string();
            self.err = Some(e);
            std::io::Error::other(msg)
        })?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn node<W: Write>(
    dag: &DagReader<'_>,
    cid: &cid::Cid,
    w: &mut NarWriter<W>,
) -> Result<(), ExportError> {
    if cid.codec() == crate::unixfs::RAW {
        // A file of one chunk: its block read once, its size from that.
        let data = dag.raw_leaf(cid)?;
        w.regular(false, data.len() as u64)?;
        if !data.is_empty() {
            w.contents(&data)?;
        }
        return Ok(());
    }
    match dag.kind(cid)? {
        Kind::File { size, executable } => {
            w.regular(executable, size)?;
            let mut c = Contents { nar: w, err: None };
            let r = dag.write_file(cid, &mut c);
            if let Some(e) = c.err {
                return Err(e.into());
            }
            r?;
        }
        Kind::Symlink { target } => w.symlink(&target)?,
        Kind::Directory => {
            w.begin_directory()?;
            for (name, child) in dag.entries(cid)? {
                w.entry(&name)?;
                node(dag, &child, w)?;
            }
            w.end_directory()?;
        }
    }
    Ok(())
}
