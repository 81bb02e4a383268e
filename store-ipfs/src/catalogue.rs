//! The SQLite catalogue: valid store paths (root CID, NAR hash and size,
//! references, deriver, signatures, content address, registration time),
//! derivation outputs, leftovers (what failed builds left at their output
//! paths, shown in the store directory but not valid), and the blocks and
//! block links that GC and fetch walk without reading blocks.
//!
//! A path becomes valid in one transaction, which the caller starts only
//! after its blocks are durable ([`crate::blocks::BlockStore::sync`]) —
//! or, for a small path, with a row in `undurable` naming it and the boot
//! it was registered in, until a later `syncfs` has made its blocks durable
//! (see [`crate::deferred`]).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use cid::Cid;
use nix_formats::content_address::ContentAddress;
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::store_path::StorePath;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use thiserror::Error;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blocks (
    cid BLOB PRIMARY KEY,
    size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    parent BLOB NOT NULL,
    child BLOB NOT NULL,
    PRIMARY KEY (parent, child)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS paths (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    root BLOB NOT NULL,
    nar_hash TEXT NOT NULL,
    nar_size INTEGER NOT NULL,
    deriver TEXT,
    ultimate INTEGER NOT NULL DEFAULT 0,
    sigs TEXT NOT NULL DEFAULT '',
    ca TEXT,
    registration_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    referrer INTEGER NOT NULL REFERENCES paths(id) ON DELETE CASCADE,
    reference INTEGER NOT NULL REFERENCES paths(id) ON DELETE RESTRICT,
    PRIMARY KEY (referrer, reference)
);
CREATE INDEX IF NOT EXISTS refs_reference ON refs(reference);
CREATE TABLE IF NOT EXISTS derivation_outputs (
    drv INTEGER NOT NULL REFERENCES paths(id) ON DELETE CASCADE,
    output TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (drv, output)
);
CREATE INDEX IF NOT EXISTS derivation_outputs_path ON derivation_outputs(path);
CREATE TABLE IF NOT EXISTS leftovers (
    path TEXT PRIMARY KEY,
    root BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS undurable (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    path INTEGER NOT NULL REFERENCES paths(id) ON DELETE CASCADE,
    boot TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS undurable_path ON undurable(path);
-- For collecting the blocks of deleted paths without walking the whole
-- store: a block's parents, and whether a block is some path's root.
CREATE INDEX IF NOT EXISTS links_child ON links(child);
CREATE INDEX IF NOT EXISTS paths_root ON paths(root);
CREATE INDEX IF NOT EXISTS leftovers_root ON leftovers(root);
";

/// Errors from the catalogue.
#[derive(Debug, Error)]
pub enum CatalogueError {
    #[error("catalogue database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot register '{path}': its reference '{reference}' is not valid")]
    MissingReference { path: String, reference: String },
    #[error("catalogue holds a corrupt {what} for '{path}'")]
    Corrupt { what: &'static str, path: String },
}

/// Everything recorded about a valid store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRecord {
    pub path: StorePath,
    pub root: Cid,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub ultimate: bool,
    pub sigs: BTreeSet<String>,
    pub ca: Option<ContentAddress>,
    pub registration_time: u64,
}

/// What garbage collection reads about the valid paths (see
/// [`Catalogue::gc_facts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcFacts {
    pub paths: std::collections::BTreeMap<StorePath, PathFacts>,
    /// `(derivation, output path)` for every recorded output of a valid
    /// derivation (the output itself need not be valid).
    pub drv_outputs: Vec<(StorePath, StorePath)>,
}

/// One valid path's edges and size, for garbage collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFacts {
    pub references: Vec<StorePath>,
    pub deriver: Option<StorePath>,
    pub nar_size: u64,
}

/// A valid path registered before its blocks were durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undurable {
    pub seq: i64,
    pub path: StorePath,
    pub root: Cid,
    /// The boot (`/proc/sys/kernel/random/boot_id`) it was registered in.
    pub boot: String,
}

/// A block of a DAG being registered, with the blocks it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    pub cid: Cid,
    pub size: u64,
    pub links: Vec<Cid>,
}

/// The catalogue; one connection, used from one thread at a time.
#[derive(Debug)]
pub struct Catalogue {
    conn: Connection,
}

fn corrupt(what: &'static str, path: &str) -> CatalogueError {
    CatalogueError::Corrupt {
        what,
        path: path.to_owned(),
    }
}

