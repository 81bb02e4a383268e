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
        .into_iter()
        .filter(|p| graph.contains_key(p))
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
    let candidates: BTreeSet<StorePath> = if req.action == GcAction::DeleteSpecific {
        for p in &req.paths_to_delete {
            if !graph.contains_key(p) {
                continue;
            }
            let referrers_outside = graph
                .iter()
                .any(|(q, refs)| q != p && refs.contains(p) && !req.paths_to_delete.contains(q));
            if live.contains(p) || referrers_outside {
                return Err(client_err(format!(
                    "Cannot delete path '{}' since it is still alive. To find out why, use: nix-store --query --roots",
                    sd.display(p)
                )));
            }
        }
        req.paths_to_delete
            .iter()
            .filter(|p| graph.contains_key(*p) || leftovers.contains(*p))
            .cloned()
            .collect()
    } else {
        graph
            .keys()
            .filter(|p| !live.contains(*p))
            .chain(&leftovers)
            .cloned()
            .collect()
    };
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
