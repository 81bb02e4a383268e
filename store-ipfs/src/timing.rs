//! Running totals of the store's costly steps — hashing and block writes —
//! for whoever reports where time goes (the daemon prints them with its
//! phases on `SIGUSR1`, and `bench/compare` shows them for the workloads
//! that miss their targets). A counted step costs two clock reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A step whose time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// SHA-256 of uploaded NARs as they stream in (the NAR hash), counted
    /// per piece of file contents of at least [`MIN_COUNTED`] bytes (the
    /// NAR's small framing tokens are hashed but not timed).
    HashNar,
    /// SHA-256 of new blocks, for their CIDs.
    HashBlocks,
    /// SHA-256 of blocks read back, checked against their CIDs.
    HashVerify,
    /// Writing block files (creating, writing, linking), summed over the
    /// threads that write.
    BlockWrite,
}

const NAMES: [&str; 4] = ["hash-nar", "hash-blocks", "hash-verify", "block-write"];

/// Hashing of fewer bytes than this is not timed (see [`Step::HashNar`]).
pub const MIN_COUNTED: usize = 1024;

static NANOS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static COUNTS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Runs `f`, adding its time to `step`.
pub fn timed<T>(step: Step, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    let i = step as usize;
    NANOS[i].fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
    r
}

/// `(name, count, nanoseconds)` of every step so far.
pub fn totals() -> Vec<(&'static str, u64, u64)> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                *name,
                COUNTS[i].load(Ordering::Relaxed),
                NANOS[i].load(Ordering::Relaxed),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_step_is_counted_with_its_time() {
        let before = totals()[Step::BlockWrite as usize];
        let got = timed(Step::BlockWrite, || {
            std::thread::sleep(std::time::Duration::from_millis(2));
            7
        });
        assert_eq!(got, 7);
        let after = totals()[Step::BlockWrite as usize];
        assert_eq!(after.0, "block-write");
        assert!(after.1 > before.1);
        assert!(after.2 - before.2 >= 2_000_000);
    }
}
