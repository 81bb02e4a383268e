#!/usr/bin/env bash
# Makes the Debian trixie root whose Nix 2.26 (`nix-bin`) the compat suite
# runs as a second client and reference daemon (compat-tests, mode
# `COMPAT_NIX226_ROOT`), with the compiler its `hello` scenario builds with.
# Cached: once the root is complete with these packages, later runs only
# check it. Usage: trixie-root.sh [DIR] (default /var/cache/pkgchain/trixie).
#
# debootstrap exits 1 here: without /proc one Perl package
# (libdbd-sqlite3-perl, pulled in by nix-bin) fails to configure. Nix itself
# is unpacked and runs in the root once /proc and /dev are mounted into it,
# which is how compat-tests uses it, so the script checks the binaries it
# needs instead of debootstrap's exit code.
set -euo pipefail
root=${1:-/var/cache/pkgchain/trixie}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ready="$root/.pkgchain-ready"
packages=nix-bin,busybox-static,gcc,make,libc6-dev
if [ -f "$ready" ] && grep -qx "packages: $packages" "$ready"; then
  echo "setup: trixie root $root ready ($(head -n1 "$ready"))"
  exit 0
fi
tmp="$root.tmp"
rm -rf "$tmp"
mkdir -p "$(dirname "$root")"
echo "setup: debootstrapping Debian trixie with $packages into $root (a few minutes)"
started=$(date +%s)
set +e
debootstrap --variant=minbase --include=$packages trixie "$tmp" "$mirror" >"$tmp.log" 2>&1
rc=$?
set -e
for f in usr/bin/nix usr/bin/nix-daemon usr/bin/nix-store usr/bin/nix-build usr/bin/env bin/sh bin/busybox usr/bin/gcc usr/bin/make; do
  if [ ! -x "$tmp/$f" ]; then
    echo "setup: debootstrap (exit $rc) left no $f in $tmp; its log ends with:" >&2
    tail -n 30 "$tmp.log" >&2
    exit 1
  fi
done
# Mount points the compat runner binds /nix, /proc, /dev and a tmpfs on.
mkdir -p "$tmp/nix" "$tmp/proc" "$tmp/dev" "$tmp/tmp"
version=$(unshare -m --propagation private sh -c \
  "mount -t proc proc '$tmp/proc' && chroot '$tmp' /usr/bin/nix-store --version 2>/dev/null")
case "$version" in
  *" 2.26."*) ;;
  *) echo "setup: expected Nix 2.26 in the trixie root, found: $version" >&2; exit 1 ;;
esac
printf '%s\npackages: %s\n' "$version, debootstrap exit $rc, $(( $(date +%s) - started )) s" "$packages" >"$tmp/.pkgchain-ready"
rm -rf "$root"
mv "$tmp" "$root"
mv "$tmp.log" "$root.debootstrap.log"
echo "setup: trixie root $root ready ($(head -n1 "$ready"))"
