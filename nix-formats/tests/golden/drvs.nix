# Derivations whose .drv files and output paths the golden tests compare.
# Nothing here is built; builders need not exist.
let
  system = "x86_64-linux";
  mk = attrs: derivation ({ inherit system; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
in rec {
  trivial = mk { name = "trivial"; };
  multi = mk { name = "multi"; outputs = [ "out" "dev" "doc" ]; };
  escapes = mk {
    name = "escapes";
    quote = "a\"b";
    backslash = "c\\d";
    newline = "e\nf";
    tab = "g\th";
    cr = "i\rj";
    utf8 = "ü 日本 ✓";
    dollar = "\${x} $y";
    control = builtins.fromJSON ''"\u0001\u0002\u001f\u007f"'';
    mixed = "\"\\\n\t\r''";
    args = [ "-c" "echo \"quoted\" 'single' \\ back\nnext" ];
  };
  chain = mk { name = "chain"; dep = "${multi.dev}"; both = "${multi.out} ${multi.doc}"; };
  chain2 = mk { name = "chain2"; a = chain; e = escapes; };
  fod-flat = mk { name = "fod-flat"; outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "1f636e9f5e4b7e1cd7a4e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6e5e0"; };
  fod-rec = mk { name = "fod-rec"; outputHashMode = "recursive"; outputHashAlgo = "sha256";
    outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; };
  fod-sha1 = mk { name = "fod-sha1"; outputHashAlgo = "sha1"; outputHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; };
  fod-sha512 = mk { name = "fod-sha512"; outputHash = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="; };
  fod-rec-sha1 = mk { name = "fod-rec-sha1"; outputHashMode = "recursive"; outputHashAlgo = "sha1";
    outputHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; };
  uses-fod = mk { name = "uses-fod"; src = fod-flat; other = fod-rec; };
  uses-multi-fod = mk { name = "uses-multi-fod"; a = fod-flat; b = fod-sha1; c = multi.dev; };
  with-src = mk { name = "with-src"; src = ./srcdir; script = builtins.toFile "script.sh" "echo building; echo hello > $out"; };
  structured = mk { name = "structured"; __structuredAttrs = true; list = [ 1 "two" { three = 3; } ]; nested.q = "\"x\""; };
  no-args = derivation { name = "no-args"; inherit system; builder = "/bin/sh"; };
  builtin = derivation { name = "builtin"; system = "builtin"; builder = "builtin:fetchurl"; url = "http://127.0.0.1/x";
    outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256"; executable = false; unpack = false; };
}
