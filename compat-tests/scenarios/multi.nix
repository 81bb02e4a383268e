# Two outputs; `dev` refers to `out`, `out` refers to nothing.
with import ./lib.nix;
mk {
  name = "multi";
  outputs = [ "out" "dev" ];
  script = ''
    mkdir -p $out/lib $dev/include
    echo library > $out/lib/libmulti.txt
    echo $out > $dev/include/where
  '';
}
