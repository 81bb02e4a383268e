//! The valid paths as the collector sees them: references and referrers,
//! derivers and derivation outputs, with the two extra kinds of edge that
//! `keep-outputs` and `keep-derivations` add, in both directions, and
//! Nix's topological order.

use std::collections::{BTreeMap, BTreeSet};

use nix_formats::store_path::StorePath;
use store_ipfs::catalogue::GcFacts;

/// Which extra edges keep paths alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// A live derivation keeps its outputs.
    pub outputs: bool,
    /// A live path keeps its deriver.
    pub derivations: bool,
}

/// The collector's view of the valid paths.
#[derive(Debug, Default)]
pub struct Graph {
    facts: GcFacts,
    referrers: BTreeMap<StorePath, BTreeSet<StorePath>>,
    /// Derivation → recorded output paths.
    outputs: BTreeMap<StorePath, BTreeSet<StorePath>>,
    /// Output path → valid derivations recording it.
    derivers: BTreeMap<StorePath, BTreeSet<StorePath>>,
}

impl Graph {
    pub fn new(facts: GcFacts) -> Self {
        let mut referrers: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        for (p, f) in &facts.paths {
            for r in f.references.iter().filter(|r| *r != p) {
                referrers.entry(r.clone()).or_default().insert(p.clone());
            }
        }
        let mut outputs: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        let mut derivers: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        for (drv, out) in &facts.drv_outputs {
            outputs.entry(drv.clone()).or_default().insert(out.clone());
            derivers.entry(out.clone()).or_default().insert(drv.clone());
        }
        Graph {
            facts,
            referrers,
            outputs,
            derivers,
        }
    }

    pub fn is_valid(&self, p: &StorePath) -> bool {
        self.facts.paths.contains_key(p)
    }

    /// Every valid path, in store order.
    pub fn paths(&self) -> impl Iterator<Item = &StorePath> {
        self.facts.paths.keys()
    }

    pub fn nar_size(&self, p: &StorePath) -> u64 {
        self.facts.paths.get(p).map_or(0, |f| f.nar_size)
    }

    fn references(&self, p: &StorePath) -> impl Iterator<Item = &StorePath> {
        self.facts
            .paths
            .get(p)
            .into_iter()
            .flat_map(|f| f.references.iter())
            .filter(move |r| *r != p)
    }

    fn valid_outputs(&self, drv: &StorePath) -> impl Iterator<Item = &StorePath> {
        self.outputs
            .get(drv)
            .into_iter()
            .flatten()
            .filter(|o| self.is_valid(o))
    }

    /// What keeps `p` alive if it is alive itself (Nix's
    /// `computeFSClosure` edges): references, a derivation's valid outputs
    /// with `keep-outputs`, the valid deriver with `keep-derivations`.
    pub fn forward(&self, p: &StorePath, keep: Keep) -> Vec<StorePath> {
        let mut out: Vec<StorePath> = self.references(p).cloned().collect();
        if keep.outputs && p.is_derivation() {
            out.extend(self.valid_outputs(p).cloned());
        }
        if keep.derivations {
            if let Some(d) = self.facts.paths.get(p).and_then(|f| f.deriver.as_ref()) {
                if self.is_valid(d) {
                    out.push(d.clone());
                }
            }
        }
        out
    }

    /// The reverse edges the collector follows from a candidate: referrers,
    /// with `keep-derivations` a derivation's valid outputs that name it
    /// as deriver, with `keep-outputs` the valid derivations producing it.
    pub fn backward(&self, p: &StorePath, keep: Keep) -> Vec<StorePath> {
        let mut out: Vec<StorePath> = self
            .referrers
            .get(p)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if keep.derivations && p.is_derivation() {
            out.extend(
                self.valid_outputs(p)
                    .filter(|o| {
                        self.facts.paths.get(*o).and_then(|f| f.deriver.as_ref()) == Some(p)
                    })
                    .cloned(),
            );
        }
        if keep.outputs {
            out.extend(self.derivers.get(p).into_iter().flatten().cloned());
        }
        out
    }

