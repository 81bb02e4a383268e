//! Getting a request's data stream (framed, inline NAR, or pulled with
//! STDERR_READ) from the async socket to the synchronous store code that
//! consumes it on a blocking thread, through a bounded channel: memory stays
//! at a few chunks whatever the upload's size (at most [`CHANNEL_DEPTH`]
//! chunks of at most [`UPLOAD_CHUNK`] (framed) or [`PULL_CHUNK`] (pulled)
//! bytes in flight, however large the frames a client announces).
//!
//! When the consumer fails, the rest of the stream is still read and
//! dropped, as Nix does, so that the session can go on — unless the
//! consumer [stops](ChannelReader::stop) the upload because the stream
//! itself is wrong (longer than declared); then the connection ends.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use nix_formats::hash::{Hash, HashAlgo, Hasher};
use nix_formats::nar::{Decoder as NarDecoder, Status};
use nix_formats::wire::{FrameDecoder, FrameEvent, StderrMsg, WireContext, decode_read_reply};
use tokio::sync::mpsc;

use crate::io::{READ_CHUNK, Wire, WireIoError};

/// Chunks in flight between the socket and the consumer.
const CHANNEL_DEPTH: usize = 8;

/// What one STDERR_READ asks for. Each is a round trip through the client
/// while the consumer waits (it asks only when it needs more, never past
/// the stream's end, which the client would take as an error), so few
/// large ones: the client answers with what its source has, up to this.
const PULL_CHUNK: usize = 1 << 20;

/// The socket's end of an upload.
#[derive(Debug)]
pub struct Sender {
    tx: mpsc::Sender<Vec<u8>>,
    state: Arc<UploadState>,
}

/// What the two ends of an upload tell each other besides the bytes.
#[derive(Debug, Default)]
struct UploadState {
    /// Set by the consumer: the upload cannot be followed; end it.
    stop: OnceLock<String>,
    /// Set by the socket side: the stream reached its proper end (rather
    /// than the client going away in the middle).
    complete: AtomicBool,
}

/// The consumer's end: a `BufRead` over the chunks the socket side sends.
/// It can also hash everything consumed through it.
#[derive(Debug)]
pub struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    hasher: Option<HashTap>,
    consumed: u64,
    state: Arc<UploadState>,
    /// For a pulled stream: asks the socket side for the next chunk (it
    /// sends nothing unasked, since a client cannot be asked past the end
    /// of what it uploads).
    demand: Option<mpsc::UnboundedSender<()>>,
}

/// The socket's end of a pulled upload (STDERR_READ): chunks are sent when
/// the consumer asks for them.
#[derive(Debug)]
pub struct Puller {
    tx: Sender,
    demand: mpsc::UnboundedReceiver<()>,
}

/// A hasher shared between a reader and whoever wants its result.
#[derive(Debug, Clone)]
pub struct HashTap(std::sync::Arc<std::sync::Mutex<Hasher>>);

impl HashTap {
    pub fn new(algo: HashAlgo) -> Self {
        HashTap(std::sync::Arc::new(std::sync::Mutex::new(Hasher::new(
            algo,
        ))))
    }

    pub fn update(&self, data: &[u8]) {
        self.0.lock().expect("hash tap lock").update(data);
    }

    /// The hash of everything seen so far.
    pub fn current(&self) -> Hash {
        self.0.lock().expect("hash tap lock").clone().finish()
    }
}

impl ChannelReader {
    /// Also hash everything consumed, into `tap`.
    pub fn tap(&mut self, tap: HashTap) {
        self.hasher = Some(tap);
    }

    /// Whether the client sends only what is asked for (STDERR_READ), so
    /// that looking past the data's end would ask it for more than it has.
    pub fn is_pulled(&self) -> bool {
        self.demand.is_some()
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Ends the upload: the socket side stops reading and the connection
    /// ends with `why` as its error (for streams that cannot be followed
    /// any further, such as one longer than it was declared).
    pub fn stop(&self, why: String) {
        let _ = self.state.stop.set(why);
    }

    /// Reads everything that is left.
    pub fn read_all(&mut self, limit: u64) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.take(limit + 1).read_to_end(&mut v)?;
        if v.len() as u64 > limit {
            return Err(std::io::Error::other(format!(
                "upload is larger than {limit} bytes"
            )));
        }
        Ok(v)
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.cur.len() {
            if let Some(d) = &self.demand {
                // The socket side has gone if this fails; the receive
                // below then sees the closed channel.
                let _ = d.send(());
            }
            let waited = std::time::Instant::now();
            let got = self.rx.blocking_recv();
            crate::phases::add(crate::phases::Phase::UploadWait, waited);
            match got {
                Some(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                None if self.state.complete.load(Ordering::Acquire) => return Ok(&[]),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the upload ended before its end (the client hung up)",
                    ));
                }
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.cur.len() - self.pos);
        if let Some(h) = &mut self.hasher {
            h.update(&self.cur[self.pos..self.pos + amt]);
        }
        self.consumed += amt as u64;
        self.pos += amt;
    }
}

