//! The connection's byte plumbing: a read buffer that sans-io decoders
//! consume from, and a write buffer flushed before every wait for input
//! (the one invariant of the loop: never wait for the client while it is
//! waiting for us).

use std::io;

use nix_formats::wire::{DecodeError, Decoder, WireContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Most bytes buffered from a client at once beyond what a decoder asked
/// for (decoders check every length against their limits first).
const READ_CHUNK: usize = 256 * 1024;

/// Errors that end a connection.
#[derive(Debug, thiserror::Error)]
pub enum WireIoError {
    #[error("client closed the connection")]
    Eof,
    #[error("socket I/O")]
    Io(#[from] io::Error),
    #[error("malformed request")]
    Decode(#[source] DecodeError),
}

/// Both halves of a client connection with their buffers.
#[derive(Debug)]
pub struct Wire {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
    start: usize,
    pub out: Vec<u8>,
}

impl Wire {
    pub fn new(stream: tokio::net::UnixStream) -> Self {
        let (rd, wr) = stream.into_split();
        Wire {
            rd,
            wr,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            out: Vec::with_capacity(64 * 1024),
        }
    }

    /// Bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Pending input and the output buffer at once (for handshakes that
    /// answer as they read).
    pub fn split(&mut self) -> (&[u8], &mut Vec<u8>) {
        (&self.buf[self.start..], &mut self.out)
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.wr.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Flushes, then reads until at least `needed` more bytes are pending.
    pub async fn fill(&mut self, needed: usize) -> Result<(), WireIoError> {
        self.flush().await?;
        if self.start > 0 && self.start * 2 > self.buf.capacity() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let target = self.pending().len() + needed.max(1);
        while self.pending().len() < target {
            let len = self.buf.len();
            let want = (target - self.pending().len()).max(READ_CHUNK.min(64 * 1024));
            self.buf.resize(len + want, 0);
            let n = self.rd.read(&mut self.buf[len..]).await;
            match n {
                Ok(0) => {
                    self.buf.truncate(len);
                    return Err(WireIoError::Eof);
                }
                Ok(n) => self.buf.truncate(len + n),
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Decodes one value with `f`, reading more bytes as the decoder asks.
    pub async fn read<T>(
        &mut self,
        cx: &WireContext,
        mut f: impl FnMut(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, WireIoError> {
        loop {
            let mut d = Decoder::new(self.pending(), cx);
            match f(&mut d) {
                Ok(v) => {
                    let used = d.pos();
                    self.consume(used);
                    return Ok(v);
                }
                Err(DecodeError::Incomplete { needed }) => self.fill(needed).await?,
                Err(e) => return Err(WireIoError::Decode(e)),
            }
        }
    }

    pub async fn read_u64(&mut self, cx: &WireContext) -> Result<u64, WireIoError> {
        self.read(cx, |d| d.u64()).await
    }
}