impl Catalogue {
    /// Opens `<state>/catalogue.sqlite` (WAL mode).
    pub fn open(state: &Path) -> Result<Self, CatalogueError> {
        let conn = Connection::open(state.join("catalogue.sqlite"))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// An in-memory catalogue for tests.
    pub fn open_in_memory() -> Result<Self, CatalogueError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, CatalogueError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Catalogue { conn })
    }

    /// A number that differs between two calls on this connection if
    /// another connection (or process) committed anything in between.
    pub fn data_version(&self) -> Result<i64, CatalogueError> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// Whether a durable copy of the block is recorded.
    pub fn has_block(&self, cid: &Cid) -> Result<bool, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM blocks WHERE cid = ?1")?;
        Ok(st.exists(params![cid.to_bytes()])?)
    }

    fn insert_blocks(
        tx: &rusqlite::Transaction<'_>,
        blocks: &[BlockRecord],
    ) -> Result<(), CatalogueError> {
        let mut b =
            tx.prepare_cached("INSERT OR IGNORE INTO blocks (cid, size) VALUES (?1, ?2)")?;
        let mut l =
            tx.prepare_cached("INSERT OR IGNORE INTO links (parent, child) VALUES (?1, ?2)")?;
        for block in blocks {
            let parent = block.cid.to_bytes();
            b.execute(params![parent, block.size as i64])?;
            for child in &block.links {
                l.execute(params![parent, child.to_bytes()])?;
            }
        }
        Ok(())
    }

    /// Records durable blocks that a pin (not a store path) keeps.
    pub fn register_blocks(&mut self, blocks: &[BlockRecord]) -> Result<(), CatalogueError> {
        let tx = self.write_transaction()?;
        Self::insert_blocks(&tx, blocks)?;
        tx.commit()?;
        Ok(())
    }

    /// Makes a path valid, with its blocks, in one transaction. Returns
    /// false (and changes nothing) if it was valid already.
    pub fn register(
        &mut self,
        rec: &PathRecord,
        blocks: &[BlockRecord],
    ) -> Result<bool, CatalogueError> {
        Ok(self.register_many(&[(rec, blocks)])? == 1)
    }

    /// Makes several paths valid in one transaction, in the given order (a
    /// path's references must be valid or registered earlier in the list,
    /// or be itself). Paths valid already are left alone. Returns how many
    /// became valid; on error nothing does.
    pub fn register_many(
        &mut self,
        items: &[(&PathRecord, &[BlockRecord])],
    ) -> Result<usize, CatalogueError> {
        self.register_many_in(items, None)
    }

    /// Like [`Catalogue::register_many`], for paths whose blocks are not
    /// durable yet: each path that becomes valid is also recorded as
    /// undurable, registered in `boot` (see [`crate::deferred`]).
    pub fn register_many_undurable(
        &mut self,
        items: &[(&PathRecord, &[BlockRecord])],
        boot: &str,
    ) -> Result<usize, CatalogueError> {
        self.register_many_in(items, Some(boot))
    }

    fn register_many_in(
        &mut self,
        items: &[(&PathRecord, &[BlockRecord])],
        undurable_in: Option<&str>,
    ) -> Result<usize, CatalogueError> {
        let tx = self.write_transaction()?;
        let mut added = 0;
        // Leftovers that a registered path replaces: their entries go.
        let mut replaced = Vec::new();
        for (rec, blocks) in items {
            let name = rec.path.to_string();
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM paths WHERE path = ?1", params![name], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_some() {
                continue;
            }
            if tx.execute("DELETE FROM leftovers WHERE path = ?1", params![name])? > 0 {
                replaced.push(rec.path.clone());
            }
            Self::insert_blocks(&tx, blocks)?;
            let sigs: Vec<&str> = rec.sigs.iter().map(String::as_str).collect();
            tx.execute(
                "INSERT INTO paths (path, root, nar_hash, nar_size, deriver, ultimate, sigs, ca, registration_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    name,
                    rec.root.to_bytes(),
                    rec.nar_hash.to_prefixed_base16(),
                    rec.nar_size as i64,
                    rec.deriver.as_ref().map(ToString::to_string),
                    rec.ultimate,
                    sigs.join(" "),
                    rec.ca.as_ref().map(ToString::to_string),
                    rec.registration_time as i64,
                ],
            )?;
            let id = tx.last_insert_rowid();
            for r in &rec.references {
                let rid: Option<i64> = if *r == rec.path {
                    Some(id)
                } else {
                    tx.query_row(
                        "SELECT id FROM paths WHERE path = ?1",
                        params![r.to_string()],
                        |row| row.get(0),
                    )
                    .optional()?
                };
                let rid = rid.ok_or_else(|| CatalogueError::MissingReference {
                    path: name.clone(),
                    reference: r.to_string(),
                })?;
                tx.execute(
                    "INSERT INTO refs (referrer, reference) VALUES (?1, ?2)",
                    params![id, rid],
                )?;
            }
            if let Some(boot) = undurable_in {
                tx.execute(
                    "INSERT INTO undurable (path, boot) VALUES (?1, ?2)",
                    params![id, boot],
                )?;
            }
            added += 1;
        }
        tx.commit()?;
        if added > 0 {
            crate::changes::paths_changed(&replaced);
        }
        Ok(added)
    }

    pub fn is_valid(&self, path: &StorePath) -> Result<bool, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM paths WHERE path = ?1")?;
        Ok(st.exists(params![path.to_string()])?)
    }

    /// The root of what the store directory shows at `path`: the valid
    /// path's, else the leftover's there.
    pub fn shown_root(&self, path: &StorePath) -> Result<Option<Cid>, CatalogueError> {
        match self.root_in("SELECT root FROM paths WHERE path = ?1", path)? {
            Some(root) => Ok(Some(root)),
            None => self.leftover(path),
        }
    }

    /// The root CID `sql` (one row, one column, `?1` the path) reads.
    fn root_in(&self, sql: &str, path: &StorePath) -> Result<Option<Cid>, CatalogueError> {
        let name = path.to_string();
        let root: Option<Vec<u8>> = self
            .conn
            .prepare_cached(sql)?
            .query_row(params![name], |r| r.get(0))
            .optional()?;
        root.map(|r| Cid::try_from(r.as_slice()).map_err(|_| corrupt("root CID", &name)))
            .transpose()
    }

    /// The record of a valid path.
    pub fn path_info(&self, path: &StorePath) -> Result<Option<PathRecord>, CatalogueError> {
        let name = path.to_string();
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, root, nar_hash, nar_size, deriver, ultimate, sigs, ca, registration_time FROM paths WHERE path = ?1",
            )?
            .query_row(
                params![name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, i64>(8)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, root, nar_hash, nar_size, deriver, ultimate, sigs, ca, time)) = row else {
            return Ok(None);
        };
        let mut st = self.conn.prepare_cached(
            "SELECT p.path FROM refs r JOIN paths p ON p.id = r.reference WHERE r.referrer = ?1",
        )?;
        let mut references = BTreeSet::new();
        for p in st.query_map(params![id], |r| r.get::<_, String>(0))? {
            references
                .insert(StorePath::from_base_name(&p?).map_err(|_| corrupt("reference", &name))?);
        }
        Ok(Some(PathRecord {
            path: path.clone(),
            root: Cid::try_from(root.as_slice()).map_err(|_| corrupt("root CID", &name))?,
            nar_hash: Hash::parse_any(&nar_hash, Some(HashAlgo::Sha256))
                .map_err(|_| corrupt("NAR hash", &name))?,
            nar_size: nar_size as u64,
            references,
            deriver: deriver
                .map(|d| StorePath::from_base_name(&d))
                .transpose()
                .map_err(|_| corrupt("deriver", &name))?,
            ultimate,
            sigs: sigs
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ca: ca
                .map(|c| c.parse())
                .transpose()
                .map_err(|_| corrupt("content address", &name))?,
            registration_time: time as u64,
        }))
    }

    /// The closure of `roots` under references (the roots included), in
    /// one recursive query; and the roots that are not valid paths.
    /// References of valid paths are valid, so only roots can be missing.
    pub fn closure(
        &self,
        roots: &BTreeSet<StorePath>,
    ) -> Result<(BTreeSet<StorePath>, Vec<StorePath>), CatalogueError> {
        // The roots as a JSON array for `json_each`: a store path's base
        // name is made of [A-Za-z0-9+-._?=] only (StorePath checks), so
        // each is a JSON string as it is.
        let quoted: Vec<String> = roots.iter().map(|r| format!("\"{r}\"")).collect();
        let seeds = format!("[{}]", quoted.join(","));
        let mut st = self.conn.prepare_cached(
            "WITH RECURSIVE c(id) AS (
                 SELECT p.id FROM paths p WHERE p.path IN (SELECT value FROM json_each(?1))
                 UNION
                 SELECT r.reference FROM refs r JOIN c ON r.referrer = c.id
             )
             SELECT p.path FROM c JOIN paths p ON p.id = c.id",
        )?;
        let mut closure = BTreeSet::new();
        for p in st.query_map(params![seeds], |r| r.get::<_, String>(0))? {
            let p = p?;
            closure.insert(StorePath::from_base_name(&p).map_err(|_| corrupt("path", &p))?);
        }
        let missing = roots
            .iter()
            .filter(|r| !closure.contains(*r))
            .cloned()
            .collect();
        Ok((closure, missing))
    }

    /// Every valid path with its root CID.
    pub fn all_paths(&self) -> Result<Vec<(StorePath, Cid)>, CatalogueError> {
        self.paths_and_roots(
            "SELECT path, root FROM paths ORDER BY path",
            ("path", "root CID"),
        )
    }

    /// `(path, root)` rows of `sql`; `what` names a bad path and a bad root
    /// in errors.
    fn paths_and_roots(
        &self,
        sql: &str,
        what: (&'static str, &'static str),
    ) -> Result<Vec<(StorePath, Cid)>, CatalogueError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (p, root) = row?;
            let path = StorePath::from_base_name(&p).map_err(|_| corrupt(what.0, &p))?;
            let root = Cid::try_from(root.as_slice()).map_err(|_| corrupt(what.1, &p))?;
            out.push((path, root));
        }
        Ok(out)
    }

    /// Every valid path with its references (for liveness).
    pub fn reference_graph(
        &self,
    ) -> Result<std::collections::HashMap<StorePath, Vec<StorePath>>, CatalogueError> {
        let mut st = self.conn.prepare_cached(
            "SELECT p.path, q.path FROM paths p LEFT JOIN refs r ON r.referrer = p.id LEFT JOIN paths q ON q.id = r.reference",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out: std::collections::HashMap<StorePath, Vec<StorePath>> =
            std::collections::HashMap::new();
        for row in rows {
            let (p, q) = row?;
            let p = StorePath::from_base_name(&p).map_err(|_| corrupt("path", &p))?;
            let e = out.entry(p).or_default();
            if let Some(q) = q {
                e.push(StorePath::from_base_name(&q).map_err(|_| corrupt("reference", &q))?);
            }
        }
        Ok(out)
    }

    /// What the path collector needs about every valid path (references,
    /// deriver, NAR size) and every recorded output of a valid derivation,
    /// in two queries.
    pub fn gc_facts(&self) -> Result<GcFacts, CatalogueError> {
        let mut facts = GcFacts::default();
        let graph = self.reference_graph()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT path, deriver, nar_size FROM paths")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (p, d, size) = row?;
            let path = StorePath::from_base_name(&p).map_err(|_| corrupt("path", &p))?;
            let deriver = d
                .map(|d| StorePath::from_base_name(&d).map_err(|_| corrupt("deriver", &p)))
                .transpose()?;
            let references = graph.get(&path).cloned().unwrap_or_default();
            facts.paths.insert(
                path,
                PathFacts {
                    references,
                    deriver,
                    nar_size: size as u64,
                },
            );
        }
        let mut st = self.conn.prepare_cached(
            "SELECT p.path, d.path FROM derivation_outputs d JOIN paths p ON p.id = d.drv",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (drv, out) = row?;
            let drv_path = StorePath::from_base_name(&drv).map_err(|_| corrupt("path", &drv))?;
            let out = StorePath::from_base_name(&out).map_err(|_| corrupt("output", &drv))?;
            facts.drv_outputs.push((drv_path, out));
        }
        Ok(facts)
    }

    /// Makes paths invalid, in one transaction. Every valid referrer of a
    /// path must be in the set too (else the database refuses).
    pub fn delete_paths(&mut self, paths: &[StorePath]) -> Result<(), CatalogueError> {
        let tx = self.write_transaction()?;
        {
            let mut ids = Vec::new();
            let mut q = tx.prepare_cached("SELECT id FROM paths WHERE path = ?1")?;
            for p in paths {
                if let Some(id) = q
                    .query_row(params![p.to_string()], |r| r.get::<_, i64>(0))
                    .optional()?
                {
                    ids.push(id);
                }
            }
            let mut del_refs = tx.prepare_cached("DELETE FROM refs WHERE referrer = ?1")?;
            for id in &ids {
                del_refs.execute(params![id])?;
            }
            let mut del = tx.prepare_cached("DELETE FROM paths WHERE id = ?1")?;
            for id in &ids {
                del.execute(params![id])?;
            }
        }
        tx.commit()?;
        crate::changes::paths_changed(paths);
        Ok(())
    }

    /// A transaction that holds the write lock from its start, so that it
    /// waits for other writers (the busy timeout) instead of failing when
    /// its first read is overtaken by another connection's commit.
    fn write_transaction(&mut self) -> Result<Transaction<'_>, CatalogueError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Records what a failed build left at `path` (a tree whose blocks are
    /// durable), replacing an earlier leftover there. Returns false (and
    /// records nothing) if `path` is valid: a valid path is never shadowed.
    pub fn add_leftover(
        &mut self,
        path: &StorePath,
        root: &Cid,
        blocks: &[BlockRecord],
    ) -> Result<bool, CatalogueError> {
        let tx = self.write_transaction()?;
        let name = path.to_string();
        let valid: bool = tx
            .prepare_cached("SELECT 1 FROM paths WHERE path = ?1")?
            .exists(params![name])?;
        if valid {
            return Ok(false);
        }
        Self::insert_blocks(&tx, blocks)?;
        tx.execute(
            "INSERT OR REPLACE INTO leftovers (path, root) VALUES (?1, ?2)",
            params![name, root.to_bytes()],
        )?;
        tx.commit()?;
        // It may replace an earlier leftover there.
        crate::changes::paths_changed(std::slice::from_ref(path));
        Ok(true)
    }

    /// The root of the leftover at `path`, if there is one.
    pub fn leftover(&self, path: &StorePath) -> Result<Option<Cid>, CatalogueError> {
        self.root_in("SELECT root FROM leftovers WHERE path = ?1", path)
    }

    /// Every leftover with its root CID, by path.
    pub fn leftovers(&self) -> Result<Vec<(StorePath, Cid)>, CatalogueError> {
        self.paths_and_roots(
            "SELECT path, root FROM leftovers ORDER BY path",
            ("leftover", "leftover root CID"),
        )
    }

    /// Forgets the leftovers at `paths` (those that are not leftovers are
    /// ignored). Their blocks stay until the next block GC.
    pub fn remove_leftovers(&mut self, paths: &[StorePath]) -> Result<(), CatalogueError> {
        // Most builds have none: do not take the write lock for nothing.
        let mut any = false;
        for p in paths {
            any |= self.leftover(p)?.is_some();
        }
        if !any {
            return Ok(());
        }
        let tx = self.write_transaction()?;
        {
            let mut del = tx.prepare_cached("DELETE FROM leftovers WHERE path = ?1")?;
            for p in paths {
                del.execute(params![p.to_string()])?;
            }
        }
        tx.commit()?;
        crate::changes::paths_changed(paths);
        Ok(())
    }

    /// Whether any valid path's blocks may not be durable yet.
    pub fn has_undurable(&self) -> Result<bool, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM undurable LIMIT 1")?;
        Ok(st.exists([])?)
    }

    /// The valid paths whose blocks may not be durable yet, in the order
    /// they were registered.
    pub fn undurable(&self) -> Result<Vec<Undurable>, CatalogueError> {
        let mut st = self.conn.prepare_cached(
            "SELECT u.seq, p.path, p.root, u.boot FROM undurable u JOIN paths p ON p.id = u.path ORDER BY u.seq",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, path, root, boot) = row?;
            out.push(Undurable {
                seq,
                path: StorePath::from_base_name(&path).map_err(|_| corrupt("path name", &path))?,
                root: Cid::try_from(root.as_slice()).map_err(|_| corrupt("root CID", &path))?,
                boot,
            });
        }
        Ok(out)
    }

    /// The newest undurable row's number, if there is one.
    pub fn last_undurable(&self) -> Result<Option<i64>, CatalogueError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(seq) FROM undurable", [], |r| r.get(0))?)
    }

    /// Forgets the undurable rows up to `seq`: a `syncfs` that started
    /// after they were committed has made their blocks durable.
    pub fn forget_undurable(&self, seq: i64) -> Result<(), CatalogueError> {
        self.conn
            .prepare_cached("DELETE FROM undurable WHERE seq <= ?1")?
            .execute(params![seq])?;
        Ok(())
    }

    /// Valid paths that refer to `path` (not counting itself).
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, CatalogueError> {
        let mut st = self.conn.prepare_cached(
            "SELECT p.path FROM paths p JOIN refs r ON r.referrer = p.id JOIN paths q ON q.id = r.reference \
             WHERE q.path = ?1",
        )?;
        let mut out = BTreeSet::new();
        for p in st.query_map(params![path.to_string()], |r| r.get::<_, String>(0))? {
            let p = p?;
            out.insert(StorePath::from_base_name(&p).map_err(|_| corrupt("referrer", &p))?);
        }
        Ok(out)
    }

    /// The valid path whose hash part is `hash_part`, if any.
    pub fn path_from_hash_part(
        &self,
        hash_part: &str,
    ) -> Result<Option<StorePath>, CatalogueError> {
        if hash_part.len() != nix_formats::store_path::HASH_PART_LEN
            || hash_part.contains(['%', '_'])
        {
            return Ok(None);
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT path FROM paths WHERE path >= ?1 AND path < ?2 LIMIT 1")?;
        let lo = format!("{hash_part}-");
        let hi = format!("{hash_part}.");
        let p: Option<String> = st.query_row(params![lo, hi], |r| r.get(0)).optional()?;
        p.map(|p| StorePath::from_base_name(&p).map_err(|_| corrupt("path", &p)))
            .transpose()
    }

    /// Records which paths a derivation's outputs have (after a build or
    /// when a `.drv` becomes valid).
    pub fn register_derivation_outputs(
        &mut self,
        drv: &StorePath,
        outputs: &[(String, StorePath)],
    ) -> Result<(), CatalogueError> {
        let tx = self.write_transaction()?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM paths WHERE path = ?1",
                params![drv.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else {
            return Err(CatalogueError::MissingReference {
                path: drv.to_string(),
                reference: drv.to_string(),
            });
        };
        for (name, path) in outputs {
            tx.execute(
                "INSERT OR REPLACE INTO derivation_outputs (drv, output, path) VALUES (?1, ?2, ?3)",
                params![id, name, path.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Derivations known to produce `path`.
    pub fn valid_derivers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT p.path FROM derivation_outputs d JOIN paths p ON p.id = d.drv WHERE d.path = ?1")?;
        let mut out = BTreeSet::new();
        for p in st.query_map(params![path.to_string()], |r| r.get::<_, String>(0))? {
            let p = p?;
            out.insert(StorePath::from_base_name(&p).map_err(|_| corrupt("deriver", &p))?);
        }
        Ok(out)
    }

    /// Adds signatures to a valid path.
    pub fn add_signatures(
        &mut self,
        path: &StorePath,
        sigs: &BTreeSet<String>,
    ) -> Result<bool, CatalogueError> {
        let Some(mut rec) = self.path_info(path)? else {
            return Ok(false);
        };
        rec.sigs.extend(sigs.iter().cloned());
        let joined: Vec<&str> = rec.sigs.iter().map(String::as_str).collect();
        self.conn.execute(
            "UPDATE paths SET sigs = ?1 WHERE path = ?2",
            params![joined.join(" "), path.to_string()],
        )?;
        Ok(true)
    }

    /// The blocks a block links to.
    pub fn links_of(&self, cid: &Cid) -> Result<Vec<Cid>, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT child FROM links WHERE parent = ?1")?;
        let rows = st.query_map(params![cid.to_bytes()], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let b = row?;
            out.push(
                Cid::try_from(b.as_slice()).map_err(|_| corrupt("block link", &cid.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Whether some recorded block that links to `cid` passes `test`
    /// (asked parent by parent until one does: a block many paths share
    /// can have very many).
    pub fn any_parent(
        &self,
        cid: &Cid,
        mut test: impl FnMut(&Cid) -> bool,
    ) -> Result<bool, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT parent FROM links WHERE child = ?1")?;
        let mut rows = st.query(params![cid.to_bytes()])?;
        while let Some(row) = rows.next()? {
            let b: Vec<u8> = row.get(0)?;
            let parent =
                Cid::try_from(b.as_slice()).map_err(|_| corrupt("block link", &cid.to_string()))?;
            if test(&parent) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a block is the root of a valid path or of a leftover.
    pub fn is_root(&self, cid: &Cid) -> Result<bool, CatalogueError> {
        let mut st = self.conn.prepare_cached(
            "SELECT 1 FROM paths WHERE root = ?1 UNION ALL SELECT 1 FROM leftovers WHERE root = ?1",
        )?;
        Ok(st.exists(params![cid.to_bytes()])?)
    }

    /// How many blocks are recorded.
    pub fn block_count(&self) -> Result<u64, CatalogueError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM blocks", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Every recorded block link, parent to children.
    pub fn all_links(&self) -> Result<std::collections::HashMap<Cid, Vec<Cid>>, CatalogueError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT parent, child FROM links")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out: std::collections::HashMap<Cid, Vec<Cid>> = std::collections::HashMap::new();
        for row in rows {
            let (p, c) = row?;
            let p =
                Cid::try_from(p.as_slice()).map_err(|_| corrupt("block link", "links table"))?;
            let c =
                Cid::try_from(c.as_slice()).map_err(|_| corrupt("block link", "links table"))?;
            out.entry(p).or_default().push(c);
        }
        Ok(out)
    }

    /// Every recorded block.
    pub fn all_blocks(&self) -> Result<Vec<Cid>, CatalogueError> {
        let mut st = self.conn.prepare_cached("SELECT cid FROM blocks")?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let b = row?;
            out.push(Cid::try_from(b.as_slice()).map_err(|_| corrupt("block", "blocks table"))?);
        }
        Ok(out)
    }

    /// Forgets blocks (GC, before their files are removed).
    pub fn forget_blocks(&mut self, cids: &[Cid]) -> Result<(), CatalogueError> {
        let tx = self.write_transaction()?;
        {
            let mut b = tx.prepare_cached("DELETE FROM blocks WHERE cid = ?1")?;
            let mut l = tx.prepare_cached("DELETE FROM links WHERE parent = ?1")?;
            for c in cids {
                let k = c.to_bytes();
                b.execute(params![k])?;
                l.execute(params![k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> StorePath {
        let hash: String = name
            .chars()
            .cycle()
            .take(32)
            .map(|c| {
                if c == 'e' || c == 'o' || c == 'u' || c == 't' {
                    'a'
                } else {
                    c
                }
            })
            .collect();
        StorePath::from_base_name(&format!("{hash}-{name}")).expect("valid")
    }

    fn register(cat: &mut Catalogue, name: &str, refs: &[&str]) -> StorePath {
        let p = path(name);
        let cid = crate::unixfs::cid_of(0x55, name.as_bytes());
        let rec = PathRecord {
            path: p.clone(),
            root: cid,
            nar_hash: Hash::sha256(name.as_bytes()),
            nar_size: 1,
            references: refs.iter().map(|r| path(r)).collect(),
            deriver: None,
            ultimate: true,
            sigs: BTreeSet::new(),
            ca: None,
            registration_time: 1,
        };
        let blocks = [BlockRecord {
            cid,
            size: 1,
            links: Vec::new(),
        }];
        cat.register(&rec, &blocks).expect("registered");
        p
    }

    #[test]
    fn closure_follows_references_and_names_missing_roots() {
        let mut cat = Catalogue::open_in_memory().expect("catalogue");
        let c = register(&mut cat, "c", &[]);
        let b = register(&mut cat, "b", &["c", "b"]);
        let a = register(&mut cat, "a", &["b"]);
        let d = register(&mut cat, "d", &["c"]);
        let lone = register(&mut cat, "lone", &[]);
        let set = |v: &[&StorePath]| v.iter().map(|p| (*p).clone()).collect::<BTreeSet<_>>();
        let (got, missing) = cat.closure(&set(&[&a])).expect("closure");
        assert_eq!(got, set(&[&a, &b, &c]));
        assert!(missing.is_empty());
        let (got, _) = cat.closure(&set(&[&a, &d])).expect("closure");
        assert_eq!(got, set(&[&a, &b, &c, &d]));
        let (got, _) = cat.closure(&set(&[&lone])).expect("closure");
        assert_eq!(got, set(&[&lone]));
        let gone = path("gone");
        let (got, missing) = cat.closure(&set(&[&d, &gone])).expect("closure");
        assert_eq!(got, set(&[&d, &c]));
        assert_eq!(missing, vec![gone]);
        let (got, missing) = cat.closure(&BTreeSet::new()).expect("closure");
        assert!(got.is_empty() && missing.is_empty());
    }
}
