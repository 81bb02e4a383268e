//! `pkg`: the Package Chain command line.
//!
//! This binary is an edge: it parses arguments, calls the library crates,
//! and turns their errors into messages (anyhow lives only here).

// Store errors carry CIDs inline (see store-ipfs); fine at this edge.
#![allow(clippy::result_large_err)]

mod format_cmd;
mod store_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pkg",
    version,
    about = "Package Chain: a Nix-compatible store in IPFS blocks"
)]
struct Cli {
    /// State directory holding blocks, catalogue and pins.
    #[arg(long, global = true, default_value = "/ipfs", env = "PKG_STATE_DIR")]
    state_dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The block store: add, read, verify, mount.
    #[command(subcommand)]
    Store(store_cmd::StoreCmd),
    /// Pins that keep DAGs from garbage collection.
    #[command(subcommand)]
    Pin(store_cmd::PinCmd),
    /// Nix hashes of paths and files.
    #[command(subcommand)]
    Hash(format_cmd::HashCmd),
    /// NAR archives.
    #[command(subcommand)]
    Nar(format_cmd::NarCmd),
    /// Store derivations (`.drv`).
    #[command(subcommand)]
    Drv(format_cmd::DrvCmd),
    /// Remove every block no pin or valid store path needs.
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Store(c) => store_cmd::store(&cli.state_dir, c),
        Cmd::Pin(c) => store_cmd::pin(&cli.state_dir, c),
        Cmd::Gc { dry_run } => store_cmd::gc(&cli.state_dir, dry_run),
        Cmd::Hash(c) => format_cmd::hash(c),
        Cmd::Nar(c) => format_cmd::nar(c),
        Cmd::Drv(c) => format_cmd::drv(c),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
