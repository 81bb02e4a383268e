//! Framed streams (§2.10): `u64 len` + `len` raw bytes (no padding),
//! repeated, ended by a frame of length 0.
//!
//! [`FrameDecoder`] hands out payload as soon as it arrives (a large frame
//! need not be buffered whole), stops at the terminator and never consumes
//! a byte after it. [`FrameEncoder`] cuts payload into frames and writes
//! the terminator exactly once.

use thiserror::Error;

/// A framed stream that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame at stream offset {offset} has length {len}, above the limit of {limit} bytes")]
    FrameTooLarge { offset: u64, len: u64, limit: usize },
}

/// What [`FrameDecoder::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// Payload bytes (part or all of one frame).
    Data(&'a [u8]),
    /// At least `needed` more bytes must arrive.
    NeedMore { needed: usize },
    /// The terminator was read; the stream is over.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a frame length.
    Header,
    /// Inside a frame with this many payload bytes still to come.
    Data(u64),
    Done,
}

/// Sans-io reader of one framed stream.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    state: State,
    max_frame_len: usize,
    /// Bytes of the stream consumed so far (headers included).
    offset: u64,
    payload_len: u64,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_frame_len`.
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            state: State::Header,
            max_frame_len,
            offset: 0,
            payload_len: 0,
        }
    }

    /// Consumes a prefix of `input` and reports what it held. Returns the
    /// number of bytes consumed (the caller drops them from its buffer)
    /// and the event. Call again with the remaining input until
    /// [`FrameEvent::End`]; after it, nothing more is consumed.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, FrameEvent<'a>), FrameError> {
        let (used, remaining) = match self.state {
            State::Done => return Ok((0, FrameEvent::End)),
            State::Data(remaining) => (0, remaining),
            State::Header => {
                let Some(header) = input.get(..8) else {
                    return Ok((
                        0,
                        FrameEvent::NeedMore {
                            needed: 8 - input.len(),
                        },
                    ));
                };
                let len = u64::from_le_bytes(header.try_into().expect("8-byte slice"));
                if len > self.max_frame_len as u64 {
                    return Err(FrameError::FrameTooLarge {
                        offset: self.offset,
                        len,
                        limit: self.max_frame_len,
                    });
                }
                self.offset += 8;
                if len == 0 {
                    self.state = State::Done;
                    return Ok((8, FrameEvent::End));
                }
                self.state = State::Data(len);
                (8, len)
            }
        };
        // `remaining` is at most `max_frame_len`, so it fits in a usize.
        let remaining_usize = usize::try_from(remaining).unwrap_or(usize::MAX);
        let avail = &input[used..];
        let n = avail.len().min(remaining_usize);
        if n == 0 {
            return Ok((
                used,
                FrameEvent::NeedMore {
                    needed: remaining_usize,
                },
            ));
        }
        let left = remaining - n as u64;
        self.state = if left == 0 {
            State::Header
        } else {
            State::Data(left)
        };
        self.offset += n as u64;
        self.payload_len += n as u64;
        Ok((used + n, FrameEvent::Data(&avail[..n])))
    }

    /// Whether the terminator has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes delivered so far.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// Bytes of the stream consumed so far, headers included.
    pub fn stream_offset(&self) -> u64 {
        self.offset
    }
}

/// Writer of one framed stream. Frames are at most `max_frame_len` bytes;
/// empty writes produce no frame (a zero-length frame would end the
/// stream). [`FrameEncoder::finish`] writes the terminator and consumes
/// the encoder, so it cannot be written twice.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    max_frame_len: usize,
}

impl FrameEncoder {
    /// Nix's own writer uses 32 KiB frames.
    pub const DEFAULT_FRAME_LEN: usize = 32 << 10;

    pub fn new(max_frame_len: usize) -> Self {
        FrameEncoder {
            max_frame_len: max_frame_len.max(1),
        }
    }

    /// Appends `data` as one or more frames.
    pub fn write(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        for chunk in data.chunks(self.max_frame_len) {
            out.extend_from_slice(&(chunk.len() as u64).to_le_bytes());
            out.extend_from_slice(chunk);
        }
    }

    /// Appends the terminating empty frame.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&0u64.to_le_bytes());
    }
}

impl Default for FrameEncoder {
    fn default() -> Self {
        FrameEncoder::new(Self::DEFAULT_FRAME_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(dec: &mut FrameDecoder, mut input: &[u8]) -> (Vec<u8>, usize, bool) {
        let mut payload = Vec::new();
        let mut used = 0;
        loop {
            let (n, ev) = dec.decode(input).expect("valid stream");
            used += n;
            input = &input[n..];
            match ev {
                FrameEvent::Data(d) => payload.extend_from_slice(d),
                FrameEvent::NeedMore { .. } => return (payload, used, false),
                FrameEvent::End => return (payload, used, true),
            }
        }
    }

    #[test]
    fn stops_at_terminator_and_never_reads_past_it() {
        let mut enc = FrameEncoder::new(3);
        let mut wire = Vec::new();
        enc.write(&mut wire, b"hello");
        enc.write(&mut wire, b"");
        enc.finish(&mut wire);
        assert_eq!(wire.len(), 8 + 3 + 8 + 2 + 8);
        wire.extend_from_slice(b"NEXT-OP!");
        let (payload, used, done) = drain(&mut FrameDecoder::new(16), &wire);
        assert_eq!(
            (payload.as_slice(), used, done),
            (&b"hello"[..], wire.len() - 8, true)
        );
    }

    #[test]
    fn byte_by_byte_delivery() {
        let mut wire = Vec::new();
        let mut enc = FrameEncoder::default();
        enc.write(&mut wire, &[7u8; 100]);
        enc.finish(&mut wire);
        let mut dec = FrameDecoder::new(1 << 10);
        let (mut buf, mut payload) = (Vec::new(), Vec::new());
        for &b in &wire {
            buf.push(b);
            let (p, used, done) = drain(&mut dec, &buf);
            payload.extend(p);
            buf.drain(..used);
            assert_eq!(done, dec.is_done());
        }
        assert!(dec.is_done() && buf.is_empty());
        assert_eq!(payload, vec![7u8; 100]);
        assert_eq!(dec.payload_len(), 100);
    }

    #[test]
    fn frame_limit_is_checked_before_the_payload_arrives() {
        let wire = 1000u64.to_le_bytes();
        let err = FrameDecoder::new(999).decode(&wire).expect_err("too large");
        assert_eq!(
            err,
            FrameError::FrameTooLarge {
                offset: 0,
                len: 1000,
                limit: 999
            }
        );
        let (n, ev) = FrameDecoder::new(1000).decode(&wire).expect("fits");
        assert_eq!((n, ev), (8, FrameEvent::NeedMore { needed: 1000 }));
    }
}
