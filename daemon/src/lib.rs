//! `pkgchain-daemon`: a drop-in replacement for `nix-daemon`.
//!
//! Unmodified Nix clients connect to its socket and speak the worker
//! protocol (`nix_formats::wire`); their store is `store-ipfs`, mounted
//! with FUSE at the store dir so they read `.drv`s and NARs straight from
//! it. This crate owns the socket, the sessions, what each op does, and
//! builds; it never reads the store through its own FUSE mount.

// Store errors carry CIDs inline (see store-ipfs); cold path.
#![allow(clippy::result_large_err)]

pub mod build;
pub mod builtins;
pub mod config;
pub mod gc;
pub mod io;
pub mod logs;
pub mod ops;
pub mod payload;
pub mod phases;
pub mod server;
pub mod session;
pub mod shared;
pub mod wording;
