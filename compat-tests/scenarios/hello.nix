# GNU hello 2.10 built from source with the client system's compiler, which
# `extra-sandbox-paths` makes visible (see `hello` in scenarios.rs). The
# source tarball is Debian bookworm's hello_2.10.orig.tar.gz, which
# scripts/setup.sh caches and the runner serves on 127.0.0.1:8080; it is
# fetched by builtin:fetchurl.
{
  hello = derivation {
    name = "hello-2.10";
    system = builtins.currentSystem;
    src = import <nix/fetchurl.nix> {
      url = "http://127.0.0.1:8080/hello_2.10.orig.tar.gz";
      sha256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
    };
    builder = "/bin/sh";
    args = [ "-e" "-c" ''
      export PATH=/usr/bin:/bin
      tar xzf $src
      cd hello-2.10
      ./configure --prefix=$out
      make
      make install
    '' ];
  };
}
