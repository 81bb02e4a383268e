//! The NAR (Nix ARchive) format, byte-exact with Nix.
//!
//! This module owns the NAR grammar ([`grammar`]: tokens and limits), a
//! sans-io streaming [`Decoder`] and a blocking [`NarReader`] on top of it,
//! a [`NarWriter`] that can only produce canonical archives, an in-memory
//! [`Node`] tree for tests and small archives, and — on Unix — the file
//! system helpers [`dump`] / [`hash_path`] (`nix-store --dump`, Nix's
//! `hashPath`) and [`restore`] (`nix-store --restore`).
//!
//! Everything here accepts exactly the canonical form: what [`Decoder`]
//! accepts, [`NarWriter`] reproduces byte for byte. File contents are
//! streamed everywhere except in [`Node`]; every other length read from an
//! archive is checked against a limit in [`grammar`] before anything is
//! allocated.

mod decode;
pub mod grammar;
mod read;
mod tree;
mod write;

#[cfg(unix)]
mod dump;
#[cfg(unix)]
mod restore;

pub use decode::{DecodeError, Decoder, Event, Found, Status, Step};
pub use grammar::NameError;
pub use read::{NarReader, ReadError};
pub use tree::{Node, ParseError};
pub use write::{NarWriter, RegularFileNar, WriteError, regular_file_nar};

#[cfg(unix)]
pub use dump::{DumpError, dump, hash_path};
#[cfg(unix)]
pub use restore::{RestoreError, restore};

#[cfg(test)]
mod tests;