/// `Read::read` for a `BufRead` that only implements the buffered half:
/// what `fill_buf` has, up to `buf`'s length.
pub fn read_buffered(r: &mut impl BufRead, buf: &mut [u8]) -> std::io::Result<usize> {
    let avail = r.fill_buf()?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    r.consume(n);
    Ok(n)
}

/// A channel pair for one upload the client pulls from itself, chunk by
/// chunk as the consumer asks ([`pump_pulled`]).
pub fn pulled_channel() -> (Puller, ChannelReader) {
    let (tx, mut rx) = channel();
    let (demand_tx, demand) = mpsc::unbounded_channel();
    rx.demand = Some(demand_tx);
    (Puller { tx, demand }, rx)
}

/// A channel pair for one upload.
pub fn channel() -> (Sender, ChannelReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let state = Arc::new(UploadState::default());
    (
        Sender {
            tx,
            state: state.clone(),
        },
        ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
            hasher: None,
            consumed: 0,
            state,
            demand: None,
        },
    )
}

impl Sender {
    /// Hands a chunk to the consumer. `Ok(false)` once the consumer is
    /// gone (the rest is to be drained); an error if it stopped the upload.
    async fn send(&self, chunk: Vec<u8>) -> Result<bool, WireIoError> {
        if self.tx.send(chunk).await.is_ok() {
            return Ok(true);
        }
        match self.state.stop.get() {
            Some(why) => Err(WireIoError::Protocol(why.clone())),
            None => Ok(false),
        }
    }

    /// The stream reached its proper end: the consumer sees the end of
    /// its input (dropping a sender without this makes it an error).
    fn finish(self) {
        self.state.complete.store(true, Ordering::Release);
    }
}

/// A consumer's view of a stream whose length was declared: at most
/// `declared` bytes, then the end. [`Declared::overran`] tells whether the
/// stream went on past it.
#[derive(Debug)]
pub struct Declared<'a, R> {
    inner: &'a mut R,
    left: u64,
}

impl<'a, R: BufRead> Declared<'a, R> {
    pub fn new(inner: &'a mut R, declared: u64) -> Self {
        Declared {
            inner,
            left: declared,
        }
    }

    /// Whether the declared length is used up and the stream holds more
    /// (waits for the socket side to say which).
    pub fn overran(&mut self) -> bool {
        self.left == 0 && self.inner.fill_buf().is_ok_and(|b| !b.is_empty())
    }
}

impl<R: BufRead> Read for Declared<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl<R: BufRead> BufRead for Declared<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.left == 0 {
            return Ok(&[]);
        }
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        let b = self.inner.fill_buf()?;
        Ok(&b[..b.len().min(left)])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(usize::try_from(self.left).unwrap_or(usize::MAX));
        self.inner.consume(amt);
        self.left -= amt as u64;
    }
}

/// Forwards a framed stream to `tx` until its terminator; returns the
/// payload's length. Frames are passed on as their bytes arrive, in chunks
/// of at most [`READ_CHUNK`], whatever length they announce.
///
/// If the consumer went away (it failed), the frames are still read and
/// dropped: the stream must be drained to its end for the session to go
/// on. A payload longer than `limit` (the size the request declared), a
/// frame over the limits or an upload the consumer stopped ends the
/// connection instead.
pub async fn pump_framed(
    wire: &mut Wire,
    cx: &WireContext,
    tx: Sender,
    limit: Option<(u64, String)>,
) -> Result<u64, WireIoError> {
    let mut dec = FrameDecoder::new(cx.limits.max_frame_len);
    let mut tx = Some(tx);
    // Frames already here are passed on together, up to UPLOAD_CHUNK bytes
    // a chunk: clients send small frames (Nix: 32 KiB), and each hand-over
    // can wake the consumer's thread.
    let mut chunk: Vec<u8> = Vec::new();
    loop {
        let step = dec.decode(wire.pending());
        match step {
            Ok((used, FrameEvent::Data(data))) => {
                if tx.is_some() {
                    if chunk.capacity() == 0 {
                        chunk.reserve(UPLOAD_CHUNK);
                    }
                    chunk.extend_from_slice(data);
                }
                wire.consume(used);
                if let Some((max, why)) = &limit {
                    if dec.payload_len() > *max {
                        return Err(WireIoError::Protocol(why.clone()));
                    }
                }
                if chunk.len() >= UPLOAD_CHUNK {
                    send_chunk(&mut tx, &mut chunk).await?;
                }
            }
            Ok((used, FrameEvent::NeedMore { needed })) => {
                wire.consume(used);
                // Nothing more is here: what was gathered goes on before
                // waiting for the client.
                send_chunk(&mut tx, &mut chunk).await?;
                wire.fill(needed.min(READ_CHUNK)).await?;
            }
            Ok((used, FrameEvent::End)) => {
                wire.consume(used);
                send_chunk(&mut tx, &mut chunk).await?;
                if let Some(t) = tx {
                    t.finish();
                }
                return Ok(dec.payload_len());
            }
            Err(e) => return Err(WireIoError::Protocol(e.to_string())),
        }
    }
}

