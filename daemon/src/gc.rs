//! Garbage collection of store paths, with Nix's roots: `gcroots/`
//! (followed recursively, stale indirect roots removed), `profiles/`, the
//! temp roots of every live connection, and runtime roots found in
//! `/proc`; `keep-derivations` and `keep-outputs` as in `nix.conf`. What
//! failed builds left in the store directory (leftovers) is always garbage
//! unless a temp root names it, as in Nix. Dead
//! paths leave the catalogue first (referrers before references); the
//! block GC of `store-ipfs` then frees every block no valid path or pin
//! needs, so blocks shared with live paths stay.

use std::collections::{BTreeSet, HashMap, HashSet};

use nix_formats::store_path::StorePath;
use nix_formats::wire::{GcAction, GcRequest};
use store_ipfs::store::Store;

use crate::ops::roots::scan_roots;

use crate::session::{OpError, chain, client_err};
use crate::shared::Shared;

/// What a collection did.
#[derive(Debug, Default)]
pub struct GcResult {
    pub paths: BTreeSet<StorePath>,
    pub bytes_freed: u64,
    pub log: Vec<String>,
    /// A requested path that could not be deleted because it is alive
    /// (the request stopped there; `paths` holds what went before it).
    pub still_alive: Option<StorePath>,
}

/// Store paths mentioned by running processes (`/proc/<pid>/{exe,cwd,fd/*,maps,environ}`).
fn runtime_roots(shared: &Shared) -> BTreeSet<StorePath> {
    let sd = shared.store_dir.as_str();
    let mut out = BTreeSet::new();
    let mut note = |s: &str| {
        let mut rest = s;
        while let Some(i) = rest.find(sd) {
            let tail = &rest[i + sd.len()..];
            if let Some(t) = tail.strip_prefix('/') {
                let end = t
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+-._?=".contains(c)))
                    .unwrap_or(t.len());
                if let Ok(p) = StorePath::from_base_name(&t[..end]) {
                    out.insert(p);
                }
            }
            rest = tail;
        }
    };
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in procs.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let dir = e.path();
        for link in ["exe", "cwd"] {
            if let Ok(t) = std::fs::read_link(dir.join(link)) {
                note(&t.to_string_lossy());
            }
        }
        if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
            for fd in fds.flatten() {
                if let Ok(t) = std::fs::read_link(fd.path()) {
                    note(&t.to_string_lossy());
                }
            }
        }
        if let Ok(maps) = std::fs::read_to_string(dir.join("maps")) {
            note(&maps);
        }
        if let Ok(env) = std::fs::read(dir.join("environ")) {
            note(&String::from_utf8_lossy(&env));
        }
    }
    out
}

