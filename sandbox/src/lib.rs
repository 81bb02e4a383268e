//! Runs one derivation's builder in Linux namespaces, the way Nix 2.8's
//! sandboxed builds do.
//!
//! This crate owns the sandbox: the build spec the daemon fills in
//! ([`BuildSpec`], with its byte encoding in [`codec`]), the environment Nix
//! gives builders ([`builder_invocation`]), the `sandbox-paths` syntax
//! ([`parse_sandbox_paths`]), and the `pkgchain-sandbox` helper binary with
//! its exit-status protocol ([`protocol`]).
//!
//! It must not fork the daemon: builds run in the helper, a separate
//! single-threaded process that the daemon execs ([`run_helper`] does it
//! with `std::process::Command`) or has a zygote fork ([`zygote`]). It has no store access of its own: what
//! it needs from the store (inputs' closure, `exportReferencesGraph`) comes
//! in the spec or through [`ReferencesGraph`]. Scanning, hashing and
//! registering outputs is the daemon's job.

pub mod codec;
mod env;
pub mod protocol;
mod run;
mod sandbox_paths;
mod spec;

#[cfg(target_os = "linux")]
mod linux;

pub use env::{
    BuildDirFile, BuilderInvocation, EnvConfig, EnvError, ReferencesGraph, builder_invocation,
    hash_placeholder,
};
#[cfg(target_os = "linux")]
pub use linux::{SetupError, helper_main, zygote};
pub use protocol::Outcome;
pub use run::{run_helper, run_helper_command};
pub use sandbox_paths::parse_sandbox_paths;
pub use spec::{BuildSpec, SANDBOX_GID, SANDBOX_UID, SandboxPath, SpecError};
