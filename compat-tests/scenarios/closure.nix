# A build sees only its inputs' closure in the store: it lists /nix/store
# and tries to read `secret`, a valid store path (added with
# `nix-store --add` and passed with --argstr, so without string context)
# that is not an input.
{ secret }:
with import ./lib.nix;
let
  dep = mk {
    name = "closure-dep";
    script = "echo dep > $out";
  };
  # Refers to dep, so dep is in the closure without being a direct input.
  ref = mk {
    name = "closure-ref";
    inherit dep;
    script = "echo $dep > $out";
  };
in
mk {
  name = "closure";
  inherit ref;
  script = ''
    mkdir $out
    ls -a /nix/store > $out/store
    stat -c '%A %u %g %n' /nix/store /nix/store/* > $out/stat
    if cat ${secret} > $out/secret 2> err; then :; else echo "failed: $(cat err)" > $out/secret; fi
    if ls ${secret} > $out/secret-ls 2> err; then :; else echo "failed: $(cat err)" > $out/secret-ls; fi
  '';
}
