/// Fuzz entry point (to be filled in with its format's invariant).
pub fn wire_session(_data: &[u8]) {}
