# Builds whose behaviour depends on the client's settings (see the
# `client_settings` scenario): sleeping, silent, failing, seeing the host
# or not, printing NIX_BUILD_CORES, and one that --max-jobs 0 cannot start.
with import ./lib.nix;
{
  sleepy = mk {
    name = "sleepy";
    script = "echo started; sleep 30; echo never > $out";
  };
  silent = mk {
    name = "silent";
    script = "echo started; sleep 30; echo never > $out";
  };
  failing = mk {
    name = "failing";
    script = "echo partial > $NIX_BUILD_TOP/left-behind; exit 2";
  };
  sandboxed = mk {
    name = "sandboxed";
    script = "if [ -d /nix/compat ]; then echo host > $out; else echo sandbox > $out; fi";
  };
  unstarted = mk {
    name = "unstarted";
    script = "echo built > $out";
  };
  cores = mk {
    name = "cores";
    script = "echo cores=$NIX_BUILD_CORES > $out";
  };
}
