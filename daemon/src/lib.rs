//! `pkgchain-daemon`, the nix-daemon replacement (in progress).

pub mod builtins;
