//! Why the decoder refused its input.

use std::fmt;

use super::super::grammar::NameError;

/// A NAR that breaks the grammar. Every variant names the byte offset (from
/// the start of the archive) of the string or byte at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A token other than the grammar allows at this point.
    #[error("bad archive: expected {expected} at byte {offset}, found {found}")]
    Unexpected {
        /// Offset of the string's length field.
        offset: u64,
        /// The token or tokens the grammar allows here.
        expected: &'static str,
        /// What was there instead.
        found: Found,
    },
    /// A padding byte that is not zero.
    #[error("bad archive: non-zero padding at byte {offset}")]
    Padding {
        /// Offset of the offending byte.
        offset: u64,
    },
    /// A name or symlink target longer than its limit.
    #[error("bad archive: {what} of {len} bytes at byte {offset} is longer than {limit} bytes")]
    TooLong {
        /// Offset of the string's length field.
        offset: u64,
        /// `"file name"` or `"symlink target"`.
        what: &'static str,
        /// The length the archive claims.
        len: u64,
        /// The limit it exceeds.
        limit: usize,
    },
    /// An entry name that is empty, `.`, `..`, or contains `/` or NUL.
    #[error("bad archive: invalid file name '{}' at byte {offset}", .name.escape_ascii())]
    InvalidName {
        /// Offset of the name's length field.
        offset: u64,
        /// The name.
        name: Vec<u8>,
        /// What is wrong with it.
        #[source]
        reason: NameError,
    },
    /// An entry name not greater than the one before it (unsorted or
    /// duplicate entries).
    #[error(
        "bad archive: directory is not sorted: '{}' after '{}' at byte {offset}",
        .name.escape_ascii(),
        .prev.escape_ascii()
    )]
    Unsorted {
        /// Offset of the name's length field.
        offset: u64,
        /// The previous entry's name.
        prev: Vec<u8>,
        /// This entry's name.
        name: Vec<u8>,
    },
    /// Directories nested deeper than
    /// [`MAX_DEPTH`](super::super::grammar::MAX_DEPTH).
    #[error("bad archive: directories nested deeper than {limit} at byte {offset}")]
    TooDeep {
        /// Offset of the `directory` token that goes too deep.
        offset: u64,
        /// The limit.
        limit: usize,
    },
}

/// What the decoder found where it expected a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A string short enough to be a token, but not an allowed one.
    Token(Vec<u8>),
    /// A string too long to be any token; its bytes were not read.
    Length(u64),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Token(token) => write!(f, "'{}'", token.escape_ascii()),
            Found::Length(len) => write!(f, "a string of {len} bytes"),
        }
    }
}
