//! The byte-level vocabulary shared by the readers and the writers.

/// Log line for the client (payload: string).
pub const STDERR_NEXT: u64 = 0x6f6c_6d67;
/// The daemon wants data from the client (payload: u64 wanted).
pub const STDERR_READ: u64 = 0x6461_7461;
/// Data for the client's sink (payload: string).
pub const STDERR_WRITE: u64 = 0x6461_7416;
/// End of the log; the op's reply follows.
pub const STDERR_LAST: u64 = 0x616c_7473;
/// The op failed (payload: an error).
pub const STDERR_ERROR: u64 = 0x6378_7470;
/// An activity begins (≥ 1.20).
pub const STDERR_START_ACTIVITY: u64 = 0x5354_5254;
/// An activity ends (≥ 1.20).
pub const STDERR_STOP_ACTIVITY: u64 = 0x5354_4f50;
/// An activity reports a result (≥ 1.20).
pub const STDERR_RESULT: u64 = 0x5253_4c54;

/// Tag of an integer activity field.
pub const FIELD_INT: u64 = 0;
/// Tag of a string activity field.
pub const FIELD_STRING: u64 = 1;

/// Zero bytes that follow a string of `len` bytes to reach a multiple of 8.
pub const fn padding(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// The size on the wire of a string of `len` bytes.
pub const fn padded_len(len: usize) -> usize {
    8 + len + padding(len)
}
