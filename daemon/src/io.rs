//! The connection's byte plumbing: a read buffer that sans-io decoders
//! consume from, and a write buffer flushed before every wait for input
//! (the one invariant of the loop: never wait for the client while it is
//! waiting for us).
//!
//! What a client can make a connection hold: the read buffer grows with
//! the bytes that actually arrive (at most [`READ_CHUNK`] beyond what a
//! decoder asked for), never with a length the client merely claims, and
//! one message is at most [`Limits::max_message_len`] bytes (checked by the
//! decoders). Data streams (NARs, dumps) never sit here whole: they pass
//! through in chunks (see `payload`).
//!
//! [`Limits::max_message_len`]: nix_formats::wire::Limits::max_message_len

use std::io;

use bytes::BufMut;
use nix_formats::wire::{DecodeError, Decoder, WireContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Most bytes read from the socket at once.
pub const READ_CHUNK: usize = 64 * 1024;

/// An empty read buffer holding more than this gives the memory back.
const KEEP_CAPACITY: usize = 4 * READ_CHUNK;

/// A message decoded from more buffered bytes than this is decoded on a
/// thread the runtime can spare ([`tokio::task::block_in_place`]), so that
/// a client trickling a huge request cannot stall the other connections.
const OFFLOAD_DECODE: usize = 1 << 20;

/// Errors that end a connection.
#[derive(Debug, thiserror::Error)]
pub enum WireIoError {
    #[error("client closed the connection")]
    Eof,
    #[error("socket I/O")]
    Io(#[from] io::Error),
    #[error("malformed request")]
    Decode(#[source] DecodeError),
    /// The client broke the protocol (a frame or an upload past its
    /// limits): it is told why, then the connection ends.
    #[error("{0}")]
    Protocol(String),
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
            buf: Vec::new(),
            start: 0,
            out: Vec::new(),
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
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf.shrink_to(READ_CHUNK);
            }
        }
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.wr.write_all(&self.out).await?;
            self.out.clear();
            if self.out.capacity() > KEEP_CAPACITY {
                self.out.shrink_to(READ_CHUNK);
            }
        }
        Ok(())
    }

    /// Sends what is queued, then `data` straight from the caller's buffer
    /// (a large payload, not copied into the queue first).
    pub async fn write_direct(&mut self, data: &[u8]) -> io::Result<()> {
        self.flush().await?;
        self.wr.write_all(data).await
    }

    /// Flushes, then reads until at least `needed` more bytes are pending.
    /// The buffer grows only by what arrives.
    pub async fn fill(&mut self, needed: usize) -> Result<(), WireIoError> {
        self.flush().await?;
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let target = self.pending().len().saturating_add(needed.max(1));
        while self.pending().len() < target {
            self.buf.reserve(READ_CHUNK);
            let mut room = (&mut self.buf).limit(READ_CHUNK);
            if self.rd.read_buf(&mut room).await? == 0 {
                return Err(WireIoError::Eof);
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
        let offload = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        loop {
            let input = self.pending();
            let mut attempt = || {
                let mut d = Decoder::new(input, cx);
                f(&mut d).map(|v| (v, d.pos()))
            };
            let result = if offload && input.len() > OFFLOAD_DECODE {
                tokio::task::block_in_place(attempt)
            } else {
                attempt()
            };
            match result {
                Ok((v, used)) => {
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
