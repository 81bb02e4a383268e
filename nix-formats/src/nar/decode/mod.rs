//! Sans-io NAR decoder: bytes in, [`Event`]s out (see [`Decoder`]).

mod error;
mod event;
mod machine;
mod wire;

pub use error::{DecodeError, Found};
pub use event::{Event, Status, Step};

use machine::{Pending, State};
use wire::Wire;

/// The streaming, sans-io NAR decoder.
///
/// The caller owns the input. It hands the decoder a `&mut &[u8]`; the
/// decoder takes bytes off its front and either has an event ready or has
/// used the input up and needs more. Any split of the archive into pieces
/// gives the same events (contents may come in different pieces). Only
/// names and symlink targets, bounded by the grammar's limits, are copied;
/// file contents are handed back as slices of the caller's input.
///
/// The decoder stops right after the root node's closing `)`: a NAR read
/// inline from a stream leaves the bytes after it untouched.
///
/// ```
/// use nix_formats::nar::{Decoder, Event, Step};
///
/// let nar = nix_formats::nar::Node::Symlink { target: b"x".to_vec() }.to_nar()?;
/// let mut decoder = Decoder::new();
/// let mut input = &nar[..];
/// let mut events = 0;
/// loop {
///     match decoder.next(&mut input)? {
///         Step::Event(Event::End) => break,
///         Step::Event(_) => events += 1,
///         Step::NeedMore(_) => unreachable!("the whole archive was given"),
///     }
/// }
/// assert_eq!(events, 2); // Symlink, NodeEnd
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Use [`next`](Self::next), or — when the caller must refill its buffer
/// between calls, as a loop over a reader does — [`advance`](Self::advance)
/// until [`Status::Ready`] and then [`event`](Self::event) with the same
/// input. After an error every call returns that error again.
#[derive(Debug)]
pub struct Decoder {
    wire: Wire,
    state: State,
    pending: Option<Pending>,
    /// Name of the last entry of every open directory, outermost first
    /// (empty before the first entry: any valid name is greater).
    dirs: Vec<Vec<u8>>,
    failed: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder expecting the start of an archive.
    pub fn new() -> Self {
        Decoder {
            wire: Wire::new(),
            state: State::Magic,
            pending: None,
            dirs: Vec::new(),
            failed: None,
        }
    }

    /// Bytes consumed so far; once [`is_done`](Self::is_done), the size of
    /// the archive.
    pub fn offset(&self) -> u64 {
        self.wire.offset()
    }

    /// Whether the archive is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Directories currently open.
    pub fn depth(&self) -> usize {
        self.dirs.len()
    }

    /// Bytes of the current regular file's contents not yet handed out as
    /// [`Event::Contents`] (0 outside contents, or while the
    /// [`Event::Regular`] that starts them is still pending).
    pub fn contents_remaining(&self) -> u64 {
        match (self.pending, self.state) {
            (None, State::Contents { remaining, .. }) => remaining,
            _ => 0,
        }
    }

    /// Decodes the next event, taking bytes off the front of `input`.
    pub fn next<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8]) -> Result<Step<'s>, DecodeError> {
        match self.advance(input)? {
            Status::NeedMore(n) => Ok(Step::NeedMore(n)),
            Status::Ready => Ok(Step::Event(
                self.event(input)
                    .expect("advance found an event ready in this same input"),
            )),
        }
    }

    /// Consumes input until an event is ready ([`Status::Ready`]) or the
    /// input is used up ([`Status::NeedMore`]). Borrows nothing, so a driver
    /// may refill its buffer in between.
    pub fn advance(&mut self, input: &mut &[u8]) -> Result<Status, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.run(input);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    /// Hands out the event [`advance`](Self::advance) made ready. `input`
    /// must be what `advance` left; a contents event takes its bytes from
    /// it (as many as it holds, up to the end of the file). `None` if no
    /// event is ready.
    pub fn event<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8]) -> Option<Event<'s>> {
        if self.failed.is_some() {
            return None;
        }
        if let Some(pending) = self.pending.take() {
            return Some(match pending {
                Pending::Directory => Event::Directory,
                Pending::Entry => Event::Entry {
                    name: &self.wire.body,
                },
                Pending::EntryEnd => Event::EntryEnd,
                Pending::Regular { executable, size } => Event::Regular { executable, size },
                Pending::Symlink => Event::Symlink {
                    target: &self.wire.body,
                },
                Pending::NodeEnd => Event::NodeEnd,
            });
        }
        match &mut self.state {
            State::Done => Some(Event::End),
            State::Contents { remaining, .. } if *remaining > 0 && !input.is_empty() => {
                // Bounded by input.len(), so it fits in a usize.
                let n = (*remaining).min(input.len() as u64) as usize;
                *remaining -= n as u64;
                Some(Event::Contents(self.wire.take(input, n)))
            }
            _ => None,
        }
    }
}
