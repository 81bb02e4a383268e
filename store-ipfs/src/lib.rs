//! The file layer of Package Chain.
//!
//! Store paths live as UnixFS DAGs (the `unixfs-v1-2025` profile, so plain
//! files get the CIDs `ipfs add` gives them) in a block store of one
//! read-only file per block. This crate owns the UnixFS codec, NAR <-> DAG
//! conversion, the block store, the SQLite catalogue of valid paths, pins,
//! garbage collection and the FUSE views.
//!
//! It must not speak the daemon protocol or run builds; it never reads the
//! store through a FUSE mount (it reads blocks).

// Errors carry the CID they concern (72 bytes inline); they are the cold
// path, and the context is worth more than a smaller Result.
#![allow(clippy::result_large_err)]

pub mod blocks;
pub mod catalogue;
pub mod changes;
pub mod dag;
pub mod deferred;
pub mod fuse;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod gc;
pub mod nar_dag;
pub mod pins;
pub mod store;
pub mod timing;
pub mod unixfs;
