/// Fuzz entry point (to be filled in with its format's invariant).
pub fn aterm(_data: &[u8]) {}
