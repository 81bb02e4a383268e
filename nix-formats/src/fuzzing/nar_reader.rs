/// Fuzz entry point (to be filled in with its format's invariant).
pub fn nar_reader(_data: &[u8]) {}
