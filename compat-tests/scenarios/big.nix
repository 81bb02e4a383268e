# A build that reads a 64 MiB input (big.bin is written by the runner).
with import ./lib.nix;
mk {
  name = "big-reader";
  src = ./big.bin;
  script = "sha256sum $src > $out; wc -c < $src >> $out";
}
