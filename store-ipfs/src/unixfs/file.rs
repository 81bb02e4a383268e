//! Streaming file import: 1 MiB raw leaves, balanced tree of width 1024.

use super::node::{DataType, PbLink, UnixFsData, encode_node};
use super::{
    BlockSink, CHUNK_SIZE, DAG_PB, EXECUTABLE_MODE, Entry, MAX_LINKS, RAW, emit, emit_owned,
};

/// Builds a file's DAG from bytes pushed in any pieces. Memory stays at one
/// chunk plus one small entry per chunk, whatever the file size.
#[derive(Debug)]
pub struct FileBuilder {
    chunk: Vec<u8>,
    leaves: Vec<Entry>,
    mode: Option<u32>,
}

impl FileBuilder {
    pub fn new(executable: bool) -> Self {
        Self::with_mode(executable.then_some(EXECUTABLE_MODE))
    }

    /// A file with an explicit UnixFS mode (or none).
    pub fn with_mode(mode: Option<u32>) -> Self {
        // The chunk grows with the bytes that come: most files are small,
        // and their chunk is handed to the sink as it is (capacity and all).
        FileBuilder {
            chunk: Vec::new(),
            leaves: Vec::new(),
            mode,
        }
    }

    /// Adds bytes. A full chunk is only emitted once more bytes arrive, so
    /// that a single-chunk file can still become its own root.
    pub fn write<S: BlockSink>(&mut self, mut data: &[u8], sink: &mut S) -> Result<(), S::Error> {
        while !data.is_empty() {
            if self.chunk.len() == CHUNK_SIZE {
                let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_SIZE));
                self.leaves
                    .push(emit_owned(sink, RAW, full, CHUNK_SIZE as u64)?);
            }
            if self.chunk.is_empty() && data.len() > CHUNK_SIZE {
                // Whole chunks straight from the caller's buffer, no copy.
                let (whole, rest) = data.split_at(CHUNK_SIZE);
                self.leaves
                    .push(emit(sink, RAW, whole, 0, CHUNK_SIZE as u64)?);
                data = rest;
                continue;
            }
            let take = (CHUNK_SIZE - self.chunk.len()).min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Appends a leaf stored by the caller ([`super::SharedSink::put_leaf`]);
    /// only between whole chunks. The file must come to more than one chunk
    /// (a single chunk is its own root, or inline with a mode).
    pub fn push_leaf(&mut self, leaf: Entry) {
        assert!(self.chunk.is_empty(), "push_leaf after a partial chunk");
        self.leaves.push(leaf);
    }

    /// Emits what is left and the tree above the leaves; returns the root.
    pub fn finish<S: BlockSink>(mut self, sink: &mut S) -> Result<Entry, S::Error> {
        if self.leaves.is_empty() {
            let size = self.chunk.len() as u64;
            return match self.mode {
                None => emit_owned(sink, RAW, self.chunk, size),
                Some(mode) => {
                    // Metadata forces a dag-pb node holding the bytes inline
                    // (and, like the reference importers, no Data field at
                    // all for an empty file).
                    let data = UnixFsData {
                        data: (!self.chunk.is_empty()).then_some(&self.chunk[..]),
                        filesize: Some(size),
                        mode: Some(mode),
                        ..UnixFsData::of_type(DataType::File)
                    };
                    emit(
                        sink,
                        DAG_PB,
                        &encode_node(&[], Some(&data.encode())),
                        0,
                        size,
                    )
                }
            };
        }
        if !self.chunk.is_empty() {
            let rest = std::mem::take(&mut self.chunk);
            let size = rest.len() as u64;
            self.leaves.push(emit_owned(sink, RAW, rest, size)?);
        }
        let mut level = std::mem::take(&mut self.leaves);
        loop {
            let mut parents = Vec::with_capacity(level.len().div_ceil(MAX_LINKS));
            for group in level.chunks(MAX_LINKS) {
                parents.push(self.parent(group, sink)?);
            }
            if parents.len() == 1 {
                return Ok(parents[0]);
            }
            level = parents;
        }
    }

    fn parent<S: BlockSink>(&self, children: &[Entry], sink: &mut S) -> Result<Entry, S::Error> {
        let links: Vec<PbLink> = children
            .iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: Vec::new(),
                tsize: c.tsize,
            })
            .collect();
        let size: u64 = children.iter().map(|c| c.size).sum();
        let data = UnixFsData {
            filesize: Some(size),
            blocksizes: children.iter().map(|c| c.size).collect(),
            mode: self.mode,
            ..UnixFsData::of_type(DataType::File)
        };
        let block = encode_node(&links, Some(&data.encode()));
        emit(
            sink,
            DAG_PB,
            &block,
            children.iter().map(|c| c.tsize).sum(),
            size,
        )
    }
}
