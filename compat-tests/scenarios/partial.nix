# A builder that writes part of its output, then fails: Nix leaves what it
# wrote in the store, not valid, until the next build or a GC.
with import ./lib.nix;
mk {
  name = "partial";
  script = "mkdir $out; echo partial > $out/half; exit 2";
}
