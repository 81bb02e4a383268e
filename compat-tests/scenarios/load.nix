# For the load scenario: per client `id`, a leaf on top of a dependency of
# its `group` (shared by a fifth of the clients) on top of one dependency
# shared by all. Each builder prints `BUILT <name> <token>` to its log and
# writes the token into its output (which refers to its dependencies), so the log of every client shows which
# builds ran and the outputs show which build produced them.
{ id, group }:
with import ./lib.nix;
let
  build = name: deps: mk ({
    inherit name;
    script = "t=$(busybox cat /proc/sys/kernel/random/uuid); echo \"BUILT ${name} $t\"; busybox sleep 0.2; mkdir $out; echo $t > $out/token; echo ${toString (builtins.attrValues deps)} > $out/deps";
  } // deps);
  common = build "load-common" { };
  grp = build "load-group-${group}" { inherit common; };
in
build "load-leaf-${id}" { inherit common grp; }
