# Shared by every scenario. Each derivation is built by a static busybox
# imported into the store: the runner copies /bin/busybox to
# ./busybox/bin/busybox, so the builder's argv[0] is "busybox" and the
# applet is the first argument.
rec {
  busybox = builtins.path { path = ./busybox; name = "busybox"; };

  # mk { name, script, ... }: a derivation whose builder runs `script` with
  # `sh -e -c`; every other attribute goes into the environment.
  mk = { name, script, ... }@attrs:
    derivation ((removeAttrs attrs [ "script" ]) // {
      inherit name;
      system = builtins.currentSystem;
      builder = "${busybox}/bin/busybox";
      args = [ "sh" "-e" "-c" script ];
    });
}
