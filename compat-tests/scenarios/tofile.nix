# builtins.toFile with references to another toFile and to an imported source.
with import ./lib.nix;
rec {
  greeting = builtins.toFile "greeting" "hello from toFile\n";
  hello = builtins.toFile "hello.sh" ''
    #!${busybox}/bin/busybox sh
    cat ${greeting}
  '';
  run = mk {
    name = "tofile-run";
    inherit hello;
    script = "sh $hello > $out; echo $hello >> $out";
  };
}
