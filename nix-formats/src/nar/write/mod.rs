//! NAR writer: a typed API that can only produce canonical archives
//! (see [`NarWriter`]).

mod error;

pub use error::WriteError;

use std::io::{self, BufWriter, Read, Write};

use super::grammar::{
    CLOSE, CONTENTS, DIRECTORY, ENTRY, EXECUTABLE, MAGIC, MAX_DEPTH, MAX_TARGET_LEN, NAME, NODE,
    OPEN, REGULAR, SYMLINK, TARGET, TYPE, check_name, padding,
};

/// Size of the writer's buffer; larger contents writes bypass it.
const BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written; the root node comes next (after the magic).
    Start,
    /// An entry's node comes next.
    Node,
    Contents {
        size: u64,
        remaining: u64,
    },
    /// Inside a directory: an entry or its end comes next.
    Directory,
    Done,
    Failed,
}

/// Writes one NAR to `W`, canonical by construction.
///
/// Calls follow the shape of the tree: a node is [`regular`] (then its
/// contents), [`symlink`], or [`begin_directory`] … [`end_directory`], and
/// inside a directory every child is introduced by [`entry`]. The writer
/// checks each call against the grammar before writing anything: names must
/// be valid and strictly increasing, contents must match the declared size,
/// and [`finish`] refuses an archive whose root is not complete. A refused
/// call leaves the writer as it was; an I/O error ends it.
///
/// ```
/// use nix_formats::nar::{NarWriter, Node};
///
/// let mut w = NarWriter::new(Vec::new());
/// w.begin_directory()?;
/// w.entry(b"hello")?;
/// w.regular(false, 3)?;
/// w.contents(b"hi\n")?;
/// w.entry(b"link")?;
/// w.symlink(b"hello")?;
/// assert!(w.entry(b"a").is_err(), "entries must be sorted");
/// w.end_directory()?;
/// let nar = w.finish()?;
/// assert!(matches!(Node::parse(&nar)?, Node::Directory(entries) if entries.len() == 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`regular`]: NarWriter::regular
/// [`symlink`]: NarWriter::symlink
/// [`begin_directory`]: NarWriter::begin_directory
/// [`end_directory`]: NarWriter::end_directory
/// [`entry`]: NarWriter::entry
/// [`finish`]: NarWriter::finish
#[derive(Debug)]
pub struct NarWriter<W: Write> {
    out: BufWriter<W>,
    state: State,
    /// Last entry name of every open directory, outermost first.
    dirs: Vec<Vec<u8>>,
    written: u64,
}

impl<W: Write> NarWriter<W> {
    /// A writer whose first node becomes the archive's root. Output is
    /// buffered; [`finish`](Self::finish) flushes it.
    pub fn new(out: W) -> Self {
        NarWriter {
            out: BufWriter::with_capacity(BUFFER, out),
            state: State::Start,
            dirs: Vec::new(),
            written: 0,
        }
    }

    /// Bytes of archive produced so far (buffered or not).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Whether the root node is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Starts a regular file of `size` bytes; give exactly that many bytes
    /// to [`contents`](Self::contents). A file of size 0 is complete at once.
    pub fn regular(&mut self, executable: bool, size: u64) -> Result<(), WriteError> {
        self.begin_node("regular")?;
        self.io(|w| {
            w.str(REGULAR)?;
            if executable {
                w.str(EXECUTABLE)?;
                w.str(b"")?;
            }
            w.str(CONTENTS)?;
            w.put(&size.to_le_bytes())
        })?;
        self.state = State::Contents {
            size,
            remaining: size,
        };
        self.finish_contents_if_complete(size)
    }

    /// Appends contents to the regular file begun last.
    pub fn contents(&mut self, data: &[u8]) -> Result<(), WriteError> {
        let State::Contents { size, remaining } = self.state else {
            return Err(self.out_of_order("contents"));
        };
        if data.len() as u64 > remaining {
            return Err(WriteError::ContentsOverflow {
                size,
                remaining,
                len: data.len(),
            });
        }
        self.io(|w| w.put(data))?;
        let remaining = remaining - data.len() as u64;
        self.state = State::Contents { size, remaining };
        if remaining == 0 {
            self.finish_contents_if_complete(size)?;
        }
        Ok(())
    }

