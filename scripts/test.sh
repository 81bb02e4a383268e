#!/usr/bin/env bash
# The whole test suite: install needs, lint, run every test (the golden
# vectors run the real Nix, so a machine without it fails here), and make
# sure the fuzz targets still build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The daemon and sandbox binaries must exist for the compat suite, which runs
# every scenario against the real nix-daemon and against ours, with Nix 2.8
# and again with the Nix 2.26 of the trixie root setup.sh made (naming the
# root makes its absence a failure, not a skip). The Rust toolchain is the
# real tree the block store must add and mount byte for byte.
cargo build --workspace --bins
PKGCHAIN_DAEMON=$PWD/target/debug/pkgchain-daemon \
  COMPAT_NIX226_ROOT=/var/cache/pkgchain/trixie \
  PKGCHAIN_BIG_TREE="$(rustc --print sysroot)" \
  cargo test --workspace --all-features
cargo check --manifest-path fuzz/Cargo.toml --bins
