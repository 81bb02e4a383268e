# Packages for nix-env: two versions of `hello` (so `-u` has something to
# upgrade to) and a `tool`, each with a script under bin/.
with import ./lib.nix;
let
  pkg = pname: version: mk {
    name = "${pname}-${version}";
    script = "mkdir -p $out/bin; echo 'echo ${pname} ${version}' > $out/bin/${pname}; chmod +x $out/bin/${pname}";
  };
in
{
  hello1 = pkg "hello" "1.0";
  hello2 = pkg "hello" "2.0";
  tool = pkg "tool" "1.0";
}
