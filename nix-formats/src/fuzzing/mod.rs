//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and by the test
//! that replays the committed corpus (`tests/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes, must never panic on them, and checks
//! the invariant its format promises (decode then encode gives the same
//! bytes, limits hold).

mod aterm;
mod nar_reader;
mod narinfo;
mod textual;
mod wire_session;

pub use aterm::aterm;
pub use nar_reader::nar_reader;
pub use narinfo::narinfo;
pub use textual::textual;
pub use wire_session::wire_session;