    /// Writes a symlink node.
    pub fn symlink(&mut self, target: &[u8]) -> Result<(), WriteError> {
        if target.len() > MAX_TARGET_LEN {
            self.check_node("symlink")?;
            return Err(WriteError::TargetTooLong { len: target.len() });
        }
        self.begin_node("symlink")?;
        self.io(|w| {
            w.str(SYMLINK)?;
            w.str(TARGET)?;
            w.str(target)?;
            w.str(CLOSE)
        })?;
        self.end_node()
    }

    /// Starts a directory node; add [`entry`](Self::entry)s, then
    /// [`end_directory`](Self::end_directory).
    pub fn begin_directory(&mut self) -> Result<(), WriteError> {
        self.check_node("begin_directory")?;
        if self.dirs.len() >= MAX_DEPTH {
            return Err(WriteError::TooDeep);
        }
        self.begin_node("begin_directory")?;
        self.io(|w| w.str(DIRECTORY))?;
        self.dirs.push(Vec::new());
        self.state = State::Directory;
        Ok(())
    }

    /// Starts an entry of the current directory; its node comes next.
    /// `name` must be a valid file name greater than the previous entry's.
    pub fn entry(&mut self, name: &[u8]) -> Result<(), WriteError> {
        if self.state != State::Directory {
            return Err(self.out_of_order("entry"));
        }
        check_name(name).map_err(|reason| WriteError::InvalidName {
            name: name.to_vec(),
            reason,
        })?;
        let prev = self
            .dirs
            .last()
            .expect("State::Directory means a directory is open");
        if name <= prev.as_slice() {
            return Err(WriteError::Unsorted {
                prev: prev.clone(),
                name: name.to_vec(),
            });
        }
        self.io(|w| {
            w.str(ENTRY)?;
            w.str(OPEN)?;
            w.str(NAME)?;
            w.str(name)?;
            w.str(NODE)
        })?;
        let prev = self
            .dirs
            .last_mut()
            .expect("State::Directory means a directory is open");
        prev.clear();
        prev.extend_from_slice(name);
        self.state = State::Node;
        Ok(())
    }

    /// Ends the current directory.
    pub fn end_directory(&mut self) -> Result<(), WriteError> {
        if self.state != State::Directory {
            return Err(self.out_of_order("end_directory"));
        }
        self.io(|w| w.str(CLOSE))?;
        self.dirs.pop();
        self.end_node()
    }

    /// Flushes the archive and returns the underlying writer. Refused until
    /// the root node is complete.
    pub fn finish(self) -> Result<W, WriteError> {
        if self.state != State::Done {
            return Err(self.out_of_order("finish"));
        }
        self.out
            .into_inner()
            .map_err(|e| WriteError::Io(e.into_error()))
    }

    /// Fails unless a node may start here.
    fn check_node(&self, call: &'static str) -> Result<(), WriteError> {
        match self.state {
            State::Start | State::Node => Ok(()),
            _ => Err(self.out_of_order(call)),
        }
    }

    /// Writes a node's opening up to and including `type`.
    fn begin_node(&mut self, call: &'static str) -> Result<(), WriteError> {
        self.check_node(call)?;
        let start = self.state == State::Start;
        self.io(|w| {
            if start {
                w.str(MAGIC)?;
            }
            w.str(OPEN)?;
            w.str(TYPE)
        })
    }

    /// After a regular file's last byte: padding and the node's end.
    fn finish_contents_if_complete(&mut self, size: u64) -> Result<(), WriteError> {
        if self.state != (State::Contents { size, remaining: 0 }) {
            return Ok(());
        }
        self.io(|w| {
            w.put(&[0; 8][..padding(size)])?;
            w.str(CLOSE)
        })?;
        self.end_node()
    }