/// Most bytes of an upload handed to its consumer at once.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// Hands what `chunk` gathered to the consumer (if it still reads).
async fn send_chunk(tx: &mut Option<Sender>, chunk: &mut Vec<u8>) -> Result<(), WireIoError> {
    if chunk.is_empty() {
        return Ok(());
    }
    let full = std::mem::take(chunk);
    if let Some(t) = tx {
        if !t.send(full).await? {
            *tx = None;
        }
    }
    Ok(())
}

/// Serves a pulled upload (AddToStoreNar at protocol 1.21–1.22, ImportPaths):
/// each time the consumer needs more, one STDERR_READ asks the client for
/// up to [`PULL_CHUNK`] bytes and its answer is passed on. Ends when the
/// consumer is done (it drops its reader); returns the bytes received.
/// An empty answer means the client has nothing more: the consumer then
/// sees the stream end early. More than `limit` (the size the request
/// declared) ends the connection.
pub async fn pump_pulled(
    wire: &mut Wire,
    cx: &WireContext,
    puller: Puller,
    limit: Option<(u64, String)>,
) -> Result<u64, WireIoError> {
    let Puller { tx, mut demand } = puller;
    let wanted = PULL_CHUNK as u64;
    let mut total = 0u64;
    while demand.recv().await.is_some() {
        nix_formats::wire::encode_into(&mut wire.out, cx, &StderrMsg::Read(wanted))
            .map_err(|e| WireIoError::Protocol(e.to_string()))?;
        wire.flush().await?;
        let chunk = wire
            .read(cx, |d| decode_read_reply(d, wanted).map(<[u8]>::to_vec))
            .await?;
        if chunk.is_empty() {
            // Dropping the sender unfinished: the consumer's read fails.
            return Ok(total);
        }
        total += chunk.len() as u64;
        if let Some((max, why)) = &limit {
            if total > *max {
                return Err(WireIoError::Protocol(why.clone()));
            }
        }
        if !tx.send(chunk).await? {
            break;
        }
    }
    Ok(total)
}

/// Forwards one NAR sent inline (no length prefix; its grammar says where
/// it ends) to `tx`.
pub async fn pump_inline_nar(wire: &mut Wire, tx: Sender) -> Result<(), WireIoError> {
    let mut dec = NarDecoder::new();
    let mut tx = Some(tx);
    loop {
        let before = wire.pending().len();
        let mut input = wire.pending();
        let status = dec
            .advance(&mut input)
            .map_err(|e| WireIoError::Protocol(format!("bad archive: {e}")));
        // Skip the event itself: advance leaves it for `event`, which
        // consumes nothing more for our purposes.
        let mut rest = input;
        let _ = dec.event(&mut rest);
        let used = before - rest.len();
        let chunk = wire.pending()[..used].to_vec();
        wire.consume(used);
        if let Some(t) = &tx {
            if !chunk.is_empty() && !t.send(chunk).await? {
                tx = None;
            }
        }
        match status? {
            _ if dec.is_done() => {
                if let Some(t) = tx {
                    t.finish();
                }
                return Ok(());
            }
            Status::NeedMore(n) => wire.fill(n.min(READ_CHUNK)).await?,
            Status::Ready => {}
        }
    }
}

/// The blocking end of a download (a NAR the daemon sends): what is
/// written goes to the socket side in chunks of [`READ_CHUNK`], through a
/// bounded channel, so a path of any size costs a few chunks of memory —
/// and a client that stops reading stops the writer, not the daemon.
#[derive(Debug)]
pub struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

/// A channel pair for one download; the socket side receives the chunks.
pub fn download() -> (ChannelWriter, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    (
        ChannelWriter {
            tx,
            buf: Vec::new(),
        },
        rx,
    )
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(READ_CHUNK));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(READ_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == READ_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
