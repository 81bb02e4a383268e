# Text store paths made by builtins.toFile, with and without references.
let
  a = builtins.toFile "a.txt" "plain text\n";
  b = builtins.toFile "b.txt" "refers to ${a}\n";
  c = builtins.toFile "c.sh" "#!/bin/sh\ncat ${a} ${b}\n";
  empty = builtins.toFile "empty" "";
in [
  { name = "a.txt"; content = "plain text\n"; path = a; refs = [ ]; }
  { name = "b.txt"; content = "refers to ${a}\n"; path = b; refs = [ a ]; }
  { name = "c.sh"; content = "#!/bin/sh\ncat ${a} ${b}\n"; path = c; refs = [ a b ]; }
  { name = "empty"; content = ""; path = empty; refs = [ ]; }
]
