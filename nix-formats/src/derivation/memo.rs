//! [`DrvHashMemo`]: a memoising [`DrvHashResolver`] over a derivation loader.
//!
//! Like Nix's `drvHashes` cache, keyed by `.drv` path (a `.drv` path names
//! its content, so the cache never goes stale). The input graph is walked
//! with an explicit stack, so a long chain of derivations cannot overflow
//! the thread's stack; fixed-output and impure derivations are hashed
//! without loading their inputs, as Nix does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use super::hash_modulo::{DrvHash, DrvHashResolver, HashModuloError};
use super::model::Derivation;
use crate::store_path::{StoreDir, StorePath};

/// Reads a derivation by its `.drv` path.
pub trait DrvLoader {
    type Error: std::error::Error + 'static;

    fn load(&mut self, drv_path: &StorePath) -> Result<Derivation, Self::Error>;
}

impl<F, E> DrvLoader for F
where
    F: FnMut(&StorePath) -> Result<Derivation, E>,
    E: std::error::Error + 'static,
{
    type Error = E;

    fn load(&mut self, drv_path: &StorePath) -> Result<Derivation, E> {
        self(drv_path)
    }
}

/// A derivation an in-memory loader does not have.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("derivation '{0}' is not known")]
pub struct UnknownDerivation(pub String);

/// An in-memory set of derivations (for tests and tools).
impl DrvLoader for BTreeMap<StorePath, Derivation> {
    type Error = UnknownDerivation;

    fn load(&mut self, drv_path: &StorePath) -> Result<Derivation, UnknownDerivation> {
        self.get(drv_path)
            .cloned()
            .ok_or_else(|| UnknownDerivation(drv_path.to_string()))
    }
}

/// An input was asked for before it was hashed (a bug in the walk).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("input derivation was not hashed before its dependent")]
pub struct InputNotHashed;

/// Why [`DrvHashMemo`] could not hash a derivation.
#[derive(Debug, Error)]
pub enum MemoError<E: std::error::Error + 'static> {
    #[error("cannot read derivation '{drv_path}'")]
    Load {
        drv_path: String,
        #[source]
        source: E,
    },
    #[error("derivation '{drv_path}' depends on itself")]
    Cycle { drv_path: String },
    #[error("derivation '{drv_path}' has input derivations nested more than {max} deep")]
    TooDeep { drv_path: String, max: usize },
    #[error("cannot hash derivation '{drv_path}'")]
    Hash {
        drv_path: String,
        #[source]
        source: HashModuloError<InputNotHashed>,
    },
}

/// Hashes modulo kept across walks, shared between threads (Nix keeps its
/// `drvHashes` for the life of the process too). An entry never goes stale:
/// a `.drv` path names its content. Without it, validating each new
/// derivation of a chain of n re-reads and re-hashes all n before it.
/// Bounded: emptied when it holds `capacity` hashes.
#[derive(Debug)]
pub struct SharedDrvHashes {
    map: Mutex<HashMap<StorePath, DrvHash>>,
    capacity: usize,
}

