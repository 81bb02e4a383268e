//! Why the writer refused a call.

use std::io;

use crate::nar::grammar::{MAX_DEPTH, MAX_TARGET_LEN, NameError};

/// A call the grammar does not allow, or an I/O error.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The underlying writer failed; the NAR writer cannot go on.
    #[error("writing NAR")]
    Io(#[from] io::Error),
    /// An entry name that is not a valid file name.
    #[error("invalid file name '{}' for a NAR entry", .name.escape_ascii())]
    InvalidName {
        /// The name.
        name: Vec<u8>,
        /// What is wrong with it.
        #[source]
        reason: NameError,
    },
    /// An entry name not greater than the previous one in its directory.
    #[error(
        "NAR entries must be sorted and unique: '{}' after '{}'",
        .name.escape_ascii(),
        .prev.escape_ascii()
    )]
    Unsorted {
        /// The previous entry's name.
        prev: Vec<u8>,
        /// The refused name.
        name: Vec<u8>,
    },
    /// A symlink target longer than [`MAX_TARGET_LEN`].
    #[error("symlink target of {len} bytes is longer than {MAX_TARGET_LEN} bytes")]
    TargetTooLong {
        /// The target's length.
        len: usize,
    },
    /// A directory nested deeper than [`MAX_DEPTH`].
    #[error("directories nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// More contents than the regular file declared.
    #[error("{len} bytes of contents given, but only {remaining} of the declared {size} remain")]
    ContentsOverflow {
        /// The declared size.
        size: u64,
        /// Bytes still expected.
        remaining: u64,
        /// Bytes given.
        len: usize,
    },
    /// Another call while the regular file's contents are incomplete.
    #[error("regular file of {size} bytes is missing {remaining} bytes of contents")]
    ContentsIncomplete {
        /// The declared size.
        size: u64,
        /// Bytes still expected.
        remaining: u64,
    },
    /// A call that does not fit the archive's shape here.
    #[error("NAR writer: {call} is not allowed here, expected {expected}")]
    OutOfOrder {
        /// The refused call.
        call: &'static str,
        /// What the writer expected instead.
        expected: &'static str,
    },
    /// A call after an I/O error.
    #[error("NAR writer used after an I/O error")]
    Poisoned,
}
