# A builder that prints to stdout and stderr, then exits 3.
with import ./lib.nix;
mk {
  name = "fail";
  script = "echo about to fail; echo err >&2; exit 3";
}
