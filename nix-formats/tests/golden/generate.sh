#!/usr/bin/env bash
# Produces golden vectors with the real Nix (2.8 from Debian's nix-bin) for
# nix-formats' tests: NAR dumps, hashes in every form, store paths of adds,
# derivations from nix-instantiate, export files and signed narinfos.
#
#   generate.sh OUTDIR
#
# Everything happens in a private store (`local?root=OUTDIR/root`) with its
# own state, config and home, so the machine's /nix is never touched. A
# missing Nix is an error: the tests that call this fail, they never skip.
set -euo pipefail
out=${1:?usage: generate.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
for tool in nix-store nix-hash nix-instantiate nix jq; do
  command -v "$tool" >/dev/null || { echo "generate.sh: '$tool' not found; install nix-bin" >&2; exit 2; }
done
rm -rf "$out"; mkdir -p "$out"/{trees,nar,drv,export,home,conf}
out=$(cd "$out" && pwd)
export HOME="$out/home" XDG_CACHE_HOME="$out/home/.cache" NIX_CONF_DIR="$out/conf"
export NIX_STATE_DIR="$out/root/nix/var/nix" NIX_LOG_DIR="$out/root/nix/var/log/nix"
unset NIX_REMOTE NIX_PATH
printf 'sandbox = false\nbuild-users-group =\nexperimental-features = nix-command\nsubstituters =\n' > "$out/conf/nix.conf"
store="local?root=$out/root"
nix-store --version | head -1 > "$out/nix-version"

# ---- trees -------------------------------------------------------------
t="$out/trees"
mk() { mkdir -p "$(dirname "$1")"; printf '%b' "$2" > "$1"; }
mk "$t/simple/a.txt" 'hello\n'; mk "$t/simple/run.sh" '#!/bin/sh\necho hi\n'; chmod 755 "$t/simple/run.sh"
ln -s a.txt "$t/simple/link"
: > "$t/empty-file"
mk "$t/exec-file" '#!/bin/sh\nexit 0\n'; chmod 555 "$t/exec-file"
ln -s /nonexistent/dangling "$t/symlink-top"
mkdir "$t/empty-dir"
d="$t/nested"; for i in $(seq 1 40); do d="$d/d$i"; [ $((i % 7)) -eq 0 ] && mkdir -p "$d-empty"; done
mkdir -p "$d"; mk "$d/deep.txt" 'bottom\n'; ln -s ../../../d38 "$d/up"
w="$t/weird-names"; mkdir -p "$w"
for n in 'with space' $'new\nline' $'tab\there' 'quote"s' "apos'trophe" 'back\slash' 'é-utf8' '日本語' \
         '-leading-dash' '...' 'A' 'a' 'a.b' 'a-b' 'ab' '_' '~' '#hash' '$dollar' '*star?' '=eq+plus'; do
  printf '%s' "$n" > "$w/$n"
done
printf 'x' > "$w/$(printf 'latin1-\xe9\xff\xfe')"; mkdir "$w/dir with space"; ln -s $'new\nline' "$w/link to newline"
p="$t/padding"; mkdir -p "$p"; for n in $(seq 0 17); do head -c "$n" /dev/zero | tr '\0' 'x' > "$p/size-$n"; done
m="$t/perms"; mkdir -p "$m"
for mode in 700 644 744 600 755 610 601 500 444; do echo "$mode" > "$m/f$mode"; chmod "$mode" "$m/f$mode"; done
mkdir -p "$t/big"; head -c 3145739 /dev/urandom > "$t/big/random.bin"; head -c 1048576 /dev/zero > "$t/big/zeros.bin"
mkdir -p "$t/srcdir"; mk "$t/srcdir/a.txt" 'hello'; ln -s a.txt "$t/srcdir/link"; mk "$t/srcdir/run.sh" 'echo run\n'; chmod 755 "$t/srcdir/run.sh"
mk "$t/flat.txt" 'flat content\n'

# ---- NAR dumps and hashes ----------------------------------------------
: > "$out/hash.tsv"
for path in "$t"/*; do
  name=$(basename "$path")
  nix-store --dump "$path" > "$out/nar/$name.nar"
  for algo in md5 sha1 sha256 sha512; do
    printf '%s\tnar\t%s\t%s\t%s\t%s\n' "$name" "$algo" "$(nix-hash --type $algo "$path")" \
      "$(nix-hash --type $algo --base32 "$path")" "$(nix-hash --type $algo --truncate "$path")" >> "$out/hash.tsv"
    if [ -f "$path" ] && [ ! -L "$path" ]; then
      printf '%s\tflat\t%s\t%s\t%s\t%s\n' "$name" "$algo" "$(nix-hash --flat --type $algo "$path")" \
        "$(nix-hash --flat --type $algo --base32 "$path")" "$(nix-hash --flat --type $algo --truncate "$path")" >> "$out/hash.tsv"
    fi
  done
done
# SRI and base conversions through the new CLI.
: > "$out/sri.tsv"
for algo in md5 sha1 sha256 sha512; do
  h=$(nix-hash --type $algo "$t/simple")
  printf '%s\t%s\t%s\t%s\n' "$algo" "$h" "$(nix hash to-sri --type $algo "$h")" "$(nix hash to-base64 --type $algo "$h")" >> "$out/sri.tsv"
done

# ---- store paths of adds -------------------------------------------------
: > "$out/add.tsv"
for name in simple empty-file exec-file symlink-top empty-dir nested weird-names padding perms srcdir flat.txt; do
  printf '%s\tsource\t-\t%s\n' "$name" "$(nix-store --store "$store" --add "$t/$name")" >> "$out/add.tsv"
done
for name in flat.txt empty-file exec-file; do
  for algo in md5 sha1 sha256 sha512; do
    printf '%s\tflat\t%s\t%s\n' "$name" "$algo" "$(nix-store --store "$store" --add-fixed $algo "$t/$name")" >> "$out/add.tsv"
  done
done
for name in srcdir simple empty-dir; do
  for algo in md5 sha1 sha256 sha512; do
    printf '%s\trecursive\t%s\t%s\n' "$name" "$algo" "$(nix-store --store "$store" --add-fixed --recursive $algo "$t/$name")" >> "$out/add.tsv"
  done
done

# ---- derivations -----------------------------------------------------------
cp "$here/drvs.nix" "$out/drvs.nix"; cp -r "$t/srcdir" "$out/srcdir"
: > "$out/drv.tsv"
attrs=$(nix-instantiate --store "$store" --eval --json -E "builtins.attrNames (import $out/drvs.nix)" | tr -d '[]"' | tr ',' ' ')
for a in $attrs; do
  drv=$(nix-instantiate --store "$store" "$out/drvs.nix" -A "$a" 2> >(grep -v "add-root" >&2))
  cp "$out/root$drv" "$out/drv/$a.drv"; chmod 644 "$out/drv/$a.drv"
  outs=$(nix-store --store "$store" -q --outputs "$drv" | tr '\n' ' ')
  printf '%s\t%s\t%s\n' "$a" "$drv" "${outs% }" >> "$out/drv.tsv"
done
# Text paths (builtins.toFile), with and without references.
nix-instantiate --store "$store" --eval --strict --read-write-mode --json -E "import $here/tofile.nix" > "$out/tofile.json"

# ---- export files, narinfos and signatures --------------------------------------
simple=$(awk -F'\t' '$1=="simple" && $2=="source" {print $4}' "$out/add.tsv")
trivial=$(awk -F'\t' '$1=="trivial" {print $2}' "$out/drv.tsv")
nix-store --store "$store" --export "$simple" > "$out/export/simple.export"
nix-store --store "$store" --export "$trivial" > "$out/export/trivial-drv.export"
nix-store --store "$store" --export "$simple" "$trivial" > "$out/export/two.export"
nix-store --generate-binary-cache-key golden-key-1 "$out/sk" "$out/pk"
mapfile -t sources < <(cut -f4 "$out/add.tsv" | sort -u; jq -r '.[].path' "$out/tofile.json")
mapfile -t drvs < <(cut -f2 "$out/drv.tsv")
cache="file://$out/cache?secret-key=$out/sk&compression=none"
nix copy --from "$store" --to "$cache" "${sources[@]}"
nix copy --derivation --from "$store" --to "$cache" "${drvs[@]}"
nix copy --from "$store" --to "file://$out/cache-xz" "$simple"
echo "golden vectors written to $out"
