//! Reading `str(x)` and `u64` fields across arbitrary input splits.
//!
//! Every function here takes what it can from `input`, remembers how far it
//! got, and says whether the field is complete. Bytes are moved a slice at a
//! time; only padding (at most 7 bytes) is looked at byte by byte.

use super::DecodeError;
use crate::nar::grammar::padding;

/// Which part of a `str(x)` comes next.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Len,
    Body { len: usize },
    Pad,
}

/// Position in the archive and the partial field being read.
#[derive(Debug)]
pub(super) struct Wire {
    /// Bytes consumed since the start of the archive.
    offset: u64,
    /// Offset of the length field of the field being read.
    start: u64,
    phase: Phase,
    len_bytes: [u8; 8],
    len_have: u8,
    pad_left: u8,
    /// Body of the last string read; never longer than the limit it was
    /// read with.
    pub(super) body: Vec<u8>,
}

impl Wire {
    pub(super) fn new() -> Self {
        Wire {
            offset: 0,
            start: 0,
            phase: Phase::Len,
            len_bytes: [0; 8],
            len_have: 0,
            pad_left: 0,
            body: Vec::new(),
        }
    }

    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset of the length field of the field read last (or being read).
    pub(super) fn start(&self) -> u64 {
        self.start
    }

    /// How many more bytes the field being read needs at least.
    pub(super) fn need(&self) -> usize {
        match self.phase {
            Phase::Len => usize::from(8 - self.len_have),
            Phase::Body { len } => len - self.body.len(),
            Phase::Pad => usize::from(self.pad_left),
        }
    }

    /// Splits `n ≤ input.len()` bytes off the front of `input`.
    pub(super) fn take<'i>(&mut self, input: &mut &'i [u8], n: usize) -> &'i [u8] {
        let (head, rest) = input.split_at(n);
        *input = rest;
        self.offset += n as u64;
        head
    }

    /// Reads a little-endian `u64`; `None` when the input ran out first.
    pub(super) fn read_u64(&mut self, input: &mut &[u8]) -> Option<u64> {
        if self.len_have == 0 {
            self.start = self.offset;
        }
        let have = usize::from(self.len_have);
        let n = (8 - have).min(input.len());
        let bytes = self.take(input, n);
        self.len_bytes[have..have + n].copy_from_slice(bytes);
        // n ≤ 8, so it fits in a u8.
        self.len_have += n as u8;
        if self.len_have < 8 {
            return None;
        }
        self.len_have = 0;
        Some(u64::from_le_bytes(self.len_bytes))
    }

    /// Reads a whole `str(x)` of at most `limit` bytes into `body`. Returns
    /// `Ok(false)` when the input ran out first. A longer length is refused
    /// with `too_long(offset, len)` before any byte of the body is read.
    pub(super) fn read_str(
        &mut self,
        input: &mut &[u8],
        limit: usize,
        too_long: impl FnOnce(u64, u64) -> DecodeError,
    ) -> Result<bool, DecodeError> {
        loop {
            match self.phase {
                Phase::Len => {
                    let Some(len) = self.read_u64(input) else {
                        return Ok(false);
                    };
                    let len = match usize::try_from(len) {
                        Ok(len) if len <= limit => len,
                        _ => return Err(too_long(self.start, len)),
                    };
                    self.body.clear();
                    self.phase = Phase::Body { len };
                }
                Phase::Body { len } => {
                    let n = (len - self.body.len()).min(input.len());
                    let bytes = self.take(input, n);
                    self.body.extend_from_slice(bytes);
                    if self.body.len() < len {
                        return Ok(false);
                    }
                    self.begin_padding(len as u64);
                    self.phase = Phase::Pad;
                }
                Phase::Pad => {
                    if !self.skip_padding(input)? {
                        return Ok(false);
                    }
                    self.phase = Phase::Len;
                    return Ok(true);
                }
            }
        }
    }

    /// Arms [`skip_padding`](Self::skip_padding) for a field of `len` bytes.
    pub(super) fn begin_padding(&mut self, len: u64) {
        // padding() is below 8.
        self.pad_left = padding(len) as u8;
    }

    /// Consumes the armed padding, which must be zero. `Ok(true)` once all
    /// of it is consumed.
    pub(super) fn skip_padding(&mut self, input: &mut &[u8]) -> Result<bool, DecodeError> {
        let n = usize::from(self.pad_left).min(input.len());
        let at = self.offset;
        let pad = self.take(input, n);
        if let Some(i) = pad.iter().position(|&b| b != 0) {
            return Err(DecodeError::Padding {
                offset: at + i as u64,
            });
        }
        // n ≤ pad_left, a u8.
        self.pad_left -= n as u8;
        Ok(self.pad_left == 0)
    }

    /// Padding bytes still to consume.
    pub(super) fn pad_left(&self) -> usize {
        usize::from(self.pad_left)
    }
}
