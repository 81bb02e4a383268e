//! A bounded in-process pipe: the download writes, the NAR restorer reads
//! (Nix's `sinkToSource`).

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// How many chunks may wait between writer and reader.
const DEPTH: usize = 16;

/// The writing end. Dropping it ends the reader's input.
#[derive(Debug)]
pub(crate) struct PipeWriter(SyncSender<Vec<u8>>);

/// The reading end. Dropping it makes writes fail with `BrokenPipe`.
#[derive(Debug)]
pub(crate) struct PipeReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

pub(crate) fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(DEPTH);
    let reader = PipeReader {
        rx,
        chunk: Vec::new(),
        pos: 0,
    };
    (PipeWriter(tx), reader)
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0
            .send(buf.to_vec())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                // The writer is gone: end of input.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_and_hang_ups_show() {
        let (mut w, mut r) = pipe();
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).expect("read");
            all
        });
        w.write_all(b"hello ").expect("write");
        w.write_all(b"world").expect("write");
        drop(w);
        assert_eq!(t.join().expect("reader"), b"hello world");

        let (mut w, r) = pipe();
        drop(r);
        let err = w.write_all(b"x").expect_err("no reader");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
