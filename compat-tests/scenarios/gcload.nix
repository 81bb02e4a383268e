# One small derivation per `id`, depending on a shared derivation and on a
# source directory `src` (added by the client while it evaluates), for the
# GC-under-load scenario.
{ id, src }:
with import ./lib.nix;
let
  shared = mk {
    name = "gcload-shared";
    script = "mkdir $out; echo shared > $out/data";
  };
in
mk {
  name = "gcload-${id}";
  inherit shared src;
  script = "mkdir $out; echo ${id} > $out/id; cat $shared/data > $out/copy; ln -s $src $out/src";
}
