//! Nix's formats, byte-exact and pure.
//!
//! This crate owns every byte layout Package Chain shares with Nix: nix32 and
//! the textual hash forms, store paths and the way Nix computes them, the NAR
//! archive format, ATerm derivations and `hashDerivationModulo`, narinfo and
//! its ed25519 signatures, and the primitives of the daemon worker protocol.
//!
//! It must not do I/O of its own beyond the explicit NAR dump/restore helpers,
//! keep state, or depend on an async runtime: protocol code here is sans-io
//! (bytes in, events out). Every length read from untrusted input is checked
//! against a limit before anything is allocated, and no parser panics.

pub mod content_address;
pub mod derivation;
pub mod export;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod hash;
pub mod nar;
pub mod narinfo;
pub mod nix32;
pub mod signature;
pub mod store_path;
pub mod wire;

pub use content_address::{ContentAddress, ContentAddressMethod};
pub use hash::{Hash, HashAlgo};
pub use store_path::{StoreDir, StorePath};
