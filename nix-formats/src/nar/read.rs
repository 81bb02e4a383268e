//! Blocking NAR reader over [`BufRead`], built on the [`Decoder`].
//!
//! It reads straight out of the `BufRead`'s buffer and consumes exactly the
//! bytes of the archive: after [`Event::End`], [`NarReader::into_inner`]
//! gives the reader back positioned at the first byte after the NAR, which
//! is how the daemon reads a NAR inline in its stream. Wrap a plain
//! [`Read`] in a [`std::io::BufReader`] (a large one, say 256 KiB, for big
//! archives).

use std::io::{self, BufRead, Read};

use super::decode::{DecodeError, Decoder, Event, Status};

/// Why reading a NAR failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("reading NAR")]
    Io(#[from] io::Error),
    /// The archive breaks the grammar.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The input ended inside the archive.
    #[error("bad archive: input ends at byte {offset}, inside the archive")]
    Truncated {
        /// Bytes of archive read before the end.
        offset: u64,
    },
}

/// Pulls [`Event`]s from a NAR in a [`BufRead`]. Implements [`Read`] for the
/// contents of the current regular file.
#[derive(Debug)]
pub struct NarReader<R> {
    inner: R,
    decoder: Decoder,
    /// Bytes of `inner`'s buffer handed out in the last event and not yet
    /// consumed (the event borrowed them).
    unconsumed: usize,
}

impl<R: BufRead> NarReader<R> {
    /// A reader expecting the start of an archive.
    pub fn new(inner: R) -> Self {
        NarReader {
            inner,
            decoder: Decoder::new(),
            unconsumed: 0,
        }
    }

    /// The decoder, for its offset, depth and contents position.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The next event. Contents come as [`Event::Contents`] slices of the
    /// buffer (or read them through [`Read`] after [`Event::Regular`]).
    /// Never reads past the archive: [`Event::End`] is reported, again and
    /// again, without touching `R`.
    pub fn next_event(&mut self) -> Result<Event<'_>, ReadError> {
        self.consume_handed_out();
        let mut status = self.decoder.advance(&mut &[][..])?;
        while let Status::NeedMore(_) = status {
            let buf = fill_buf(&mut self.inner)?;
            if buf.is_empty() {
                return Err(ReadError::Truncated {
                    offset: self.decoder.offset(),
                });
            }
            let mut input = buf;
            status = self.decoder.advance(&mut input)?;
            let used = buf.len() - input.len();
            self.inner.consume(used);
        }
        if self.decoder.contents_remaining() == 0 {
            return self.decoder.event(&mut &[][..]).ok_or_else(lost_event);
        }
        // advance() reported contents ready, so the buffer holds bytes and
        // fill_buf() returns them without reading.
        let buf = self.inner.fill_buf()?;
        let mut input = buf;
        let event = self.decoder.event(&mut input).ok_or_else(lost_event)?;
        self.unconsumed = buf.len() - input.len();
        Ok(event)
    }

    /// Reads events up to and including [`Event::End`]; returns the size
    /// of the archive.
    pub fn skip_rest(&mut self) -> Result<u64, ReadError> {
        while self.next_event()? != Event::End {}
        Ok(self.decoder.offset())
    }

    /// Returns the underlying reader, positioned right after the last byte
    /// the decoder consumed.
    pub fn into_inner(mut self) -> R {
        self.consume_handed_out();
        self.inner
    }

    fn consume_handed_out(&mut self) {
        self.inner.consume(std::mem::take(&mut self.unconsumed));
    }
}

/// Reads the current regular file's contents; `Ok(0)` at their end, and
/// everywhere outside contents. Continue with
/// [`next_event`](NarReader::next_event) afterwards.
impl<R: BufRead> Read for NarReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.decoder.contents_remaining() == 0 {
            return Ok(0);
        }
        self.consume_handed_out();
        let buf = fill_buf(&mut self.inner)?;
        if buf.is_empty() {
            let offset = self.decoder.offset();
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                ReadError::Truncated { offset },
            ));
        }
        let mut input = &buf[..buf.len().min(out.len())];
        let n = match self.decoder.event(&mut input) {
            Some(Event::Contents(chunk)) => {
                out[..chunk.len()].copy_from_slice(chunk);
                chunk.len()
            }
            _ => return Err(lost_event().into_io()),
        };
        self.inner.consume(n);
        Ok(n)
    }
}

/// `fill_buf`, retried on `Interrupted`.
fn fill_buf<R: BufRead>(r: &mut R) -> io::Result<&[u8]> {
    loop {
        match r.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Re-borrow to return: the loop's borrow ends with this arm.
            Ok(_) => break,
            Err(e) => return Err(e),
        }
    }
    r.fill_buf()
}

/// The `BufRead` dropped bytes it had buffered (a broken implementation).
fn lost_event() -> ReadError {
    ReadError::Io(io::Error::other(
        "buffered reader lost bytes it had buffered",
    ))
}

impl ReadError {
    fn into_io(self) -> io::Error {
        match self {
            ReadError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
