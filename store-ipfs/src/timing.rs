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

/// A running total: how many times, how long in all (the daemon keeps its
/// phases in these too).
#[derive(Debug)]
pub struct Tally {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl Tally {
    pub const fn new() -> Self {
        Tally {
            count: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    /// Counts once more, with the time since `since`.
    pub fn add(&self, since: Instant) {
        self.nanos
            .fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// `(count, nanoseconds)` so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
        )
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

static TALLIES: [Tally; 4] = [const { Tally::new() }; 4];

/// Runs `f`, adding its time to `step`.
pub fn timed<T>(step: Step, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    TALLIES[step as usize].add(t);
    r
}

/// `(name, count, nanoseconds)` of every step so far.
pub fn totals() -> Vec<(&'static str, u64, u64)> {
    NAMES
        .iter()
        .zip(&TALLIES)
        .map(|(name, t)| {
            let (c, n) = t.get();
            (*name, c, n)
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