/// Runs CollectGarbage.
pub fn collect(st: &mut Store, shared: &Shared, req: &GcRequest) -> Result<GcResult, OpError> {
    let sd = &shared.store_dir;
    let mut res = GcResult {
        log: vec!["finding garbage collector roots...".to_owned()],
        ..Default::default()
    };
    res.log
        .extend(crate::ops::roots::remove_stale_links(shared));
    let graph = st
        .catalogue
        .reference_graph()
        .map_err(|e| client_err(chain(&e)))?;
    // Roots.
    let mut roots: BTreeSet<StorePath> = BTreeSet::new();
    for (_, p) in scan_roots(shared) {
        roots.insert(p);
    }
    let mut temp_roots: BTreeSet<StorePath> = BTreeSet::new();
    for (_, p) in shared.temp_roots() {
        temp_roots.insert(p.clone());
        roots.insert(p);
    }
    // What failed builds left: not valid, so dead unless a temp root names
    // it (Nix skips permanent roots to invalid paths).
    let leftovers: BTreeSet<StorePath> = st
        .catalogue
        .leftovers()
        .map_err(|e| client_err(chain(&e)))?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !temp_roots.contains(p))
        .collect();
    roots.extend(runtime_roots(shared));
    // Liveness: closure over references, plus derivers / outputs as the
    // keep-* settings say.
    let mut derivers: HashMap<StorePath, StorePath> = HashMap::new();
    let mut outputs_of: HashMap<StorePath, Vec<StorePath>> = HashMap::new();
    for p in graph.keys() {
        if let Ok(Some(rec)) = st.catalogue.path_info(p) {
            if let Some(d) = rec.deriver {
                outputs_of.entry(d.clone()).or_default().push(p.clone());
                derivers.insert(p.clone(), d);
            }
        }
    }
    let mut live: HashSet<StorePath> = HashSet::new();
    let mut stack: Vec<StorePath> = roots
        .iter()
        .filter(|p| graph.contains_key(*p))
        .cloned()
        .collect();
    while let Some(p) = stack.pop() {
        if !live.insert(p.clone()) {
            continue;
        }
        if let Some(refs) = graph.get(&p) {
            stack.extend(refs.iter().cloned());
        }
        if shared.settings.keep_derivations {
            if let Some(d) = derivers.get(&p).filter(|d| graph.contains_key(*d)) {
                stack.push(d.clone());
            }
        }
        if shared.settings.keep_outputs && p.is_derivation() {
            if let Some(outs) = outputs_of.get(&p) {
                stack.extend(outs.iter().cloned());
            }
        }
    }
    match req.action {
        GcAction::ReturnLive | GcAction::ReturnDead => {
            res.log.push("determining live/dead paths...".to_owned());
        }
        GcAction::DeleteDead => res.log.push("deleting garbage...".to_owned()),
        GcAction::DeleteSpecific => {}
    }
    match req.action {
        GcAction::ReturnLive => {
            res.paths = live.into_iter().collect();
            return Ok(res);
        }
        GcAction::ReturnDead => {
            res.paths = graph
                .keys()
                .filter(|p| !live.contains(*p))
                .chain(&leftovers)
                .cloned()
                .collect();
            return Ok(res);
        }
        GcAction::DeleteDead | GcAction::DeleteSpecific => {}
    }
    if req.action == GcAction::DeleteSpecific {
        let ctx = Specific {
            graph: &graph,
            roots: &roots,
            derivers: &derivers,
            outputs_of: &outputs_of,
            wanted: &req.paths_to_delete,
            keep_derivations: shared.settings.keep_derivations,
            keep_outputs: shared.settings.keep_outputs,
        };
        let outcome = delete_specific(&ctx, |batch| {
            for p in batch {
                res.log.push(format!("deleting '{}'", sd.display(p)));
                res.paths.insert(p.clone());
            }
            let valid: Vec<StorePath> = batch
                .iter()
                .filter(|p| graph.contains_key(*p))
                .cloned()
                .collect();
            st.catalogue
                .delete_paths(&valid)
                .map_err(|e| client_err(chain(&e)))
        });
        // What was deleted before a live path stopped the request stays
        // deleted, as with Nix; its blocks are freed either way.
        res.log.push("deleting unused links...".to_owned());
        let blocks = store_ipfs::gc::collect(st, &(), false).map_err(|e| client_err(chain(&e)))?;
        res.bytes_freed = blocks.bytes_freed;
        res.still_alive = outcome?;
        return Ok(res);
    }
    let candidates: BTreeSet<StorePath> = graph
        .keys()
        .filter(|p| !live.contains(*p))
        .cloned()
        .collect();
    // Referrers before references.
    let mut order: Vec<StorePath> = Vec::new();
    let mut left: BTreeSet<StorePath> = candidates.clone();
    while !left.is_empty() {
        let next: Vec<StorePath> = left
            .iter()
            .filter(|p| {
                !left
                    .iter()
                    .any(|q| q != *p && graph.get(q).is_some_and(|r| r.contains(*p)))
            })
            .cloned()
            .collect();
        let next = if next.is_empty() {
            left.iter().take(1).cloned().collect()
        } else {
            next
        };
        for p in next {
            left.remove(&p);
            order.push(p);
        }
    }
    let mut freed = 0;
    for p in &order {
        if freed >= req.max_freed {
            break;
        }
        if let Ok(Some(rec)) = st.catalogue.path_info(p) {
            freed += rec.nar_size;
        }
        res.log.push(format!("deleting '{}'", sd.display(p)));
        res.paths.insert(p.clone());
    }
    let doomed: Vec<StorePath> = order
        .into_iter()
        .filter(|p| res.paths.contains(p))
        .collect();
    st.catalogue
        .delete_paths(&doomed)
        .map_err(|e| client_err(chain(&e)))?;
    st.catalogue
        .remove_leftovers(&doomed)
        .map_err(|e| client_err(chain(&e)))?;
    shared.forget_store_entries(&doomed);
    res.log.push("deleting unused links...".to_owned());
    let blocks = store_ipfs::gc::collect(st, &(), false).map_err(|e| client_err(chain(&e)))?;
    res.bytes_freed = blocks.bytes_freed;
    Ok(res)
}

