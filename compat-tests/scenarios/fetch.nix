# Fixed-output derivations that download from the web server the runner
# starts on 127.0.0.1:8080, serving ./served (see `fetch` in scenarios.rs).
with import ./lib.nix;
let
  url = "http://127.0.0.1:8080/file.txt";
  sha256 = builtins.hashString "sha256" "served over http\n";
in
{
  # Nix's own fetcher (builtin:fetchurl).
  builtin = import <nix/fetchurl.nix> { inherit url sha256; };
  # The same file under another name, executable (recursive hash).
  builtinExec = import <nix/fetchurl.nix> {
    inherit url;
    name = "file-exec";
    executable = true;
    # nix-hash --type sha256 --base32 of an executable file holding it
    outputHash = "1h8g66hw5d3ffak3j7h9a4ss4w4z13vgin5fch85xk47fqn8qfxm";
  };
  missing = import <nix/fetchurl.nix> {
    url = "http://127.0.0.1:8080/missing.txt";
    inherit sha256;
  };
  # A builder that downloads with busybox wget.
  wget = mk {
    name = "fetch-wget";
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = sha256;
    script = "wget -q -O $out ${url}";
  };
  # Its output used by an ordinary (network-less) build.
  user = mk {
    name = "fetch-user";
    src = import <nix/fetchurl.nix> { inherit url sha256; name = "fetched"; };
    script = "cat $src > $out; echo $src >> $out";
  };
}
