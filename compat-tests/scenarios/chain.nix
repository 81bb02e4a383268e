# a <- b <- c: each output mentions its input's path, so each has a runtime
# reference to the one before.
with import ./lib.nix;
rec {
  a = mk {
    name = "chain-a";
    script = "mkdir -p $out/bin; echo 'echo from a' > $out/bin/a; chmod +x $out/bin/a";
  };
  b = mk {
    name = "chain-b";
    inherit a;
    script = "mkdir $out; echo $a/bin/a > $out/uses-a";
  };
  c = mk {
    name = "chain-c";
    inherit b;
    script = "echo $b > $out; cat $b/uses-a >> $out";
  };
}
