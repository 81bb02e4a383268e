#!/usr/bin/env bash
# Installs what Package Chain's build, main job and tests need on a fresh
# Debian 12 machine (as root). Safe to run again.
set -euo pipefail
need=()
for pkg in nix-bin fuse3 busybox-static jq bzip2 xz-utils gcc make curl debootstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# GNU hello's source as Debian bookworm ships it (hello 2.10-3), for the
# compat scenario `hello`; the hash is the one in hello_2.10-3.dsc.
hello=/var/cache/pkgchain/hello_2.10.orig.tar.gz
hello_sha256=31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b
if ! echo "$hello_sha256  $hello" | sha256sum -c --quiet >/dev/null 2>&1; then
  echo "setup: downloading $(basename "$hello")"
  mkdir -p "$(dirname "$hello")"
  curl -fsSL -o "$hello.part" "http://deb.debian.org/debian/pool/main/h/hello/$(basename "$hello")"
  echo "$hello_sha256  $hello.part" | sha256sum -c --quiet
  mv "$hello.part" "$hello"
fi
command -v node >/dev/null || { echo "setup: node not found (needed for the JS CID oracle)" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$here/store-ipfs/tests/js/node_modules/ipfs-unixfs-importer" ]; then
  echo "setup: installing the JS reference importer (CID oracle)"
  (cd "$here/store-ipfs/tests/js" && npm install --no-audit --no-fund --silent)
fi
command -v cargo >/dev/null || { echo "setup: cargo not found (Rust toolchain required)" >&2; exit 1; }
"$here/scripts/trixie-root.sh"
nix-store --version | head -1