/// What deleting specific paths looks at.
struct Specific<'a> {
    /// Valid path → its references.
    graph: &'a HashMap<StorePath, Vec<StorePath>>,
    /// GC roots, temp roots and runtime roots.
    roots: &'a BTreeSet<StorePath>,
    /// Output → its deriver.
    derivers: &'a HashMap<StorePath, StorePath>,
    /// Deriver → its outputs.
    outputs_of: &'a HashMap<StorePath, Vec<StorePath>>,
    /// The paths asked for.
    wanted: &'a BTreeSet<StorePath>,
    keep_derivations: bool,
    keep_outputs: bool,
}

/// `nix-store --delete`, as Nix does it: for each requested path in order,
/// walk its referrers (and, per the keep-* settings, a derivation's
/// outputs or a path's derivers); if that reaches a root, or a path that
/// was not asked for, the path is alive; otherwise the walk's paths are
/// deleted at once, referrers first, through `delete`. The first live path
/// stops the request (`Ok(Some(path))`) after the earlier ones were
/// deleted. A requested path that is not valid is "deleted" (reported,
/// nothing to remove), as Nix reports it.
fn delete_specific(
    cx: &Specific<'_>,
    mut delete: impl FnMut(&[StorePath]) -> Result<(), OpError>,
) -> Result<Option<StorePath>, OpError> {
    let mut referrers: HashMap<&StorePath, Vec<&StorePath>> = HashMap::new();
    for (p, refs) in cx.graph {
        for r in refs {
            if r != p {
                referrers.entry(r).or_default().push(p);
            }
        }
    }
    let mut dead: HashSet<StorePath> = HashSet::new();
    'starts: for start in cx.wanted {
        let mut visited: BTreeSet<StorePath> = BTreeSet::new();
        let mut todo = std::collections::VecDeque::new();
        visited.insert(start.clone());
        todo.push_back(start.clone());
        while let Some(p) = todo.pop_front() {
            if dead.contains(&p) {
                continue;
            }
            if cx.roots.contains(&p) || !cx.wanted.contains(&p) {
                return Ok(Some(start.clone()));
            }
            if !cx.graph.contains_key(&p) {
                continue;
            }
            let mut next: Vec<StorePath> = referrers
                .get(&p)
                .map(|v| v.iter().map(|q| (*q).clone()).collect())
                .unwrap_or_default();
            if cx.keep_derivations && p.is_derivation() {
                next.extend(cx.outputs_of.get(&p).into_iter().flatten().cloned());
            }
            if cx.keep_outputs {
                next.extend(
                    cx.derivers
                        .get(&p)
                        .filter(|d| cx.graph.contains_key(*d))
                        .cloned(),
                );
            }
            for q in next {
                if visited.insert(q.clone()) {
                    todo.push_back(q);
                }
            }
        }
        let batch: Vec<StorePath> = referrers_first(cx.graph, &visited)
            .into_iter()
            .filter(|p| !dead.contains(p))
            .collect();
        if batch.is_empty() {
            continue 'starts;
        }
        delete(&batch)?;
        dead.extend(batch);
    }
    Ok(None)
}

