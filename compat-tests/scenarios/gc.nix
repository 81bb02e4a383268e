# Paths for the garbage collector: a chain of outputs (c -> b -> a), two
# text files where one refers to the other, and a derivation whose output
# nothing else keeps.
with import ./lib.nix;
rec {
  a = mk {
    name = "gc-a";
    script = "mkdir $out; echo a > $out/a";
  };
  b = mk {
    name = "gc-b";
    inherit a;
    script = "mkdir $out; echo $a > $out/b";
  };
  c = mk {
    name = "gc-c";
    inherit b;
    script = "echo $b > $out";
  };
  lone = mk {
    name = "gc-lone";
    script = "echo lone > $out";
  };
  inner = builtins.toFile "gc-inner" "inner\n";
  outer = builtins.toFile "gc-outer" "refers to ${inner}\n";
}
