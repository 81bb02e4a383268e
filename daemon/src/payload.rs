//! Getting a request's data stream (framed, inline NAR, or pulled with
//! STDERR_READ) from the async socket to the synchronous store code that
//! consumes it on a blocking thread, through a bounded channel: memory stays
//! at a few chunks whatever the upload's size.

use std::io::{BufRead, Read};

use nix_formats::hash::{Hash, HashAlgo, Hasher};
use nix_formats::nar::{Decoder as NarDecoder, Status};
use nix_formats::wire::{FrameDecoder, FrameEvent, WireContext};
use tokio::sync::mpsc;

use crate::io::{Wire, WireIoError};

/// Chunks in flight between the socket and the consumer.
const CHANNEL_DEPTH: usize = 16;

/// The consumer's end: a `BufRead` over the chunks the socket side sends.
/// It can also hash everything consumed through it.
#[derive(Debug)]
pub struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    hasher: Option<HashTap>,
    consumed: u64,
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

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
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
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.cur.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                None => return Ok(&[]),
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

/// A channel pair for one upload.
pub fn channel() -> (mpsc::Sender<Vec<u8>>, ChannelReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    (
        tx,
        ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
            hasher: None,
            consumed: 0,
        },
    )
}

/// Forwards a framed stream to `tx` until its terminator. If the consumer
/// went away (it failed), the frames are still read and dropped: the
/// stream must always be drained to its end.
pub async fn pump_framed(
    wire: &mut Wire,
    cx: &WireContext,
    tx: mpsc::Sender<Vec<u8>>,
) -> Result<u64, WireIoError> {
    let mut dec = FrameDecoder::new(cx.limits.max_frame_len);
    let mut tx = Some(tx);
    loop {
        let step = dec.decode(wire.pending());
        match step {
            Ok((used, FrameEvent::Data(data))) => {
                let chunk = data.to_vec();
                wire.consume(used);
                if let Some(t) = &tx {
                    if t.send(chunk).await.is_err() {
                        tx = None;
                    }
                }
            }
            Ok((used, FrameEvent::NeedMore { needed })) => {
                wire.consume(used);
                wire.fill(needed).await?;
            }
            Ok((used, FrameEvent::End)) => {
                wire.consume(used);
                return Ok(dec.payload_len());
            }
            Err(e) => return Err(WireIoError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Forwards one NAR sent inline (no length prefix; its grammar says where
/// it ends) to `tx`.
pub async fn pump_inline_nar(
    wire: &mut Wire,
    tx: mpsc::Sender<Vec<u8>>,
) -> Result<(), WireIoError> {
    let mut dec = NarDecoder::new();
    let mut tx = Some(tx);
    loop {
        let before = wire.pending().len();
        let mut input = wire.pending();
        let status = dec
            .advance(&mut input)
            .map_err(|e| WireIoError::Io(std::io::Error::other(e.to_string())));
        // Skip the event itself: advance leaves it for `event`, which
        // consumes nothing more for our purposes.
        let mut rest = input;
        let _ = dec.event(&mut rest);
        let used = before - rest.len();
        let chunk = wire.pending()[..used].to_vec();
        wire.consume(used);
        if let Some(t) = &tx {
            if !chunk.is_empty() && t.send(chunk).await.is_err() {
                tx = None;
            }
        }
        match status? {
            _ if dec.is_done() => return Ok(()),
            Status::NeedMore(n) => wire.fill(n).await?,
            Status::Ready => {}
        }
    }
}
