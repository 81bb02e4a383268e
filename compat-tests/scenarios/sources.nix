# Sources imported from the work directory: a file, an executable, a symlink
# and a dangling symlink, by `./srcdir`, `builtins.path` and a filtered
# `builtins.path`.
with import ./lib.nix;
rec {
  viaPath = builtins.path { path = ./srcdir; name = "srcdir"; };
  filtered = builtins.path {
    path = ./srcdir;
    name = "filtered";
    filter = path: type: baseNameOf path != "hello.txt";
  };
  copy = mk {
    name = "sources";
    src = ./srcdir;
    inherit viaPath filtered;
    script = ''
      mkdir $out
      cp -a $src $out/src
      chmod -R u+w $out/src
      readlink $src/sub/link > $out/link-target
      test -x $src/bin/run.sh && echo executable > $out/exec
      test -e $filtered/hello.txt || echo filtered > $out/filtered
      echo $viaPath > $out/via-path
    '';
  };
}
