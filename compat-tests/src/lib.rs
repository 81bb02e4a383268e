//! Compatibility harness: real Nix clients against nix-daemon and ours (in progress).
