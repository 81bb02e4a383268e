/// Fuzz entry point (to be filled in with its format's invariant).
pub fn narinfo(_data: &[u8]) {}
