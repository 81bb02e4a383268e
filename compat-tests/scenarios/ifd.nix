# Import from derivation: evaluation needs `gen` built first.
with import ./lib.nix;
rec {
  gen = mk {
    name = "ifd-gen";
    script = "echo '{ answer = 42; text = \"generated\"; }' > $out";
  };
  value = (import gen).answer;
  use = mk {
    name = "ifd-use";
    script = "echo ${toString (import gen).answer} ${(import gen).text} > $out";
  };
}