    /// Everything `start` keeps alive, itself included.
    pub fn closure(
        &self,
        start: impl IntoIterator<Item = StorePath>,
        keep: Keep,
    ) -> BTreeSet<StorePath> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<StorePath> = start.into_iter().collect();
        while let Some(p) = stack.pop() {
            if self.is_valid(&p) && seen.insert(p.clone()) {
                stack.extend(self.forward(&p, keep));
            }
        }
        seen
    }

    /// `set` ordered referrers first (Nix's `topoSortPaths`: depth-first
    /// over the set in path order, references inside the set first, then
    /// reversed).
    pub fn topo_sort(&self, set: &BTreeSet<StorePath>) -> Vec<StorePath> {
        let mut sorted = Vec::with_capacity(set.len());
        let mut visited = BTreeSet::new();
        for p in set {
            self.dfs(p, set, &mut visited, &mut sorted);
        }
        sorted.reverse();
        sorted
    }

    fn dfs(
        &self,
        p: &StorePath,
        set: &BTreeSet<StorePath>,
        visited: &mut BTreeSet<StorePath>,
        sorted: &mut Vec<StorePath>,
    ) {
        if !visited.insert(p.clone()) {
            return;
        }
        let refs: BTreeSet<&StorePath> = self.references(p).collect();
        for r in refs {
            if set.contains(r) {
                self.dfs(r, set, visited, sorted);
            }
        }
        sorted.push(p.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_ipfs::catalogue::PathFacts;

    fn sp(name: &str, c: char) -> StorePath {
        StorePath::from_base_name(&format!("{}-{name}", c.to_string().repeat(32)))
            .expect("store path")
    }

    /// out (deriver d.drv) <- user; d.drv lists out.
    fn graph() -> (Graph, StorePath, StorePath, StorePath) {
        let (out, drv, user) = (sp("out", 'a'), sp("d.drv", 'b'), sp("user", 'c'));
        let mut facts = GcFacts::default();
        let f = |refs: Vec<StorePath>, deriver: Option<StorePath>| PathFacts {
            references: refs,
            deriver,
            nar_size: 1,
        };
        facts
            .paths
            .insert(out.clone(), f(vec![], Some(drv.clone())));
        facts.paths.insert(drv.clone(), f(vec![], None));
        facts.paths.insert(user.clone(), f(vec![out.clone()], None));
        facts.drv_outputs.push((drv.clone(), out.clone()));
        (Graph::new(facts), out, drv, user)
    }

    #[test]
    fn keep_settings_add_edges_both_ways() {
        let (g, out, drv, user) = graph();
        let none = Keep {
            outputs: false,
            derivations: false,
        };
        let both = Keep {
            outputs: true,
            derivations: true,
        };
        assert_eq!(
            g.closure([user.clone()], none),
            [user.clone(), out.clone()].into()
        );
        assert!(g.closure([user.clone()], both).contains(&drv));
        assert!(g.closure([drv.clone()], both).contains(&out));
        assert!(!g.closure([drv.clone()], none).contains(&out));
        assert_eq!(g.backward(&out, none), vec![user.clone()]);
        assert_eq!(g.backward(&out, both), vec![user, drv.clone()]);
        assert_eq!(g.backward(&drv, both), vec![out]);
    }

    #[test]
    fn referrers_come_first() {
        let (g, out, drv, user) = graph();
        let set: BTreeSet<StorePath> = [out.clone(), drv.clone(), user.clone()].into();
        let sorted = g.topo_sort(&set);
        let pos = |p: &StorePath| sorted.iter().position(|q| q == p).expect("present");
        assert!(pos(&user) < pos(&out));
        assert_eq!(sorted.len(), 3);
    }
}
