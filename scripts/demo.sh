#!/usr/bin/env bash
# The main job: runs Package Chain end to end against the real Nix on this
# machine and fails loudly on any difference. It starts pkgchain-daemon
# (store in IPFS blocks, FUSE-mounted at /nix/store) inside a private mount
# namespace with its own /nix — the machine's /nix is never touched — and
# builds with the unmodified nix-build through it.
#   scripts/demo.sh DIR-WITH-BINARIES   (pkg, pkgchain-daemon, pkgchain-sandbox)
set -euo pipefail
bin=$(realpath "${1:?usage: demo.sh DIR-WITH-BINARIES}")
pkg=$bin/pkg
work=$(mktemp -d /var/tmp/pkgchain-demo.XXXXXX)
mnt=$work/mnt
cleanup() { umount "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
same() { if [ "$1" = "$2" ]; then echo "   identical: $1"; else echo "   MISMATCH: ours '$1' vs Nix '$2'" >&2; exit 1; fi; }

step "a tree with an executable, a symlink, an empty dir and a 3 MiB file"
tree=$work/tree
mkdir -p "$tree/bin" "$tree/share/empty"
printf '#!/bin/sh\necho hello from the store\n' > "$tree/bin/hello"; chmod 755 "$tree/bin/hello"
ln -s bin/hello "$tree/run"
head -c 3145728 /dev/urandom > "$tree/share/data.bin"
find "$tree" | sed "s|$work/||"

step "NAR hash: pkg hash path vs nix-hash"
same "$("$pkg" hash path --type sha256 --base32 "$tree")" "$(nix-hash --type sha256 --base32 "$tree")"
step "NAR bytes: pkg nar dump vs nix-store --dump"
"$pkg" nar dump "$tree" > "$work/ours.nar"; nix-store --dump "$tree" > "$work/nix.nar"
same "$(sha256sum < "$work/ours.nar" | cut -c1-64)" "$(sha256sum < "$work/nix.nar" | cut -c1-64)"

step "derivation outputs: pkg drv show vs nix-instantiate / nix-store -q --outputs"
export NIX_CONF_DIR=$work/nixconf HOME=$work/home
mkdir -p "$NIX_CONF_DIR" "$HOME"
printf 'build-users-group =\nsubstituters =\n' > "$NIX_CONF_DIR/nix.conf"
store="local?root=$work/nix"
cat > "$work/demo.nix" <<'NIX'
derivation {
  name = "demo"; system = "x86_64-linux"; builder = "/bin/sh";
  outputs = [ "out" "dev" ];
  args = [ "-c" "echo \"quoted\" > $out; echo dev > $dev" ];
  note = "tab\there\nnewline";
}
NIX
drv=$(nix-instantiate --store "$store" "$work/demo.nix" 2>/dev/null)
"$pkg" drv show --root "$work/nix" "$drv"
same "$("$pkg" drv show --root "$work/nix" "$drv" | awk 'NR>1 {print $2}' | sort | tr '\n' ' ')" \
     "$(nix-store --store "$store" -q --outputs "$drv" | sort | tr '\n' ' ')"

step "block store: pkg store add, mount, read back"
state=$work/state
cid=$("$pkg" --state-dir "$state" store add "$tree")
echo "   root CID $cid ($(ls "$state/blocks" | grep -vc '^\.') blocks)"
mkdir -p "$mnt"
"$pkg" --state-dir "$state" store mount "$mnt" & mount_pid=$!
for _ in $(seq 100); do [ -e "$mnt/$cid" ] && break; sleep 0.1; done
diff -r --no-dereference "$tree" "$mnt/$cid" && echo "   diff -r against the original: empty"
"$mnt/$cid/bin/hello"
kill -INT "$mount_pid"; wait "$mount_pid"
"$pkg" --state-dir "$state" store verify
"$pkg" --state-dir "$state" gc --dry-run | tail -1

step "pkgchain-daemon with the unmodified nix-build (private mount namespace, own /nix)"
mkdir -p "$work/bb"; cp /bin/busybox "$work/bb/sh"
cat > "$work/hello.nix" <<NIX
let
  bb = builtins.path { path = $work/bb; name = "busybox"; };
  sh = script: name: deps: derivation {
    inherit name deps; system = builtins.currentSystem; builder = "\${bb}/sh"; args = [ "-c" script ];
  };
  greeting = sh "echo 'hello from a build in the IPFS store' > \$out" "greeting" [];
in sh ''
  \${bb}/sh -c "mkdir \$out \$out/bin"
  echo "#!\${bb}/sh" > \$out/bin/hello
  echo "\${bb}/sh -c 'cat \${greeting}'" >> \$out/bin/hello
  \${bb}/sh -c "chmod +x \$out/bin/hello"
'' "hello" [ greeting ]
NIX
cat > "$work/in-namespace.sh" <<'INNER'
set -euo pipefail
work=$1; bin=$2
mkdir -p "$work/nixroot" "$work/daemon-state" "$work/conf"
mount --bind "$work/nixroot" /nix
printf 'build-users-group =\nsubstituters =\nexperimental-features = nix-command\n' > "$work/conf/nix.conf"
export NIX_CONF_DIR=$work/conf NIX_REMOTE=daemon
"$bin/pkgchain-daemon" --state-dir "$work/daemon-state" 2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -S /nix/var/nix/daemon-socket/socket ] && break; sleep 0.1; done
nix store ping
out=$(nix-build "$work/hello.nix" -o "$work/result")
echo "   built $out"
"$work/result/bin/hello"
echo "   references:"; nix-store -q --references "$out" | sed 's/^/     /'
echo "   store dir (FUSE view of the block store):"; ls /nix/store | sed 's/^/     /'
echo "   blocks: $(ls "$work/daemon-state/blocks" | grep -vc '^\.')"
nix-store --verify --check-contents
kill -TERM $daemon; wait $daemon || true
INNER
unshare -m --propagation private bash "$work/in-namespace.sh" "$work" "$bin"
echo
echo "main job: OK"
