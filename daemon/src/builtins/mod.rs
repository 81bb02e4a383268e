//! Builtin builders (`builtin:buildenv`, `builtin:fetchurl`) (in progress).
