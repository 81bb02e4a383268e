//! A NAR as an in-memory tree, for tests and small archives.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use super::decode::{DecodeError, Decoder, Event, Step};
use super::read::{NarReader, ReadError};
use super::write::{NarWriter, WriteError};

/// Most contents capacity reserved up front, whatever size a file claims.
const RESERVE_LIMIT: u64 = 1 << 20;

/// A file system object as a NAR holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    Regular {
        /// Whether it carries the executable marker.
        executable: bool,
        /// Its contents.
        contents: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Its target, raw bytes.
        target: Vec<u8>,
    },
    /// A directory: entries by raw name, which is also NAR order.
    Directory(BTreeMap<Vec<u8>, Node>),
}

/// Why a whole-buffer parse failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The archive breaks the grammar.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The buffer ends inside the archive.
    #[error("bad archive: input ends at byte {offset}, inside the archive")]
    Truncated {
        /// Length of the buffer.
        offset: u64,
    },
    /// Bytes follow the archive's end.
    #[error("bad archive: {len} bytes follow the end of the archive at byte {offset}")]
    Trailing {
        /// Size of the archive.
        offset: u64,
        /// Bytes after it.
        len: usize,
    },
}

impl Node {
    /// Parses a buffer holding exactly one NAR.
    pub fn parse(nar: &[u8]) -> Result<Node, ParseError> {
        let (node, used) = Node::parse_prefix(nar)?;
        if used < nar.len() {
            return Err(ParseError::Trailing {
                offset: used as u64,
                len: nar.len() - used,
            });
        }
        Ok(node)
    }

    /// Parses the NAR at the start of `nar`; returns it and its size.
    pub fn parse_prefix(nar: &[u8]) -> Result<(Node, usize), ParseError> {
        let mut decoder = Decoder::new();
        let mut builder = TreeBuilder::default();
        let mut input = nar;
        loop {
            match decoder.next(&mut input)? {
                Step::Event(Event::End) => break,
                Step::Event(event) => builder.push(event),
                Step::NeedMore(_) => {
                    return Err(ParseError::Truncated {
                        offset: nar.len() as u64,
                    });
                }
            }
        }
        let node = builder
            .root
            .expect("the decoder ends only after a complete root node");
        Ok((node, nar.len() - input.len()))
    }

    /// Reads one NAR from `r`, leaving `r` right after it.
    pub fn read(r: impl BufRead) -> Result<Node, ReadError> {
        let mut reader = NarReader::new(r);
        let mut builder = TreeBuilder::default();
        loop {
            match reader.next_event()? {
                Event::End => break,
                event => builder.push(event),
            }
        }
        Ok(builder
            .root
            .expect("the decoder ends only after a complete root node"))
    }

    /// Writes this node at the writer's current position (the root, or an
    /// entry's node).
    pub fn write<W: Write>(&self, w: &mut NarWriter<W>) -> Result<(), WriteError> {
        match self {
            Node::Regular {
                executable,
                contents,
            } => {
                w.regular(*executable, contents.len() as u64)?;
                if contents.is_empty() {
                    Ok(())
                } else {
                    w.contents(contents)
                }
            }
            Node::Symlink { target } => w.symlink(target),
            Node::Directory(entries) => {
                w.begin_directory()?;
                for (name, node) in entries {
                    w.entry(name)?;
                    node.write(w)?;
                }
                w.end_directory()
            }
        }
    }

    /// This node as a complete NAR. Fails if the tree holds a name or
    /// target the grammar refuses, or nests deeper than its limit.
    pub fn to_nar(&self) -> Result<Vec<u8>, WriteError> {
        let mut w = NarWriter::new(Vec::new());
        self.write(&mut w)?;
        w.finish()
    }
}

/// A directory being built: its name in its parent (none for the root) and
/// its entries so far.
type OpenDir = (Option<Vec<u8>>, BTreeMap<Vec<u8>, Node>);

/// Builds a [`Node`] from the events of one archive.
#[derive(Debug, Default)]
struct TreeBuilder {
    /// Open directories, outermost first.
    dirs: Vec<OpenDir>,
    /// Name of the entry whose node comes next.
    name: Option<Vec<u8>>,
    /// The regular file or symlink being read.
    leaf: Option<Node>,
    root: Option<Node>,
}

impl TreeBuilder {
    fn push(&mut self, event: Event<'_>) {
        match event {
            Event::Directory => self.dirs.push((self.name.take(), BTreeMap::new())),
            Event::Entry { name } => self.name = Some(name.to_vec()),
            Event::Regular { executable, size } => {
                // Bounded: the contents still have to arrive to fill it.
                let reserve = size.min(RESERVE_LIMIT) as usize;
                self.leaf = Some(Node::Regular {
                    executable,
                    contents: Vec::with_capacity(reserve),
                });
            }
            Event::Contents(chunk) => {
                if let Some(Node::Regular { contents, .. }) = &mut self.leaf {
                    contents.extend_from_slice(chunk);
                }
            }
            Event::Symlink { target } => {
                self.leaf = Some(Node::Symlink {
                    target: target.to_vec(),
                })
            }
            Event::NodeEnd => match self.leaf.take() {
                Some(leaf) => {
                    let name = self.name.take();
                    self.attach(name, leaf);
                }
                None => {
                    if let Some((name, entries)) = self.dirs.pop() {
                        self.attach(name, Node::Directory(entries));
                    }
                }
            },
            Event::EntryEnd | Event::End => {}
        }
    }

    fn attach(&mut self, name: Option<Vec<u8>>, node: Node) {
        match (name, self.dirs.last_mut()) {
            (Some(name), Some((_, entries))) => {
                entries.insert(name, node);
            }
            _ => self.root = Some(node),
        }
    }
}
