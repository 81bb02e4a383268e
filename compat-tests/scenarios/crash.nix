# A few derivations per `id` for the crash-recovery scenario: a shared one,
# a leaf with a multi-block output, and one on top that refers to both, so
# a daemon killed during the build can be caught before, between and after
# registrations.
{ id }:
with import ./lib.nix;
let
  shared = mk {
    name = "crash-shared";
    script = "mkdir $out; echo shared > $out/data";
  };
  big = mk {
    name = "crash-big-${id}";
    script = "mkdir $out; echo ${id} > $out/id; busybox head -c 3000000 /dev/urandom > $out/blob; busybox sleep 0.3";
  };
in
mk {
  name = "crash-top-${id}";
  inherit shared big;
  script = "mkdir $out; ln -s $shared $out/shared; ln -s $big $out/big; echo ${id} > $out/id";
}