/// `paths` ordered so that a path comes before everything it refers to
/// (Nix's `topoSortPaths`: depth-first over references in path order,
/// reversed).
fn referrers_first(
    graph: &HashMap<StorePath, Vec<StorePath>>,
    paths: &BTreeSet<StorePath>,
) -> Vec<StorePath> {
    fn visit(
        p: &StorePath,
        graph: &HashMap<StorePath, Vec<StorePath>>,
        paths: &BTreeSet<StorePath>,
        seen: &mut HashSet<StorePath>,
        out: &mut Vec<StorePath>,
    ) {
        if !seen.insert(p.clone()) {
            return;
        }
        let mut refs: Vec<&StorePath> = graph
            .get(p)
            .into_iter()
            .flatten()
            .filter(|r| *r != p && paths.contains(*r))
            .collect();
        refs.sort();
        for r in refs {
            visit(r, graph, paths, seen, out);
        }
        out.push(p.clone());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in paths {
        visit(p, graph, paths, &mut seen, &mut out);
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(hash_char: char, name: &str) -> StorePath {
        StorePath::from_base_name(&format!("{}-{name}", hash_char.to_string().repeat(32)))
            .expect("valid store path")
    }

    /// a <- b <- c (c refers to b, b to a) and d, which also refers to a.
    fn graph() -> HashMap<StorePath, Vec<StorePath>> {
        HashMap::from([
            (sp('a', "a"), vec![]),
            (sp('b', "b"), vec![sp('a', "a")]),
            (sp('c', "c"), vec![sp('b', "b")]),
            (sp('d', "d"), vec![sp('a', "a")]),
        ])
    }

    fn run(wanted: &[StorePath], roots: &[StorePath]) -> (Option<StorePath>, Vec<Vec<StorePath>>) {
        let g = graph();
        let roots: BTreeSet<StorePath> = roots.iter().cloned().collect();
        let wanted: BTreeSet<StorePath> = wanted.iter().cloned().collect();
        let none = HashMap::new();
        let none2 = HashMap::new();
        let cx = Specific {
            graph: &g,
            roots: &roots,
            derivers: &none,
            outputs_of: &none2,
            wanted: &wanted,
            keep_derivations: true,
            keep_outputs: false,
        };
        let mut batches = Vec::new();
        let alive = delete_specific(&cx, |b| {
            batches.push(b.to_vec());
            Ok(())
        })
        .expect("no catalogue errors");
        (alive, batches)
    }

    #[test]
    fn a_closure_goes_referrers_first_in_path_order() {
        let (alive, batches) = run(
            &[sp('a', "a"), sp('b', "b"), sp('c', "c"), sp('d', "d")],
            &[],
        );
        assert_eq!(alive, None);
        // Starting from a, every referrer is wanted: one batch, c before b
        // before a, d before a.
        assert_eq!(
            batches,
            vec![vec![sp('d', "d"), sp('c', "c"), sp('b', "b"), sp('a', "a")]]
        );
    }

    #[test]
    fn a_referrer_outside_the_request_keeps_a_path_alive_transitively() {
        // a is asked for, but its referrer b is not: a stays, nothing goes.
        let (alive, batches) = run(&[sp('a', "a"), sp('c', "c")], &[]);
        assert_eq!(alive, Some(sp('a', "a")));
        assert!(batches.is_empty());
        // b's referrer c is not asked for either.
        let (alive, batches) = run(&[sp('b', "b")], &[]);
        assert_eq!(alive, Some(sp('b', "b")));
        assert!(batches.is_empty());
        // Nothing refers to c: it goes alone.
        let (alive, batches) = run(&[sp('c', "c")], &[]);
        assert_eq!(alive, None);
        assert_eq!(batches, vec![vec![sp('c', "c")]]);
    }

    #[test]
    fn earlier_paths_are_deleted_before_a_live_one_stops_the_request() {
        // In path order: c (deletable), then d, which is a root.
        let (alive, batches) = run(&[sp('c', "c"), sp('d', "d")], &[sp('d', "d")]);
        assert_eq!(alive, Some(sp('d', "d")));
        assert_eq!(batches, vec![vec![sp('c', "c")]]);
    }

    #[test]
    fn a_missing_path_is_reported_deleted() {
        let missing = sp('z', "missing");
        let (alive, batches) = run(std::slice::from_ref(&missing), &[]);
        assert_eq!(alive, None);
        assert_eq!(batches, vec![vec![missing]]);
    }
}
