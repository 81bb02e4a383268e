# Corruption: a byte flipped in the block file holding a stored file's
# content. Prints sections the test checks: `== <name> rc=<exit>` then
# the command's output (stdout and stderr).
set -u
state=/nix/var/pkgchain
pkg=$(dirname "$(readlink /proc/$(cat /nix/compat/daemon.pid)/exe)")/pkg
mkdir -p tree; head -c 100000 /dev/urandom > tree/f; echo intact > tree/g
p=$(nix-store --add tree) || exit 1
echo "path $p"
# A file of one block is stored as that block, byte for byte.
block=
for b in $state/blocks/*; do cmp -s "$b" tree/f && block=$b; done
[ -n "$block" ] || { echo "no block holds tree/f"; exit 1; }
echo "block ${block##*/}"
chmod u+w "$block"
printf 'X' | dd of="$block" bs=1 seek=5000 conv=notrunc 2>/dev/null
cmp -s "$block" tree/f && { echo "the flip did not change the block"; exit 1; }
chmod 0444 "$block"
section() { name=$1; shift; out=$("$@" 2>&1); echo "== $name rc=$?"; echo "$out"; }
section read cat $p/f
section read-intact cat $p/g
section verify nix-store --verify --check-contents
section pkg-verify "$pkg" --state-dir $state store verify
section repair nix-store --verify --check-contents --repair
# The run's final observation dumps every valid path: drop the damaged one.
nix-store --delete $p > /dev/null 2>&1 || { echo "cannot delete $p"; exit 1; }
