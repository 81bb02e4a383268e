//! Directories: one basic dag-pb node with links sorted by name bytes, or a
//! HAMT when that node would be larger than [`HAMT_THRESHOLD`].

use thiserror::Error;

use super::hamt::Hamt;
use super::node::{DataType, PbLink, UnixFsData, encode_node, encoded_len};
use super::{BlockSink, DAG_PB, Entry, HAMT_THRESHOLD, emit};

/// Errors building a directory.
#[derive(Debug, Error)]
pub enum DirError<E> {
    #[error("duplicate directory entry {0:?}")]
    Duplicate(String),
    #[error("directory entries {0:?} and {1:?} collide in all 64 bits of the HAMT hash")]
    HashCollision(String, String),
    #[error("block sink failed")]
    Sink(#[source] E),
}

/// Collects a directory's entries, then emits its node(s).
#[derive(Debug, Default)]
pub struct DirBuilder {
    entries: Vec<(Vec<u8>, Entry)>,
}

impl DirBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: Vec<u8>, entry: Entry) {
        self.entries.push((name, entry));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn finish<S: BlockSink>(mut self, sink: &mut S) -> Result<Entry, DirError<S::Error>> {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = self.entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(DirError::Duplicate(
                String::from_utf8_lossy(&w[0].0).into_owned(),
            ));
        }
        let links: Vec<PbLink> = self
            .entries
            .iter()
            .map(|(name, e)| PbLink {
                cid: e.cid,
                name: name.clone(),
                tsize: e.tsize,
            })
            .collect();
        let data = UnixFsData::of_type(DataType::Directory).encode();
        if encoded_len(&links, Some(data.len())) > HAMT_THRESHOLD {
            let mut hamt = Hamt::default();
            for (name, e) in self.entries {
                hamt.insert(name, e)?;
            }
            return hamt.finish(sink).map_err(DirError::Sink);
        }
        let children: u64 = links.iter().map(|l| l.tsize).sum();
        emit(sink, DAG_PB, &encode_node(&links, Some(&data)), children, 0).map_err(DirError::Sink)
    }
}
