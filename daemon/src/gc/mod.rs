//! Garbage collection of store paths with Nix's roots (see [`find`]): the
//! permanent roots under `gcroots/` and `profiles/`, the temp roots of
//! every live connection, and run-time roots from `/proc`, with
//! `keep-outputs` and `keep-derivations`.
//!
//! The walk is Nix 2.8's: valid paths are taken in store order; from each,
//! the referrers (and the `keep-*` reverse edges) are followed; if none of
//! the paths reached is a root, all of them are dead and are deleted
//! referrers first, one by one, until `max-freed` bytes (counted by NAR
//! size) are exceeded. `--delete` runs the same walk from each named path
//! and refuses a path the walk finds alive, or whose referrers are not
//! being deleted too — after deleting the named paths before it, as Nix
//! does.
//!
//! Concurrency: every temp root added while a collection runs stays a
//! root until it ends (Nix's collector keeps the roots its socket receives
//! the same way), and the temp roots of the live connections are read
//! before the permanent roots are scanned — a client whose connection
//! closes meanwhile made its permanent root before closing. The scans
//! (files, `/proc`) run unlocked; the walk and the deletion happen under
//! the store's exclusive `gc.lock`, so no path is registered meanwhile
//! (registrations take it shared; a path registered after the scans was
//! rooted by its client first, and that root sticks). The deletion is committed while holding
//! the temp-root registry, after removing from it the closure of every
//! such root. So a root added before the commit keeps its whole closure,
//! and one added after it finds the path already invalid — which is when
//! the client rebuilds or re-adds. Blocks are collected afterwards
//! by `store-ipfs` (every block no valid path or pin needs), so blocks a
//! dead path shared with a live one stay.

pub mod find;
pub mod graph;

use std::collections::BTreeSet;

use nix_formats::store_path::StorePath;
use nix_formats::wire::{GcAction, GcRequest};
use store_ipfs::store::Store;

use crate::phases::{self, Phase};
use crate::session::{OpError, chain, client_err};
use crate::shared::Shared;
use find::Finder;
use graph::{Graph, Keep};

/// What a collection did.
#[derive(Debug, Default)]
pub struct GcResult {
    /// Live or dead paths (for the `Return*` actions), or the deleted ones.
    pub paths: BTreeSet<StorePath>,
    pub bytes_freed: u64,
    /// Nix's info messages, in order.
    pub log: Vec<String>,
    /// Set when `--delete` met this live path (after deleting the ones
    /// before it); the session words the refusal for its client's version.
    pub refused: Option<StorePath>,
}

/// The walk's state (Nix's `alive`/`dead` sets and its deletion list).
struct Walk<'a> {
    graph: &'a Graph,
    roots: &'a BTreeSet<StorePath>,
    keep: Keep,
    /// For `--delete`: only these may be deleted.
    only: Option<&'a BTreeSet<StorePath>>,
    delete: bool,
    max_freed: u64,
    alive: BTreeSet<StorePath>,
    dead: BTreeSet<StorePath>,
    /// Paths to delete, in order.
    doomed: Vec<StorePath>,
    freed: u64,
}

/// `max-freed` was reached.
struct LimitReached;

impl Walk<'_> {
    fn mark_alive(&mut self, p: &StorePath, start: &StorePath) {
        self.alive.insert(start.clone());
        self.alive.insert(p.clone());
        let closure = self.graph.closure([p.clone()], self.keep);
        self.alive.extend(closure);
    }

    /// Nix's `deleteReferrersClosure`.
    fn from(&mut self, start: &StorePath) -> Result<(), LimitReached> {
        let mut visited = BTreeSet::from([start.clone()]);
        let mut todo = std::collections::VecDeque::from([start.clone()]);
        while let Some(p) = todo.pop_front() {
            if self.alive.contains(&p) {
                self.alive.insert(start.clone());
                return Ok(());
            }
            if self.dead.contains(&p) {
                continue;
            }
            if self.roots.contains(&p) {
                self.mark_alive(&p, start);
                return Ok(());
            }
            if self.only.is_some_and(|only| !only.contains(&p)) {
                return Ok(());
            }
            for q in self.graph.backward(&p, self.keep) {
                if visited.insert(q.clone()) {
                    todo.push_back(q);
                }
            }
        }
        for p in self.graph.topo_sort(&visited) {
            if !self.dead.insert(p.clone()) || !self.delete {
                continue;
            }
            self.freed += self.graph.nar_size(&p);
            self.doomed.push(p);
            if self.freed > self.max_freed {
                return Err(LimitReached);
            }
        }
        Ok(())
    }
}

