//! The `nix-store --export` / `--import` file format.
//!
//! ```text
//! repeat:  u64 1, NAR, u64 0x4558494e ("NIXE"), string path,
//!          strings references, string deriver ("" = none), u64 0
//! end:     u64 0
//! ```
//! Strings are padded to 8 bytes as on the daemon wire.

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Write};

use thiserror::Error;

use crate::nar::{NarReader, ReadError};
use crate::store_path::{StoreDir, StorePath, StorePathError};

/// Magic after each NAR.
pub const EXPORT_MAGIC: u64 = 0x4558_494e;
/// Longest string field accepted (a store path is far shorter).
const MAX_STRING: u64 = 4096;
/// Most references accepted for one path.
const MAX_REFS: u64 = 1 << 20;

/// Errors reading an export stream.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error("reading export stream")]
    Io(#[from] std::io::Error),
    #[error("bad NAR in export stream")]
    Nar(#[from] ReadError),
    #[error("export stream at offset {offset}: expected {expected}, found {found:#x}")]
    Unexpected {
        offset: u64,
        expected: &'static str,
        found: u64,
    },
    #[error("export stream at offset {offset}: {what} of length {len} is over the limit")]
    TooLong {
        offset: u64,
        what: &'static str,
        len: u64,
    },
    #[error("export stream at offset {offset}: non-zero padding")]
    Padding { offset: u64 },
    #[error("export stream names a bad store path")]
    Path(#[from] StorePathError),
}

/// One path of an export stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportItem {
    pub nar: Vec<u8>,
    pub path: StorePath,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
}

struct Counted<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Counted<R> {
    fn u64(&mut self) -> Result<u64, ExportError> {
        let mut b = [0u8; 8];
        self.inner.read_exact(&mut b)?;
        self.offset += 8;
        Ok(u64::from_le_bytes(b))
    }

    fn string(&mut self, what: &'static str) -> Result<String, ExportError> {
        let len = self.u64()?;
        if len > MAX_STRING {
            return Err(ExportError::TooLong {
                offset: self.offset,
                what,
                len,
            });
        }
        let padded = (len as usize).div_ceil(8) * 8;
        let mut b = vec![0u8; padded];
        self.inner.read_exact(&mut b)?;
        self.offset += padded as u64;
        if b[len as usize..].iter().any(|&x| x != 0) {
            return Err(ExportError::Padding {
                offset: self.offset,
            });
        }
        b.truncate(len as usize);
        String::from_utf8(b).map_err(|_| ExportError::Unexpected {
            offset: self.offset,
            expected: "UTF-8 store path",
            found: 0,
        })
    }
}

/// Reads a whole export stream (NARs are held in memory; the daemon never
/// receives this format, only the client parses it).
pub fn read_export(
    store_dir: &StoreDir,
    input: impl BufRead,
) -> Result<Vec<ExportItem>, ExportError> {
    let mut r = Counted {
        inner: input,
        offset: 0,
    };
    let mut items = Vec::new();
    loop {
        match r.u64()? {
            0 => return Ok(items),
            1 => {}
            found => {
                return Err(ExportError::Unexpected {
                    offset: r.offset,
                    expected: "0 or 1",
                    found,
                });
            }
        }
        let mut tee = TeeReader {
            inner: &mut r.inner,
            copy: Vec::new(),
        };
        let mut nar = NarReader::new(&mut tee);
        while !matches!(nar.next_event()?, crate::nar::Event::End) {}
        drop(nar);
        let nar = tee.copy;
        r.offset += nar.len() as u64;
        let magic = r.u64()?;
        if magic != EXPORT_MAGIC {
            return Err(ExportError::Unexpected {
                offset: r.offset,
                expected: "export magic NIXE",
                found: magic,
            });
        }
        let path = store_dir.parse_path(&r.string("path")?)?;
        let n = r.u64()?;
        if n > MAX_REFS {
            return Err(ExportError::TooLong {
                offset: r.offset,
                what: "reference list",
                len: n,
            });
        }
        let mut references = BTreeSet::new();
        for _ in 0..n {
            references.insert(store_dir.parse_path(&r.string("reference")?)?);
        }
        let deriver = r.string("deriver")?;
        let deriver = if deriver.is_empty() {
            None
        } else {
            Some(store_dir.parse_path(&deriver)?)
        };
        match r.u64()? {
            0 => {}
            1 => {
                // A legacy signature: read and ignored, as Nix does.
                r.string("legacy signature")?;
            }
            found => {
                return Err(ExportError::Unexpected {
                    offset: r.offset,
                    expected: "0 or 1",
                    found,
                });
            }
        }
        items.push(ExportItem {
            nar,
            path,
            references,
            deriver,
        });
    }
}

/// A `BufRead` that remembers every byte consumed through it.
struct TeeReader<'a, R> {
    inner: &'a mut R,
    copy: Vec<u8>,
}

impl<R: BufRead> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for TeeReader<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(b) = self.inner.fill_buf() {
            let take = amt.min(b.len());
            self.copy.extend_from_slice(&b[..take]);
        }
        self.inner.consume(amt);
    }
}

fn put_string(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(&(s.len() as u64).to_le_bytes())?;
    out.write_all(s.as_bytes())?;
    out.write_all(&[0u8; 8][..(8 - s.len() % 8) % 8])
}

/// Writes what precedes an item's NAR in an export stream.
pub fn write_item_head(mut out: impl Write) -> std::io::Result<()> {
    out.write_all(&1u64.to_le_bytes())
}

/// Writes what follows an item's NAR in an export stream (so that a NAR
/// can be streamed between the two).
pub fn write_item_tail(
    store_dir: &StoreDir,
    path: &StorePath,
    references: &BTreeSet<StorePath>,
    deriver: Option<&StorePath>,
    mut out: impl Write,
) -> std::io::Result<()> {
    out.write_all(&EXPORT_MAGIC.to_le_bytes())?;
    put_string(&mut out, &store_dir.display(path))?;
    out.write_all(&(references.len() as u64).to_le_bytes())?;
    for r in references {
        put_string(&mut out, &store_dir.display(r))?;
    }
    put_string(
        &mut out,
        &deriver.map(|d| store_dir.display(d)).unwrap_or_default(),
    )?;
    out.write_all(&0u64.to_le_bytes())
}

/// Writes an export stream as `nix-store --export` does.
pub fn write_export(
    store_dir: &StoreDir,
    items: &[ExportItem],
    mut out: impl Write,
) -> std::io::Result<()> {
    for item in items {
        write_item_head(&mut out)?;
        out.write_all(&item.nar)?;
        write_item_tail(
            store_dir,
            &item.path,
            &item.references,
            item.deriver.as_ref(),
            &mut out,
        )?;
    }
    out.write_all(&0u64.to_le_bytes())
}
