# For `nix-build --check`: one deterministic build, one that is not.
with import ./lib.nix;
{
  det = mk {
    name = "check-det";
    script = "echo stable > $out";
  };
  nondet = mk {
    name = "check-nondet";
    script = "cat /proc/sys/kernel/random/uuid > $out";
  };
}
