//! The NAR grammar: token strings and the limits shared by every reader and
//! writer in this module.
//!
//! ```text
//! nar   = str("nix-archive-1") node
//! node  = str("(") str("type") body str(")")
//! body  = str("regular") [ str("executable") str("") ] str("contents") str(<bytes>)
//!       | str("symlink") str("target") str(<target>)
//!       | str("directory") { str("entry") str("(") str("name") str(<name>)
//!                            str("node") node str(")") }
//! str(x) = u64 LE length, the bytes of x, zero padding to a multiple of 8
//! ```
//!
//! Entries of a directory are strictly increasing in raw byte order, so a
//! name appears at most once. This module holds the canonical form only:
//! whatever the decoder accepts, the writer can reproduce byte for byte.

/// The archive's first string.
pub const MAGIC: &[u8] = b"nix-archive-1";
/// Opens a node or an entry.
pub const OPEN: &[u8] = b"(";
/// Closes a node or an entry.
pub const CLOSE: &[u8] = b")";
/// Precedes the node's kind.
pub const TYPE: &[u8] = b"type";
/// Kind of a regular file node.
pub const REGULAR: &[u8] = b"regular";
/// Marks a regular file executable; always followed by an empty string.
pub const EXECUTABLE: &[u8] = b"executable";
/// Precedes a regular file's contents.
pub const CONTENTS: &[u8] = b"contents";
/// Kind of a symlink node.
pub const SYMLINK: &[u8] = b"symlink";
/// Precedes a symlink's target.
pub const TARGET: &[u8] = b"target";
/// Kind of a directory node.
pub const DIRECTORY: &[u8] = b"directory";
/// Starts a directory entry.
pub const ENTRY: &[u8] = b"entry";
/// Precedes an entry's name.
pub const NAME: &[u8] = b"name";
/// Precedes an entry's node.
pub const NODE: &[u8] = b"node";

/// Longest token of the grammar (`nix-archive-1`). A string read where a
/// token is expected is refused as soon as its length exceeds this, before
/// any of its bytes are read.
pub const MAX_TOKEN_LEN: usize = MAGIC.len();

/// Longest entry name, in bytes: Linux's `NAME_MAX`. No file system Nix
/// restores onto holds a longer name.
pub const MAX_NAME_LEN: usize = 255;

/// Longest symlink target, in bytes: Linux's `PATH_MAX` (4096) minus the
/// terminating NUL, the longest target `symlink(2)` accepts.
pub const MAX_TARGET_LEN: usize = 4095;

/// Deepest nesting of directories, the root directory counting as one.
///
/// Nix itself has no limit (it recurses), but it cannot restore a tree whose
/// paths exceed `PATH_MAX`, which with one-byte names is about 2,000 levels
/// below the store directory. 1024 accepts every tree seen in practice while
/// bounding the decoder's stack (at most 1024 × [`MAX_NAME_LEN`] bytes of
/// remembered names) and the recursion of code that walks a [`Node`] tree.
///
/// Regular file contents have no limit other than `u64`: they are streamed,
/// never held whole.
///
/// [`Node`]: super::Node
pub const MAX_DEPTH: usize = 1024;

/// Number of zero bytes that follow a string of `len` bytes.
pub const fn padding(len: u64) -> usize {
    // The remainder is below 8, so the cast cannot truncate.
    ((8 - len % 8) % 8) as usize
}

/// Why a byte string is not a valid directory entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name has no bytes.
    #[error("the name is empty")]
    Empty,
    /// The name is `.` or `..`.
    #[error("the name is '.' or '..'")]
    Dot,
    /// The name contains `/`.
    #[error("the name contains '/'")]
    Slash,
    /// The name contains a NUL byte.
    #[error("the name contains a NUL byte")]
    Nul,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("the name is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
}

/// Checks that `name` may name a directory entry: non-empty, not `.` or
/// `..`, no `/` or NUL, at most [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &[u8]) -> Result<(), NameError> {
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > MAX_NAME_LEN {
        Err(NameError::TooLong)
    } else if name == b"." || name == b".." {
        Err(NameError::Dot)
    } else if name.contains(&b'/') {
        Err(NameError::Slash)
    } else if name.contains(&0) {
        Err(NameError::Nul)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_rounds_up_to_eight() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 7);
        assert_eq!(padding(8), 0);
        assert_eq!(padding(13), 3);
        assert_eq!(padding(u64::MAX), 1);
    }

    #[test]
    fn names() {
        assert_eq!(check_name(b"a"), Ok(()));
        assert_eq!(check_name(b"..."), Ok(()));
        assert_eq!(check_name(b"\xff\n \"\\"), Ok(()));
        assert_eq!(check_name(&[b'x'; MAX_NAME_LEN]), Ok(()));
        assert_eq!(
            check_name(&[b'x'; MAX_NAME_LEN + 1]),
            Err(NameError::TooLong)
        );
        assert_eq!(check_name(b""), Err(NameError::Empty));
        assert_eq!(check_name(b"."), Err(NameError::Dot));
        assert_eq!(check_name(b".."), Err(NameError::Dot));
        assert_eq!(check_name(b"a/b"), Err(NameError::Slash));
        assert_eq!(check_name(b"a\0b"), Err(NameError::Nul));
    }
}
