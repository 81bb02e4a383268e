//! The protobuf subset dag-pb and UnixFS need, written by hand so the byte
//! order is exactly the reference implementations': PBNode writes Links
//! (field 2) before Data (field 1); PBLink writes Hash, Name (even when
//! empty) and Tsize; UnixFS Data writes fields in number order with
//! `blocksizes` unpacked.

use thiserror::Error;

/// Errors decoding protobuf bytes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PbError {
    #[error("truncated protobuf at offset {0}")]
    Truncated(usize),
    #[error("varint too long at offset {0}")]
    VarintOverflow(usize),
    #[error("unexpected field {field} (wire type {wire_type}) at offset {offset} in {message}")]
    UnexpectedField {
        message: &'static str,
        field: u64,
        wire_type: u8,
        offset: usize,
    },
    #[error("{message} is missing required field {field}")]
    Missing {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: field {field} out of order or repeated at offset {offset}")]
    NonCanonical {
        message: &'static str,
        field: u64,
        offset: usize,
    },
    #[error("unknown UnixFS type {0}")]
    UnknownType(u64),
    #[error("value {value} of {field} out of range")]
    OutOfRange { field: &'static str, value: u64 },
}

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub fn varint_len(mut n: u64) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        n >>= 7;
        l += 1;
    }
    l
}

pub fn put_uint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

pub fn put_bytes_field(out: &mut Vec<u8>, field: u64, v: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

/// Length of a bytes field (tag, length, payload) with a 1-byte tag.
pub fn bytes_field_len(payload: usize) -> usize {
    1 + varint_len(payload as u64) + payload
}

/// A protobuf reader over a byte slice; every length is bounded by the
/// slice, so nothing is allocated from untrusted lengths.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One field as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
    Fixed64(u64),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Reads one bare varint.
    pub fn read_varint(&mut self) -> Result<u64, PbError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(PbError::Truncated(start))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(PbError::VarintOverflow(start));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(PbError::VarintOverflow(start))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PbError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(PbError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next `(field number, value)`, or `None` at the end.
    pub fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, PbError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.read_varint()?;
        let field = key >> 3;
        let v = match key & 7 {
            0 => Value::Varint(self.read_varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let n = self.read_varint()?;
                let n = usize::try_from(n).map_err(|_| PbError::Truncated(self.pos))?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            wt => {
                return Err(PbError::UnexpectedField {
                    message: "protobuf",
                    field,
                    wire_type: wt as u8,
                    offset: self.pos,
                });
            }
        };
        Ok(Some((field, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for n in [0u64, 1, 127, 128, 300, 262144, u64::MAX] {
            let mut v = Vec::new();
            put_varint(&mut v, n);
            assert_eq!(v.len(), varint_len(n));
            assert_eq!(Reader::new(&v).read_varint(), Ok(n));
            let mut w = Vec::new();
            put_uint_field(&mut w, 1, n);
            assert_eq!(
                Reader::new(&w).next_field(),
                Ok(Some((1, Value::Varint(n))))
            );
        }
        assert_eq!(
            Reader::new(&[0xff; 11]).read_varint(),
            Err(PbError::VarintOverflow(0))
        );
        assert_eq!(
            Reader::new(&[0x08, 0xff]).next_field(),
            Err(PbError::Truncated(1))
        );
        assert_eq!(
            Reader::new(&[0x0a, 0x05, 1]).next_field(),
            Err(PbError::Truncated(2))
        );
    }
}
