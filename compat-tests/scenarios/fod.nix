# Fixed-output derivations: flat, recursive, a second flat one with the same
# hash (same output path), one with a wrong hash, and a user of the flat one.
with import ./lib.nix;
rec {
  flat = mk {
    name = "fod-flat";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "fixed content\n";
    script = "echo 'fixed content' > $out";
  };
  flatAgain = mk {
    name = "fod-flat";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "fixed content\n";
    script = "printf 'fixed content\\n' > $out";
  };
  recursive = mk {
    name = "fod-rec";
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    # nix-hash --type sha256 --base32 of the tree the script makes
    outputHash = "1agmvcvw2xjq2lyzdnzrn6701gc7s9vqgs1rnk8kcb67khkh38s7";
    script = ''
      mkdir -p $out/bin
      echo recursive > $out/data
      echo 'echo hi' > $out/bin/hi
      chmod +x $out/bin/hi
      ln -s data $out/link
    '';
  };
  mismatch = mk {
    name = "fod-mismatch";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "something else\n";
    script = "echo 'fixed content' > $out";
  };
  user = mk {
    name = "fod-user";
    inherit flat;
    script = "cat $flat > $out; echo $flat >> $out";
  };
}
