//! What the decoder reports.

/// One step of a NAR, in archive order.
///
/// A node is announced by [`Directory`](Event::Directory),
/// [`Regular`](Event::Regular) or [`Symlink`](Event::Symlink) and closed by
/// [`NodeEnd`](Event::NodeEnd). Inside a directory every child sits between
/// [`Entry`](Event::Entry) and [`EntryEnd`](Event::EntryEnd). After the root
/// node's `NodeEnd` comes [`End`](Event::End).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A directory node begins; its entries follow.
    Directory,
    /// A directory entry begins; its node follows. The name has been checked
    /// (see [`check_name`](super::super::grammar::check_name)) and is greater
    /// than the previous entry's.
    Entry {
        /// The entry's name, raw bytes.
        name: &'a [u8],
    },
    /// The current directory entry is complete.
    EntryEnd,
    /// A regular file node begins; `size` bytes of contents follow as
    /// [`Contents`](Event::Contents) events (none when `size` is 0).
    Regular {
        /// Whether the file carries the executable marker.
        executable: bool,
        /// Length of the contents, in bytes.
        size: u64,
    },
    /// A non-empty piece of the current regular file's contents, borrowed
    /// from the caller's input.
    Contents(&'a [u8]),
    /// A symlink node.
    Symlink {
        /// The target, raw bytes, at most
        /// [`MAX_TARGET_LEN`](super::super::grammar::MAX_TARGET_LEN).
        target: &'a [u8],
    },
    /// The current node is complete.
    NodeEnd,
    /// The archive is complete. The decoder consumes nothing more and
    /// reports `End` again if asked.
    End,
}

/// Outcome of [`Decoder::advance`](super::Decoder::advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An event is ready: take it with [`Decoder::event`](super::Decoder::event)
    /// and the same input.
    Ready,
    /// The input is used up; at least this many more bytes (always ≥ 1) are
    /// needed before the next event.
    NeedMore(usize),
}

/// Outcome of [`Decoder::next`](super::Decoder::next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// The next event.
    Event(Event<'a>),
    /// The input is used up; at least this many more bytes (always ≥ 1) are
    /// needed before the next event.
    NeedMore(usize),
}