impl SharedDrvHashes {
    pub fn new(capacity: usize) -> Self {
        SharedDrvHashes {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    pub fn get(&self, drv_path: &StorePath) -> Option<DrvHash> {
        self.lock().get(drv_path).cloned()
    }

    pub fn insert(&self, drv_path: StorePath, hash: DrvHash) {
        let mut map = self.lock();
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(drv_path, hash);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StorePath, DrvHash>> {
        // A panic while holding the lock cannot leave a wrong entry: each
        // insert is one call.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Memoised unmasked hashes modulo of input derivations.
#[derive(Debug)]
pub struct DrvHashMemo<L> {
    store_dir: StoreDir,
    loader: L,
    cache: HashMap<StorePath, DrvHash>,
    shared: Option<Arc<SharedDrvHashes>>,
    max_depth: usize,
}

struct Frame {
    path: StorePath,
    drv: Derivation,
    /// Inputs not yet looked at.
    pending: Vec<StorePath>,
}

impl<L: DrvLoader> DrvHashMemo<L> {
    /// Default bound on the depth of the input graph.
    pub const DEFAULT_MAX_DEPTH: usize = 100_000;

    pub fn new(store_dir: StoreDir, loader: L) -> Self {
        DrvHashMemo {
            store_dir,
            loader,
            cache: HashMap::new(),
            shared: None,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }

    /// Looks hashes up in `shared` too, and adds the ones computed here.
    pub fn with_shared(mut self, shared: Arc<SharedDrvHashes>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Whether `drv_path`'s hash is known, here or in the shared cache
    /// (copied here then, for the walk's resolver).
    fn known(&mut self, drv_path: &StorePath) -> bool {
        if self.cache.contains_key(drv_path) {
            return true;
        }
        match self.shared.as_ref().and_then(|s| s.get(drv_path)) {
            Some(h) => {
                self.cache.insert(drv_path.clone(), h);
                true
            }
            None => false,
        }
    }

    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    pub fn loader(&self) -> &L {
        &self.loader
    }

    pub fn loader_mut(&mut self) -> &mut L {
        &mut self.loader
    }

    /// The cached hash of a derivation, if computed already.
    pub fn cached(&self, drv_path: &StorePath) -> Option<&DrvHash> {
        self.cache.get(drv_path)
    }

    fn frame(&mut self, path: StorePath) -> Result<Frame, MemoError<L::Error>> {
        let drv = self.loader.load(&path).map_err(|source| MemoError::Load {
            drv_path: self.store_dir.display(&path),
            source,
        })?;
        let needs_inputs = match drv.derivation_type() {
            Ok(ty) => drv
                .hash_modulo_without_inputs(&self.store_dir, ty)
                .is_none(),
            Err(_) => false,
        };
        let pending = if needs_inputs {
            drv.input_drvs.keys().rev().cloned().collect()
        } else {
            Vec::new()
        };
        Ok(Frame { path, drv, pending })
    }
}

impl<L: DrvLoader> DrvHashResolver for DrvHashMemo<L> {
    type Error = MemoError<L::Error>;

    fn drv_hash(&mut self, drv_path: &StorePath) -> Result<DrvHash, Self::Error> {
        if self.known(drv_path) {
            // `known` put it here if only the shared hashes had it.
            return Ok(self.cache[drv_path].clone());
        }
        let mut stack = vec![self.frame(drv_path.clone())?];
        let mut on_stack = HashSet::from([drv_path.clone()]);
        loop {
            let next = match stack.last_mut() {
                None => break,
                Some(top) => top.pending.pop(),
            };
            if let Some(next) = next {
                if self.known(&next) {
                    continue;
                }
                let drv_path = self.store_dir.display(&next);
                if on_stack.contains(&next) {
                    return Err(MemoError::Cycle { drv_path });
                }
                if stack.len() >= self.max_depth {
                    return Err(MemoError::TooDeep {
                        drv_path,
                        max: self.max_depth,
                    });
                }
                on_stack.insert(next.clone());
                stack.push(self.frame(next)?);
                continue;
            }
            let Some(done) = stack.pop() else { break };
            on_stack.remove(&done.path);
            let cache = &self.cache;
            let mut resolve = |p: &StorePath| cache.get(p).cloned().ok_or(InputNotHashed);
            let h = done
                .drv
                .hash_modulo(&self.store_dir, false, &mut resolve)
                .map_err(|source| MemoError::Hash {
                    drv_path: self.store_dir.display(&done.path),
                    source,
                })?;
            if let Some(shared) = &self.shared {
                shared.insert(done.path.clone(), h.clone());
            }
            self.cache.insert(done.path, h);
        }
        // The root is the bottom frame, so it was hashed last.
        self.cache.get(drv_path).cloned().ok_or_else(|| {
            let drv_path = self.store_dir.display(drv_path);
            let source = HashModuloError::Input {
                drv_path: drv_path.clone(),
                source: InputNotHashed,
            };
            MemoError::Hash { drv_path, source }
        })
    }
}