    /// A node was closed: close the entry holding it, or finish the root.
    fn end_node(&mut self) -> Result<(), WriteError> {
        if self.dirs.is_empty() {
            self.state = State::Done;
            return Ok(());
        }
        self.io(|w| w.str(CLOSE))?;
        self.state = State::Directory;
        Ok(())
    }

    fn out_of_order(&self, call: &'static str) -> WriteError {
        let expected = match self.state {
            State::Start | State::Node => "a node (regular, symlink or begin_directory)",
            State::Directory => "entry or end_directory",
            State::Done => "nothing more (the archive is complete)",
            State::Failed => return WriteError::Poisoned,
            State::Contents { size, remaining } => {
                return WriteError::ContentsIncomplete { size, remaining };
            }
        };
        WriteError::OutOfOrder { call, expected }
    }

    /// Runs writes; an I/O error poisons the writer.
    fn io(&mut self, f: impl FnOnce(&mut Self) -> io::Result<()>) -> Result<(), WriteError> {
        if self.state == State::Failed {
            return Err(WriteError::Poisoned);
        }
        f(self).map_err(|e| {
            self.state = State::Failed;
            WriteError::Io(e)
        })
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes `str(bytes)`: length, bytes, zero padding.
    fn str(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = bytes.len() as u64;
        self.put(&len.to_le_bytes())?;
        self.put(bytes)?;
        self.put(&[0; 8][..padding(len)])
    }
}

/// A NAR of one regular file, read as it is produced: the archive's head,
/// then `size` bytes of contents from a reader, then its tail.
pub type RegularFileNar<R> =
    io::Chain<io::Chain<io::Cursor<Vec<u8>>, io::Take<R>>, io::Cursor<Vec<u8>>>;

/// Streams the NAR of one regular file of `size` bytes whose contents
/// `contents` yields, without holding the contents (what Nix's `dumpPath`
/// of a file gives, byte for byte). If `contents` ends early, the archive
/// is cut short.
pub fn regular_file_nar<R: Read>(executable: bool, size: u64, contents: R) -> RegularFileNar<R> {
    let mut head = Vec::with_capacity(128);
    for token in [MAGIC, OPEN, TYPE, REGULAR] {
        push_str(&mut head, token);
    }
    if executable {
        push_str(&mut head, EXECUTABLE);
        push_str(&mut head, b"");
    }
    push_str(&mut head, CONTENTS);
    head.extend_from_slice(&size.to_le_bytes());
    let mut tail = vec![0; padding(size)];
    push_str(&mut tail, CLOSE);
    io::Cursor::new(head)
        .chain(contents.take(size))
        .chain(io::Cursor::new(tail))
}

/// Appends `str(bytes)`: length, bytes, zero padding.
fn push_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len() as u64;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&[0; 8][..padding(len)]);
}

#[cfg(test)]
mod streamed_tests {
    use super::*;

    #[test]
    fn regular_file_nar_is_what_the_writer_writes() {
        for executable in [false, true] {
            for size in [0usize, 1, 7, 8, 9, 4096, 100_003] {
                let contents: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
                let mut w = NarWriter::new(Vec::new());
                w.regular(executable, size as u64).expect("regular");
                if size > 0 {
                    w.contents(&contents).expect("contents");
                }
                let expected = w.finish().expect("finish");
                let mut got = Vec::new();
                regular_file_nar(executable, size as u64, contents.as_slice())
                    .read_to_end(&mut got)
                    .expect("read");
                assert_eq!(got, expected, "executable {executable}, size {size}");
            }
        }
    }

    #[test]
    fn a_short_reader_cuts_the_archive_short() {
        let mut got = Vec::new();
        regular_file_nar(false, 10, &b"abc"[..])
            .read_to_end(&mut got)
            .expect("read");
        assert!(crate::nar::Node::parse(&got).is_err());
    }
}
