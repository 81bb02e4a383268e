# Builds that try to read the host's /root and /home, where the runner has
# planted secret files (see `host_dirs` in scenarios.rs).
with import ./lib.nix;
{
  look = mk {
    name = "home-look";
    script = ''
      for f in /root/compat-secret /home/compat-user/secret /root /home; do
        if ls -d $f > /dev/null 2> err; then echo "$f: exists" >> $out; else echo "$f: $(cat err)" >> $out; fi
      done
      for f in /root/compat-secret /home/compat-user/secret; do
        if cat $f > got 2> err; then echo "$f: read $(cat got)" >> $out; else echo "$f: $(cat err)" >> $out; fi
      done
    '';
  };
  steal = mk {
    name = "home-steal";
    script = "cat /root/compat-secret > $out";
  };
  # A fixed-output derivation has the network but not the host's files: if
  # it could read the secret, its hash would match.
  stealFixed = mk {
    name = "home-steal-fixed";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "root secret\n";
    script = "cat /root/compat-secret > $out";
  };
}
