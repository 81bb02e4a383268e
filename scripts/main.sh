#!/usr/bin/env bash
# The main job, on a fresh machine: install needs, build, and run what
# exists end to end against the real Nix.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --bins -p nix-cli -p daemon -p sandbox
exec ./scripts/demo.sh target/release
