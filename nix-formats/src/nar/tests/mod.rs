//! Tests of the NAR module: hand-built archives for every refusal, property
//! tests for round trips and input splits, and comparisons with the real
//! `nix-store --dump` / `--restore`.

mod decode;
mod fixtures;
#[cfg(unix)]
mod fs;
mod golden;
mod props;
mod read;
mod write;
