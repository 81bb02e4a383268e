# One derivation, no inputs but the builder. `pwd` shows where it was built
# (/build in the sandbox).
with import ./lib.nix;
mk {
  name = "trivial";
  script = "echo hello > $out; pwd >> $out";
}
