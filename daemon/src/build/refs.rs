//! Reference scanning: which of a set of candidate store paths a build
//! output mentions, found by looking for their 32-character hash parts in
//! the output's NAR serialisation (contents, file names and symlink
//! targets), as Nix does.

use std::collections::{BTreeSet, HashMap};

use nix_formats::nix32;
use nix_formats::store_path::{HASH_PART_LEN, StorePath};

/// Scans a byte stream fed in pieces of any size.
#[derive(Debug)]
pub struct RefScanner {
    wanted: HashMap<[u8; HASH_PART_LEN], StorePath>,
    found: BTreeSet<StorePath>,
    /// The last bytes seen (at most 31), so hashes split across pieces
    /// are found.
    tail: Vec<u8>,
}

fn is_nix32(b: u8) -> bool {
    nix32::ALPHABET.contains(&b)
}

impl RefScanner {
    pub fn new(candidates: impl IntoIterator<Item = StorePath>) -> Self {
        let mut wanted = HashMap::new();
        for p in candidates {
            let mut k = [0u8; HASH_PART_LEN];
            k.copy_from_slice(p.hash_part().as_bytes());
            wanted.insert(k, p);
        }
        RefScanner {
            wanted,
            found: BTreeSet::new(),
            tail: Vec::with_capacity(2 * HASH_PART_LEN),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if self.wanted.is_empty() || data.is_empty() {
            return;
        }
        // Hashes that straddle the previous piece and this one.
        let head = &data[..data.len().min(HASH_PART_LEN - 1)];
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(head);
        self.scan(&joined.clone());
        self.scan(data);
        let keep = data.len().min(HASH_PART_LEN - 1);
        if data.len() >= HASH_PART_LEN - 1 {
            joined.clear();
            joined.extend_from_slice(&data[data.len() - keep..]);
        } else {
            let start = joined.len().saturating_sub(HASH_PART_LEN - 1);
            joined.drain(..start);
        }
        self.tail = joined;
    }

    fn scan(&mut self, data: &[u8]) {
        let mut run = 0usize;
        for (i, &b) in data.iter().enumerate() {
            if is_nix32(b) {
                run += 1;
                if run >= HASH_PART_LEN {
                    let w = &data[i + 1 - HASH_PART_LEN..=i];
                    if let Some(p) = self.wanted.get(w) {
                        self.found.insert(p.clone());
                    }
                }
            } else {
                run = 0;
            }
        }
    }

    pub fn found(&self) -> &BTreeSet<StorePath> {
        &self.found
    }

    pub fn into_found(self) -> BTreeSet<StorePath> {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &str, n: &str) -> StorePath {
        StorePath::from_base_name(&format!("{h}-{n}")).expect("path")
    }

    #[test]
    fn finds_hashes_across_piece_boundaries() {
        let a = p("fxcbk40d9jdfssp87nfq506279vbh33d", "a");
        let b = p("jsknzjnpb97vk23rgsmvj9gx2ad79y7g", "b");
        let c = p("rv0l4f72n0ybmnvrv24ad4q89g0y4fiv", "c");
        let text = format!("x /nix/store/{a} and {}, not c", b.hash_part());
        for split in 0..text.len() {
            let mut s = RefScanner::new([a.clone(), b.clone(), c.clone()]);
            let (x, y) = text.as_bytes().split_at(split);
            s.update(x);
            s.update(y);
            assert_eq!(
                s.found(),
                &BTreeSet::from([a.clone(), b.clone()]),
                "split at {split}"
            );
        }
        // Byte by byte too.
        let mut s = RefScanner::new([a.clone(), c.clone()]);
        for byte in text.as_bytes() {
            s.update(std::slice::from_ref(byte));
        }
        assert_eq!(s.into_found(), BTreeSet::from([a]));
    }
}
