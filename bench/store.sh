#!/usr/bin/env bash
# Benchmark of the block store (issue: the IPFS block store), one run on
# this machine, printing "name ours reference ratio":
#   * pkg store add TREE        vs nix-store --add TREE (private store on disk)
#   * pkg store add --only-hash vs the JS reference importer hashing the tree
#   * FUSE warm read of the mounted tree vs reading the tree from disk (warm)
#   * the floor of writing the tree as files on this disk: cp -r of it
#   * the physical limit: sha256 throughput of this CPU (SHA-NI, Python's
#     hashlib/OpenSSL) on the same byte count.
# Usage: bench/store.sh [TREE]   (default: the Rust toolchain, ~1.4 GB, ~50k files)
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-$(rustc --print sysroot)}
cargo build --release -q -p nix-cli
pkg=$PWD/target/release/pkg
work=$(mktemp -d /var/tmp/pkgbench.XXXXXX)
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
row() { printf '%-34s %10s %10s %8s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
bytes=$(du -sb "$tree" | cut -f1)
files=$(find "$tree" -type f | wc -l)
echo "tree: $tree ($bytes bytes, $files files)"
read_tree() { (cd "$1" && tar cf - . | cat > /dev/null); }
read_tree "$tree"; read_tree "$tree"   # warm the page cache

t0=$(now); read_tree "$tree"; t1=$(now); native=$(secs $t0 $t1)

# On ext4 without a journal, inode allocation skips inodes freed in the
# last 60 s (300 s while their table blocks are dirty): creating files right
# after a mass deletion is several times slower. Start from a quiet disk.
sync; sleep 65

export NIX_CONF_DIR=$work/nixconf; mkdir -p "$NIX_CONF_DIR"
printf 'build-users-group =\nsubstituters =\n' > "$NIX_CONF_DIR/nix.conf"
t0=$(now); nix-store --store "local?root=$work/nix" --add "$tree" >/dev/null; t1=$(now); nixadd=$(secs $t0 $t1)
t0=$(now); cid=$("$pkg" --state-dir "$work/state" store add "$tree"); t1=$(now); ouradd=$(secs $t0 $t1)
# The floor of any import that stores a file per file (or per block) on this
# disk: creating the files and copying the bytes, nothing else.
t0=$(now); cp -r "$tree" "$work/copy"; t1=$(now); cpcopy=$(secs $t0 $t1)
t0=$(now); "$pkg" store add --only-hash "$tree" >/dev/null; t1=$(now); ourhash=$(secs $t0 $t1)
if [ -d store-ipfs/tests/js/node_modules ] && [ "$(find "$tree" -type l | wc -l)" = 0 ]; then
  t0=$(now); jscid=$(cd store-ipfs/tests/js && node cids.mjs "$tree" | cut -f1); t1=$(now); jshash=$(secs $t0 $t1)
  [ "$jscid" = "$cid" ] || echo "WARNING: JS importer CID $jscid differs from ours $cid"
else
  jshash=
fi
shalimit=$(python3 - "$bytes" <<'PY'
import hashlib, sys, time
n = int(sys.argv[1]); buf = b"\0" * (1 << 20); h = hashlib.sha256(); t = time.perf_counter()
for _ in range(n >> 20): h.update(buf)
print(f"{time.perf_counter() - t:.3f}")
PY
)

mkdir -p "$work/mnt"
"$pkg" --state-dir "$work/state" store mount "$work/mnt" & mpid=$!
for _ in $(seq 50); do [ -d "$work/mnt/$cid" ] && break; sleep 0.1; done
t0=$(now); read_tree "$work/mnt/$cid"; t1=$(now); cold=$(secs $t0 $t1)
t0=$(now); read_tree "$work/mnt/$cid"; t1=$(now); warm=$(secs $t0 $t1)
kill -INT $mpid; wait $mpid || true

echo
printf '%-34s %10s %10s %8s\n' name ours reference ratio
row "add: pkg vs nix-store --add" "$ouradd" "$nixadd"
[ -n "$jshash" ] && row "hash only: pkg vs JS importer" "$ourhash" "$jshash"
row "add vs sha256 limit (SHA-NI)" "$ouradd" "$shalimit"
row "floor: cp -r vs nix-store --add" "$cpcopy" "$nixadd"
row "FUSE read warm vs disk warm" "$warm" "$native"
row "FUSE read cold vs disk warm" "$cold" "$native"
echo "(times in seconds; ratio = ours / reference, lower is better for time)"
