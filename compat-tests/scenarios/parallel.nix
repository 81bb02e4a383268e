# p1 … p12 all depend on `shared`, which takes a second to build.
with import ./lib.nix;
let
  shared = mk {
    name = "par-shared";
    script = "sleep 1; echo shared > $out";
  };
  leaf = i: mk {
    name = "par-${toString i}";
    inherit shared;
    script = "cat $shared > $out; echo ${toString i} $shared >> $out";
  };
in
builtins.listToAttrs (map (i: { name = "p${toString i}"; value = leaf i; })
  [ 1 2 3 4 5 6 7 8 9 10 11 12 ])
