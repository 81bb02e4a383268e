//! Where build time goes: running totals per phase, printed to stderr on
//! `SIGUSR1` (`bench/compare` shows them for workloads that miss their
//! target). Counting costs two clock reads per phase.

use std::time::Instant;

use store_ipfs::timing::Tally;

/// A phase of building one derivation.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    /// Reading the derivation, its input closure, clearing leftovers.
    Prepare,
    /// Build directory and files, spec, until the helper starts.
    Setup,
    /// The sandbox helper from spawn to exit (namespaces, builder, log).
    Sandbox,
    /// Scanning, importing and registering the outputs (durability).
    Register,
    /// Of `Register`: scanning the outputs and writing their blocks.
    RegisterImport,
    /// Of `Register`: making those blocks durable (fsync).
    RegisterSync,
    /// Of `Register`: the catalogue transaction.
    RegisterCatalogue,
    /// Writing the log and removing the build directory.
    Cleanup,
    /// `addTextToStore` and the like (instantiated `.drv` files).
    AddText,
    /// GC and `--delete`: finding roots (files, `/proc`).
    GcRoots,
    /// GC: the walk and unregistering paths.
    GcPaths,
    /// GC: removing the blocks no path or pin needs.
    GcBlocks,
    /// A build's whole hold of its job slot (what `max-jobs` bounds).
    Slot,
    /// Of `Slot`: the derivation's lock and the "built meanwhile?" check.
    Guard,
    /// Uploads (`nix-store --add`, `--import`, copies): receiving the NAR,
    /// hashing it and its blocks, writing the blocks.
    AddImport,
    /// Uploads: making the blocks durable before registering (syncfs or
    /// fsyncs; nothing for small paths, see `store_ipfs::deferred`).
    AddSync,
    /// Uploads: the catalogue transaction (SQLite).
    AddCatalogue,
    /// A whole build request (`BuildPaths`, `BuildPathsWithResults`,
    /// `BuildDerivation`) from its arrival to its reply: what the client
    /// waits for, as against its own work around it.
    BuildOp,
    /// Uploads: the importer waiting for the client's next bytes (the
    /// client reading and sending, or the socket).
    UploadWait,
}

const NAMES: [&str; N] = [
    "prepare",
    "setup",
    "sandbox",
    "register",
    "register-import",
    "register-sync",
    "register-catalogue",
    "cleanup",
    "add-text",
    "gc-roots",
    "gc-paths",
    "gc-blocks",
    "slot",
    "guard",
    "add-import",
    "add-sync",
    "add-catalogue",
    "build-op",
    "upload-wait",
];
const N: usize = 19;

static TALLIES: [Tally; N] = [const { Tally::new() }; N];

/// Adds the time since `since` to `phase`.
pub fn add(phase: Phase, since: Instant) {
    TALLIES[phase as usize].add(since);
}

/// Registers prepared paths (references first), timing the durability
/// step as `sync` and the catalogue transaction as `catalogue`.
pub fn commit_timed(
    st: &mut store_ipfs::store::Store,
    mut paths: Vec<store_ipfs::store::Prepared>,
    sync: Phase,
    catalogue: Phase,
) -> Result<Vec<store_ipfs::catalogue::PathRecord>, store_ipfs::store::StoreError> {
    let t = Instant::now();
    st.make_prepared_durable(&mut paths)?;
    add(sync, t);
    let t = Instant::now();
    let recs = st.commit_prepared(paths)?;
    add(catalogue, t);
    Ok(recs)
}

/// One line per phase: `phase NAME COUNT SECONDS`; then, the same way,
/// the store's own steps (hashing, block writes: [`store_ipfs::timing`]),
/// which run inside the phases above.
pub fn report() -> String {
    let mut out = String::new();
    let ours = NAMES.iter().zip(&TALLIES).map(|(name, t)| {
        let (c, n) = t.get();
        (*name, c, n)
    });
    for (name, c, n) in ours.chain(store_ipfs::timing::totals()) {
        out.push_str(&format!("phase {name} {c} {:.3}\n", n as f64 / 1e9));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_grow_and_are_reported() {
        let t = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        add(Phase::Cleanup, t);
        let r = report();
        let line = r
            .lines()
            .find(|l| l.starts_with("phase cleanup "))
            .expect("line");
        let f: Vec<&str> = line.split(' ').collect();
        assert!(f[2].parse::<u64>().expect("count") >= 1);
        assert!(f[3].parse::<f64>().expect("secs") >= 0.002);
    }
}
