# Builds that try the network. The runner's network namespace has a web
# server on port 8080 of 127.0.0.1 and of 192.0.2.1 (an address outside
# 127/8 on its `lo`), serving ./served (see `network` in scenarios.rs).
with import ./lib.nix;
let
  urls = [ "http://127.0.0.1:8080/file.txt" "http://192.0.2.1:8080/file.txt" ];
  # One line per URL: what was fetched, or what wget said.
  probe = builtins.concatStringsSep "\n" (map (url: ''
    if wget -q -O got ${url} 2>err; then
      echo "${url}: fetched $(cat got)"
    else
      echo "${url}: failed: $(cat err)"
    fi
  '') urls);
in
{
  # An ordinary build has a network namespace of its own: only `lo`, and
  # nothing listens there.
  sandboxed = mk {
    name = "net-sandboxed";
    script = ''
      (${probe}) > $out
      ip -o addr >> $out
    '';
  };
  # The same build, but its output needs the download: it fails.
  needsNetwork = mk {
    name = "net-needs-network";
    script = "wget -q -O $out ${builtins.head urls}";
  };
  # A fixed-output derivation shares the daemon's network: both work.
  fixed = mk {
    name = "net-fixed";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" (builtins.concatStringsSep ""
      (map (url: "${url}: fetched served over http\n") urls));
    script = "(${probe}) > $out";
  };
}