/// The `keep-*` settings for this connection: a trusted client's
/// overrides win over `nix.conf`, as in the 2.8 daemon.
pub fn keep_for(
    shared: &Shared,
    overrides: Option<&std::collections::BTreeMap<String, String>>,
) -> Keep {
    let mut keep = Keep {
        outputs: shared.settings.keep_outputs,
        derivations: shared.settings.keep_derivations,
    };
    for (name, value) in overrides.into_iter().flatten() {
        let v = match value.as_str() {
            "true" => true,
            "false" => false,
            _ => continue,
        };
        match name.as_str() {
            "keep-outputs" | "gc-keep-outputs" => keep.outputs = v,
            "keep-derivations" | "gc-keep-derivations" => keep.derivations = v,
            _ => {}
        }
    }
    keep
}

/// Runs CollectGarbage (`ignore-liveness` is refused before this).
pub fn collect(
    st: &mut Store,
    shared: &Shared,
    req: &GcRequest,
    keep: Keep,
) -> Result<GcResult, OpError> {
    let sd = &shared.store_dir;
    let delete = matches!(req.action, GcAction::DeleteDead | GcAction::DeleteSpecific);
    let mut res = GcResult::default();
    // From here on temp roots stick until the end, and the temp roots of
    // the live connections are read before the permanent roots: a client
    // whose connection closes during the scan made its permanent root
    // before closing, so one of the two catches its paths.
    let gc_running = shared.begin_gc();
    let mut roots: BTreeSet<StorePath> = shared.temp_roots().into_iter().map(|(_, p)| p).collect();

    // The scans touch arbitrary files and /proc, so they run before the
    // lock that holds up registrations: a path registered after them was
    // rooted (temp root) by its client before, which sticks.
    res.log
        .push("finding garbage collector roots...".to_owned());
    let t = std::time::Instant::now();
    {
        let is_valid = |p: &StorePath| st.catalogue.is_valid(p).unwrap_or(false);
        let mut finder = Finder::new(sd, &shared.nix_state_dir, &is_valid);
        finder.permanent(&shared.nix_state_dir);
        res.log.append(&mut finder.log);
        roots.extend(finder.roots.into_keys());
        roots.extend(find::runtime(sd, &is_valid, true, std::process::id()).into_keys());
    }

    phases::add(Phase::GcRoots, t);
    let t = std::time::Instant::now();
    let lock = st.lock(true).map_err(|e| client_err(chain(&e)))?;
    let graph = Graph::new(st.catalogue.gc_facts().map_err(|e| client_err(chain(&e)))?);
    // What failed builds left in the store directory: not valid, so garbage
    // unless a root names it (as for Nix, whose walk covers every entry of
    // the store directory).
    let leftovers: Vec<StorePath> = st
        .catalogue
        .leftovers()
        .map_err(|e| client_err(chain(&e)))?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !roots.contains(p) && !graph.is_valid(p))
        .collect();

    let mut walk = Walk {
        graph: &graph,
        roots: &roots,
        keep,
        only: (req.action == GcAction::DeleteSpecific).then_some(&req.paths_to_delete),
        delete,
        max_freed: req.max_freed,
        alive: BTreeSet::new(),
        dead: BTreeSet::new(),
        doomed: Vec::new(),
        freed: 0,
    };
    if req.action == GcAction::DeleteSpecific {
        for p in &req.paths_to_delete {
            let _ = walk.from(p);
            if !walk.dead.contains(p) {
                res.refused = Some(p.clone());
                break;
            }
        }
    } else if req.max_freed > 0 {
        res.log.push(
            if delete {
                "deleting garbage..."
            } else {
                "determining live/dead paths..."
            }
            .to_owned(),
        );
        let mut stopped = false;
        for p in graph.paths() {
            if walk.from(p).is_err() {
                res.log.push(format!(
                    "deleted more than {} bytes; stopping",
                    req.max_freed
                ));
                stopped = true;
                break;
            }
        }
        if !stopped {
            for p in &leftovers {
                if walk.dead.insert(p.clone()) && delete {
                    walk.doomed.push(p.clone());
                }
            }
        }
    }
    match req.action {
        GcAction::ReturnLive => {
            res.paths = walk.alive;
            return Ok(res);
        }
        GcAction::ReturnDead => {
            res.paths = walk.dead;
            return Ok(res);
        }
        GcAction::DeleteDead | GcAction::DeleteSpecific => {}
    }

    // Commit, keeping whatever a temp root that arrived meanwhile needs.
    let mut doomed = walk.doomed;
    let mut roots_of_doomed = Vec::new();
    shared
        .with_temp_roots(|now| {
            let kept = graph.closure(now.iter().cloned(), keep);
            doomed.retain(|p| !kept.contains(p));
            let valid: Vec<StorePath> = doomed
                .iter()
                .filter(|p| graph.is_valid(p))
                .cloned()
                .collect();
            // What the blocks of the deleted paths hang from, for the
            // sweep of a `--delete` (below).
            if req.action == GcAction::DeleteSpecific {
                for p in &doomed {
                    roots_of_doomed.extend(st.catalogue.shown_root(p)?);
                }
            }
            st.catalogue.delete_paths(&valid)
        })
        .map_err(|e| client_err(chain(&e)))?;
    st.catalogue
        .remove_leftovers(&doomed)
        .map_err(|e| client_err(chain(&e)))?;
    // What the client is told was freed: the deleted paths' NAR sizes (as
    // `--max-freed` counts). Their blocks go after the reply (below).
    let freed: u64 = doomed.iter().map(|p| graph.nar_size(p)).sum();
    drop(gc_running);
    drop(lock);
    for p in &doomed {
        res.log.push(format!("deleting '{}'", sd.display(p)));
    }
    res.paths = doomed.into_iter().collect();
    res.log.push("deleting unused links...".to_owned());
    phases::add(Phase::GcPaths, t);
    res.bytes_freed = freed;
    // A `--delete` sweeps only what hung from the paths it deleted; a
    // collection sweeps the whole block store (which also finds what
    // killed writers left).
    let deleted = (req.action == GcAction::DeleteSpecific).then_some(roots_of_doomed);
    sweep_blocks_later(shared.stores.clone(), deleted);
    Ok(res)
}

/// Removes the blocks no valid path, leftover or pin needs any more, on a
/// thread of its own so that the client has its answer first (a sweep of
/// a large store takes seconds): of the blocks reachable from `deleted`
/// (the roots of the paths a `--delete` removed) when given, else of the
/// whole block store. The deleted paths are gone from the catalogue
/// already; a sweep cut short (the daemon stopped) leaves orphan blocks
/// that the next full one removes. Sweeps run one at a time under the
/// store's lock, and adds that meanwhile need a block it is about to
/// remove claim it first, as with any collection.
fn sweep_blocks_later(
    stores: std::sync::Arc<crate::shared::StorePool>,
    deleted: Option<Vec<cid::Cid>>,
) {
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let swept = stores.take().and_then(|mut st| match &deleted {
            Some(roots) => store_ipfs::gc::collect_after_delete(&mut st, roots, &(), false),
            None => store_ipfs::gc::collect(&mut st, &(), false),
        });
        match swept {
            Ok(_) => phases::add(Phase::GcBlocks, t),
            Err(e) => eprintln!("pkgchain-daemon: sweeping unused blocks: {}", chain(&e)),
        }
    });
}
