//! Ops that put paths into the store: AddToStore (both forms),
//! AddTextToStore, AddToStoreNar, AddMultipleToStore, AddSignatures,
//! AddBuildLog.
//!
//! Memory: NARs stream into blocks; flat files stream through an unnamed
//! temporary file in the state dir (their path depends on a hash of the
//! whole file, and their NAR starts with its size); only text (`.drv`s,
//! `builtins.toFile`) is held whole, up to [`MAX_TEXT`]. Nothing is
//! registered before all of it has arrived and been checked: a `.drv` is
//! validated from its blocks before its path becomes valid, and a NAR
//! longer than the size its uploader declared ends the connection.
//! ImportPaths streams each NAR into blocks before the export stream names
//! its path (blocks do not depend on it), then registers it.

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Seek, Write};
use std::sync::Arc;

use nix_formats::content_address::{ContentAddress, ContentAddressMethod, FileIngestionMethod};
use nix_formats::derivation::{Derivation, DrvHashMemo, SharedDrvHashes};
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::signature::{PublicKey, fingerprint};
use nix_formats::store_path::{StoreDir, StorePath};
use nix_formats::wire::{ProtocolVersion, ValidPathInfo, WireContext, WireDecode};
use store_ipfs::catalogue::PathRecord;
use store_ipfs::nar_dag::ImportError;
use store_ipfs::store::{NewPath, Prepared, Store, StoreError};

use super::query::to_wire_info;
use super::read_derivation;
use crate::payload::{self, ChannelReader, Declared, HashTap};
use crate::phases::{self, Phase};
use crate::session::{OpError, Session, chain, client_err};
use crate::shared::Shared;
use crate::wording::Wording;

/// Largest text (AddTextToStore, AddToStore `text:`) and largest `.drv`,
/// held in memory to be hashed, parsed and validated: the protocol's
/// string limit, so both ways of adding text accept the same sizes.
pub const MAX_TEXT: u64 = nix_formats::wire::Limits::DEFAULT.max_string_len as u64;

/// Buffer between a streamed NAR and the block importer.
const IMPORT_BUFFER: usize = 256 * 1024;

fn store_err(e: StoreError) -> OpError {
    client_err(chain(&e))
}

/// Validates a `.drv` as Nix's store does when it becomes valid, reading
/// its input derivations from the store.
pub fn validate_drv(
    st: &Store,
    sd: &StoreDir,
    hashes: &Arc<SharedDrvHashes>,
    path: &StorePath,
    text: &[u8],
) -> Result<Derivation, OpError> {
    let drv = Derivation::from_aterm(text, sd).map_err(|e| {
        client_err(format!(
            "error parsing derivation '{}': {e}",
            sd.display(path)
        ))
    })?;
    let mut memo = DrvHashMemo::new(sd.clone(), |p: &StorePath| {
        read_derivation(st, sd, p).map_err(|e| match e {
            OpError::Client(i) => {
                std::io::Error::other(String::from_utf8_lossy(&i.message).into_owned())
            }
            OpError::Fatal(f) => std::io::Error::other(f.to_string()),
        })
    })
    .with_shared(hashes.clone());
    drv.validate(sd, path, &mut memo)
        .map_err(|e| client_err(e.to_string()))?;
    Ok(drv)
}

/// Records the known output paths of a `.drv` that just became valid.
fn register_outputs(
    st: &mut Store,
    sd: &StoreDir,
    path: &StorePath,
    drv: &Derivation,
) -> Result<(), OpError> {
    let mut outs = Vec::new();
    for (name, o) in &drv.outputs {
        let f = o.fields(sd);
        if !f.path.is_empty() {
            outs.push((
                name.clone(),
                sd.parse_path(&f.path)
                    .map_err(|e| client_err(e.to_string()))?,
            ));
        }
    }
    st.catalogue
        .register_derivation_outputs(path, &outs)
        .map_err(|e| client_err(chain(&e)))
}

/// Where an add lands and for whom: the daemon's store directory and
/// derivation hashes, and the connection whose temp root an added path
/// becomes as soon as its name is known, before the store checks whether it
/// is valid already (Nix's `addTempRoot` before `isValidPath`), so the
/// collector cannot delete an existing copy between that check and the
/// client's use of it.
#[derive(Clone, Copy)]
struct AddCx<'a> {
    shared: &'a Shared,
    conn: u64,
}

impl AddCx<'_> {
    fn sd(&self) -> &StoreDir {
        &self.shared.store_dir
    }

    fn root(&self, path: &StorePath) {
        self.shared.add_temp_root(self.conn, path.clone());
    }
}

/// The record of `path` if it is valid already: an add whose path is known
/// before its bytes are stored ends there, as in Nix (the temp root is set
/// first, so the path stays). A client instantiating an expression sends
/// every `.drv` again each time.
fn valid_already(st: &Store, path: &StorePath) -> Result<Option<PathRecord>, OpError> {
    st.catalogue
        .path_info(path)
        .map_err(|e| client_err(chain(&e)))
}

/// Adds one file's bytes (text or flat) under a content address.
fn add_flat(
    st: &mut Store,
    cx: AddCx<'_>,
    name: &str,
    data: &[u8],
    ca: ContentAddress,
    refs: BTreeSet<StorePath>,
) -> Result<PathRecord, OpError> {
    let sd = cx.sd();
    let path = sd
        .make_path_from_ca(name, &ca, &refs, false)
        .map_err(|e| client_err(e.to_string()))?;
    cx.root(&path);
    if let Some(rec) = valid_already(st, &path)? {
        return Ok(rec);
    }
    let drv = if matches!(ca, ContentAddress::Text(_)) && path.is_derivation() {
        Some(validate_drv(st, sd, &cx.shared.drv_hashes, &path, data)?)
    } else {
        None
    };
    let nar = nix_formats::nar::regular_file_nar(false, data.len() as u64, data);
    let rec = st
        .add_nar(
            std::io::BufReader::with_capacity(IMPORT_BUFFER, nar),
            NewPath::content_addressed(path.clone(), refs, ca),
        )
        .map_err(store_err)?;
    if let Some(d) = drv {
        register_outputs(st, sd, &path, &d)?;
    }
    Ok(rec)
}

/// A flat file's contents, received whole into an unnamed temporary file.
struct Spooled {
    file: std::fs::File,
    size: u64,
    hash: Hash,
}

/// Copies `contents` to an unnamed temporary file in the state dir,
/// hashing it with `algo` on the way.
fn spool(st: &Store, algo: HashAlgo, contents: &mut impl Read) -> Result<Spooled, OpError> {
    let dir = st.state();
    let io_err =
        |e: std::io::Error| client_err(format!("spooling an upload to '{}': {e}", dir.display()));
    let mut file = tempfile::tempfile_in(dir).map_err(io_err)?;
    let mut hasher = nix_formats::hash::Hasher::new(algo);
    let mut buf = vec![0u8; IMPORT_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match contents.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(client_err(format!("reading upload: {e}"))),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_err)?;
        size += n as u64;
    }
    file.rewind().map_err(io_err)?;
    Ok(Spooled {
        file,
        size,
        hash: hasher.finish(),
    })
}

/// Adds a spooled flat file under `fixed:<algo>:<hash>`, streaming its
/// NAR from the file.
fn add_spooled_flat(
    st: &mut Store,
    cx: AddCx<'_>,
    name: &str,
    spooled: Spooled,
    refs: BTreeSet<StorePath>,
) -> Result<PathRecord, OpError> {
    let sd = cx.sd();
    let ca = ContentAddress::Fixed {
        method: FileIngestionMethod::Flat,
        hash: spooled.hash,
    };
    let path = sd
        .make_path_from_ca(name, &ca, &refs, false)
        .map_err(|e| client_err(e.to_string()))?;
    cx.root(&path);
    if let Some(rec) = valid_already(st, &path)? {
        return Ok(rec);
    }
    let nar = nix_formats::nar::regular_file_nar(false, spooled.size, spooled.file);
    st.add_nar(
        std::io::BufReader::with_capacity(IMPORT_BUFFER, nar),
        NewPath::content_addressed(path, refs, ca),
    )
    .map_err(store_err)
}

/// The body of AddToStore once the request fields are known.
fn add_dump(
    st: &mut Store,
    cx: AddCx<'_>,
    name: &str,
    method: ContentAddressMethod,
    algo: HashAlgo,
    refs: BTreeSet<StorePath>,
    mut rx: ChannelReader,
) -> Result<PathRecord, OpError> {
    let sd = cx.sd();
    match method {
        ContentAddressMethod::Text => {
            if algo != HashAlgo::Sha256 {
                return Err(client_err(format!(
                    "text store paths must use sha256, not {algo}"
                )));
            }
            let data = rx
                .read_all(MAX_TEXT)
                .map_err(|e| client_err(e.to_string()))?;
            add_flat(
                st,
                cx,
                name,
                &data,
                ContentAddress::Text(Hash::sha256(&data)),
                refs,
            )
        }
        ContentAddressMethod::Fixed(FileIngestionMethod::Flat) => {
            let spooled = spool(st, algo, &mut rx)?;
            add_spooled_flat(st, cx, name, spooled, refs)
        }
        ContentAddressMethod::Fixed(FileIngestionMethod::Recursive) => {
            // A sha256 content address is the NAR hash the import computes
            // anyway; other algorithms hash the stream a second time.
            let tap = (algo != HashAlgo::Sha256).then(|| HashTap::new(algo));
            if let Some(tap) = &tap {
                rx.tap(tap.clone());
            }
            let t_import = std::time::Instant::now();
            let prepared = st.prepare_nar(&mut rx, name, |imp| {
                let hash = tap.as_ref().map_or(imp.nar_hash, HashTap::current);
                let ca = ContentAddress::Fixed {
                    method: FileIngestionMethod::Recursive,
                    hash,
                };
                let path =
                    sd.make_path_from_ca(name, &ca, &refs, false)
                        .map_err(|e| StoreError::Nar {
                            path: name.to_owned(),
                            source: Box::new(e),
                        })?;
                cx.root(&path);
                Ok(NewPath::content_addressed(path, refs.clone(), ca))
            });
            phases::add(Phase::AddImport, t_import);
            let mut recs = commit_timed(st, vec![prepared.map_err(store_err)?])?;
            Ok(recs.remove(0))
        }
        ContentAddressMethod::Fixed(FileIngestionMethod::Git) => Err(client_err(
            "experimental Nix feature 'git-hashing' is disabled",
        )),
    }
}

pub async fn add_to_store(
    s: &mut Session,
    name: String,
    method: ContentAddressMethod,
    algo: HashAlgo,
    refs: BTreeSet<StorePath>,
    _repair: bool,
) -> Result<(), OpError> {
    let (tx, rx) = payload::channel();
    let store = s.store()?;
    let (shared, conn) = (s.shared.clone(), s.id);
    let work = tokio::task::spawn_blocking(move || {
        let mut st = store.lock().expect("store lock");
        add_dump(
            &mut st,
            AddCx {
                shared: &shared,
                conn,
            },
            &name,
            method,
            algo,
            refs,
            rx,
        )
    });
    let cx = s.cx.clone();
    let pumped = payload::pump_framed(&mut s.wire, &cx, tx, None).await;
    let rec = after_upload(pumped, work).await?;
    s.reply(&ValidPathInfo {
        path: rec.path.clone(),
        info: to_wire_info(&rec),
    })
}

pub async fn add_to_store_legacy(
    s: &mut Session,
    name: String,
    fixed: bool,
    recursive: bool,
    algo: String,
) -> Result<(), OpError> {
    let algo: HashAlgo = algo
        .parse()
        .map_err(|e: nix_formats::hash::ParseHashError| client_err(e.to_string()))?;
    let (method, algo) = if !fixed {
        (FileIngestionMethod::Recursive, HashAlgo::Sha256)
    } else if recursive {
        (FileIngestionMethod::Recursive, algo)
    } else {
        (FileIngestionMethod::Flat, algo)
    };
    let (tx, rx) = payload::channel();
    let store = s.store()?;
    let (shared, conn) = (s.shared.clone(), s.id);
    let work = tokio::task::spawn_blocking(move || {
        let mut st = store.lock().expect("store lock");
        if method == FileIngestionMethod::Flat {
            // The NAR must be a single regular file whose contents are used.
            let bad = |e: nix_formats::nar::ReadError| client_err(chain(&e));
            let mut rx = rx;
            let mut nar = nix_formats::nar::NarReader::new(&mut rx);
            if !matches!(
                nar.next_event().map_err(bad)?,
                nix_formats::nar::Event::Regular { .. }
            ) {
                return Err(client_err("regular file expected"));
            }
            let spooled = spool(&st, algo, &mut nar)?;
            nar.skip_rest().map_err(bad)?;
            let cx = AddCx {
                shared: &shared,
                conn,
            };
            return add_spooled_flat(&mut st, cx, &name, spooled, BTreeSet::new());
        }
        add_dump(
            &mut st,
            AddCx {
                shared: &shared,
                conn,
            },
            &name,
            ContentAddressMethod::Fixed(method),
            algo,
            BTreeSet::new(),
            rx,
        )
    });
    let pumped = payload::pump_inline_nar(&mut s.wire, tx).await;
    let rec = after_upload(pumped, work).await?;
    let shown = s.shared.store_dir.display(&rec.path);
    s.reply(shown.as_str())
}

pub async fn add_text_to_store(
    s: &mut Session,
    name: String,
    text: Vec<u8>,
    refs: BTreeSet<StorePath>,
) -> Result<(), OpError> {
    let conn = s.id;
    let t = std::time::Instant::now();
    let rec = s
        .blocking(move |st, shared| {
            add_flat(
                st,
                AddCx { shared, conn },
                &name,
                &text,
                ContentAddress::Text(Hash::sha256(&text)),
                refs,
            )
        })
        .await?;
    phases::add(Phase::AddText, t);
    let shown = s.shared.store_dir.display(&rec.path);
    s.reply(shown.as_str())
}

/// Whether an untrusted upload may be accepted: a valid signature from a
/// trusted key, or a content address that really determines the path.
fn check_untrusted(shared: &Shared, info: &ValidPathInfo, wording: Wording) -> Result<(), OpError> {
    let sd = &shared.store_dir;
    if !shared.settings.require_sigs {
        return Ok(());
    }
    if let Some(ca) = &info.info.ca {
        let self_ref = info.info.references.contains(&info.path);
        let mut refs = info.info.references.clone();
        refs.remove(&info.path);
        if sd
            .make_path_from_ca(info.path.name(), ca, &refs, self_ref)
            .is_ok_and(|p| p == info.path)
        {
            return Ok(());
        }
    }
    let keys: Vec<PublicKey> = shared
        .settings
        .trusted_public_keys
        .iter()
        .filter_map(|k| PublicKey::parse(k).ok())
        .collect();
    if let Ok(fp) = fingerprint(
        sd,
        &info.path,
        &info.info.nar_hash,
        info.info.nar_size,
        &info.info.references,
    ) {
        if nix_formats::signature::verify_any(&keys, &fp, &info.info.sigs) {
            return Ok(());
        }
    }
    Err(client_err(wording.lacks_signature(&sd.display(&info.path))))
}

/// Who uploads, and how their uploads are checked.
#[derive(Debug, Clone, Copy)]
struct Uploader {
    /// The connection, whose temp roots the path joins.
    conn: u64,
    trusted: bool,
    dont_check_sigs: bool,
    wording: Wording,
}

impl Uploader {
    fn of(s: &Session, dont_check_sigs: bool) -> Self {
        Uploader {
            conn: s.id,
            trusted: s.peer.trusted,
            dont_check_sigs,
            wording: s.wording(),
        }
    }
}

/// Checks an uploaded path's info as its uploader's trust requires, makes
/// the path a temp root of the connection, and says what to register it
/// with (the NAR must then match the info's hash and, if given, size).
fn admit(shared: &Shared, who: Uploader, info: ValidPathInfo) -> Result<NewPath, OpError> {
    if !who.trusted || !who.dont_check_sigs {
        check_untrusted(shared, &info, who.wording)?;
    }
    shared.add_temp_root(who.conn, info.path.clone());
    let declared = info.info.nar_size;
    Ok(NewPath {
        path: info.path,
        references: info.info.references,
        deriver: info.info.deriver,
        ultimate: who.trusted && info.info.ultimate,
        sigs: info.info.sigs,
        ca: info.info.ca,
        nar_hash: Some(info.info.nar_hash),
        nar_size: (declared != 0).then_some(declared),
    })
}

/// Imports one path with known info from `input`, reading at most the
/// NAR size the info declares (if it declares one). Nothing is registered
/// unless the whole NAR arrived and matched the info, and — for a `.drv` —
/// the derivation read back from the new blocks passed validation.
fn add_with_info(
    st: &mut Store,
    shared: &Shared,
    who: Uploader,
    info: ValidPathInfo,
    input: &mut ChannelReader,
) -> Result<PathRecord, OpError> {
    let shown = shared.store_dir.display(&info.path);
    let declared = info.info.nar_size;
    let meta = admit(shared, who, info)?;
    let t_import = std::time::Instant::now();
    let prepared = if declared == 0 {
        st.prepare_nar(&mut *input, &shown, |_| Ok(meta))
    } else {
        let pulled = input.is_pulled();
        let mut limited = Declared::new(input, declared);
        let r = st.prepare_nar(&mut limited, &shown, |_| Ok(meta));
        if r.is_err() && !pulled && limited.overran() {
            let why = too_long(&shown, declared);
            input.stop(why.clone());
            return Err(client_err(why));
        }
        r
    }
    .map_err(store_err)?;
    phases::add(Phase::AddImport, t_import);
    commit_with_info(st, shared, prepared)
}

/// Registers prepared uploads, timing the durability wait and the
/// catalogue transaction apart (`SIGUSR1`'s phases).
fn commit_timed(st: &mut Store, paths: Vec<Prepared>) -> Result<Vec<PathRecord>, OpError> {
    phases::commit_timed(st, paths, Phase::AddSync, Phase::AddCatalogue).map_err(store_err)
}

/// Registers a prepared path, validating it first if it is a `.drv` (read
/// back from its new blocks) and recording the derivation's outputs.
fn commit_with_info(
    st: &mut Store,
    shared: &Shared,
    prepared: Prepared,
) -> Result<PathRecord, OpError> {
    let sd = &shared.store_dir;
    let path = prepared.rec.path.clone();
    let shown = sd.display(&path);
    let drv = if path.is_derivation() {
        if prepared.rec.nar_size > MAX_TEXT + 1024 {
            return Err(client_err(format!(
                "derivation '{shown}' is larger than {MAX_TEXT} bytes"
            )));
        }
        let text = super::read_file_at(st, &shown, &prepared.rec.root)?;
        Some(validate_drv(st, sd, &shared.drv_hashes, &path, &text)?)
    } else {
        None
    };
    let rec = commit_timed(st, vec![prepared])?.remove(0);
    if let Some(d) = drv {
        register_outputs(st, sd, &path, &d)?;
    }
    Ok(rec)
}

/// Why an upload that went on past its declared size ends the connection.
fn too_long(shown: &str, declared: u64) -> String {
    format!("the NAR of '{shown}' is longer than its declared size of {declared} bytes")
}

pub async fn add_to_store_nar(
    s: &mut Session,
    info: ValidPathInfo,
    _repair: bool,
    dont_check_sigs: bool,
) -> Result<(), OpError> {
    if !s.version().at_least(21) {
        return Err(client_err(
            "AddToStoreNar with an inline NAR (protocol < 1.21) is not supported",
        ));
    }
    let store = s.store()?;
    let shared = s.shared.clone();
    let who = Uploader::of(s, dont_check_sigs);
    let limit = (info.info.nar_size != 0).then(|| {
        let shown = s.shared.store_dir.display(&info.path);
        (info.info.nar_size, too_long(&shown, info.info.nar_size))
    });
    let consume = move |mut rx: ChannelReader| {
        tokio::task::spawn_blocking(move || {
            let mut st = store.lock().expect("store lock");
            add_with_info(&mut st, &shared, who, info, &mut rx)
        })
    };
    let cx = s.cx.clone();
    if s.version().at_least(23) {
        let (tx, rx) = payload::channel();
        let work = consume(rx);
        let pumped = payload::pump_framed(&mut s.wire, &cx, tx, limit).await;
        after_upload(pumped, work).await?;
    } else {
        // 1.21–1.22: the daemon pulls the NAR with STDERR_READ, which a
        // client cannot be asked past its end: the declared size bounds it.
        if limit.is_none() {
            return Err(client_err(
                "AddToStoreNar through STDERR_READ needs the NAR's size",
            ));
        }
        let (puller, rx) = payload::pulled_channel();
        let work = consume(rx);
        let pumped = payload::pump_pulled(&mut s.wire, &cx, puller, limit).await;
        after_upload(pumped, work).await?;
    }
    s.done();
    Ok(())
}

/// Reads one wire value from a `BufRead` (the AddMultipleToStore stream),
/// buffering only bytes that arrived (the decoder bounds the value).
fn read_wire<T>(
    r: &mut impl BufRead,
    cx: &WireContext,
    f: impl Fn(&mut nix_formats::wire::Decoder<'_>) -> Result<T, nix_formats::wire::DecodeError>,
) -> Result<T, OpError> {
    let mut acc: Vec<u8> = Vec::new();
    loop {
        let mut d = nix_formats::wire::Decoder::new(&acc, cx);
        match f(&mut d) {
            Ok(v) => {
                debug_assert_eq!(d.pos(), acc.len());
                return Ok(v);
            }
            Err(nix_formats::wire::DecodeError::Incomplete { needed }) => {
                let target = acc.len().saturating_add(needed);
                while acc.len() < target {
                    let b = r
                        .fill_buf()
                        .map_err(|e| client_err(format!("reading upload: {e}")))?;
                    if b.is_empty() {
                        return Err(client_err("reading upload: the stream ends inside an item"));
                    }
                    let n = b.len().min(target - acc.len());
                    acc.extend_from_slice(&b[..n]);
                    r.consume(n);
                }
            }
            Err(e) => return Err(client_err(format!("bad upload: {e}"))),
        }
    }
}

pub async fn add_multiple_to_store(
    s: &mut Session,
    _repair: bool,
    dont_check_sigs: bool,
) -> Result<(), OpError> {
    let (tx, mut rx) = payload::channel();
    let store = s.store()?;
    let shared = s.shared.clone();
    let who = Uploader::of(s, dont_check_sigs);
    let item_cx = WireContext {
        version: ProtocolVersion::new(1, 16),
        ..s.cx.clone()
    };
    let work = tokio::task::spawn_blocking(move || -> Result<(), OpError> {
        let mut st = store.lock().expect("store lock");
        let count = read_wire(&mut rx, &item_cx, |d| d.u64())?;
        for _ in 0..count {
            let info = read_wire(&mut rx, &item_cx, ValidPathInfo::decode)?;
            add_with_info(&mut st, &shared, who, info, &mut rx)?;
        }
        Ok(())
    });
    let cx = s.cx.clone();
    let pumped = payload::pump_framed(&mut s.wire, &cx, tx, None).await;
    after_upload(pumped, work).await?;
    s.done();
    Ok(())
}

/// ImportPaths (sent by clients before 1.18, accepted from any): an
/// export stream pulled with STDERR_READ. Each NAR goes into blocks as it
/// arrives (its info follows it), then is added as AddToStoreNar adds;
/// untrusted clients need signatures or content addresses, as with Nix.
pub async fn import_paths(s: &mut Session) -> Result<(), OpError> {
    let store = s.store()?;
    let shared = s.shared.clone();
    let who = Uploader::of(s, s.peer.trusted);
    let item_cx = s.cx.clone();
    let (puller, mut rx) = payload::pulled_channel();
    let work = tokio::task::spawn_blocking(move || -> Result<Vec<StorePath>, OpError> {
        let mut st = store.lock().expect("store lock");
        let mut added = Vec::new();
        loop {
            match read_wire(&mut rx, &item_cx, |d| d.u64())? {
                0 => return Ok(added),
                1 => {}
                _ => {
                    return Err(client_err(
                        "input doesn't look like something created by 'nix-store --export'",
                    ));
                }
            }
            // The blocks go straight into the store (temp-pinned): they do
            // not depend on the path, which the stream names after them.
            let t_import = std::time::Instant::now();
            let nar = st.import_blocks(&mut rx).map_err(|e| match e {
                ImportError::Nar(e) => client_err(format!("bad archive: {}", chain(&e))),
                ImportError::Dir(e) => client_err(chain(&e)),
                ImportError::Sink(e) => store_err(e),
            })?;
            phases::add(Phase::AddImport, t_import);
            if read_wire(&mut rx, &item_cx, |d| d.u64())? != nix_formats::export::EXPORT_MAGIC {
                return Err(client_err("Nix archive cannot be imported; wrong format"));
            }
            let path = read_wire(&mut rx, &item_cx, |d| d.store_path("path"))?;
            let references = read_wire(&mut rx, &item_cx, |d| d.path_set("references"))?;
            let deriver = read_wire(&mut rx, &item_cx, |d| d.opt_store_path("deriver"))?;
            if read_wire(&mut rx, &item_cx, |d| d.u64())? == 1 {
                // A legacy signature: read and ignored, as Nix does.
                read_wire(&mut rx, &item_cx, |d| d.bytes("legacy signature"))?;
            }
            let imported = nar.imported;
            let mut info =
                nix_formats::wire::UnkeyedValidPathInfo::new(imported.nar_hash, imported.nar_size);
            info.references = references;
            info.deriver = deriver;
            let info = ValidPathInfo {
                path: path.clone(),
                info,
            };
            let meta = admit(&shared, who, info)?;
            let prepared = st.describe(nar, meta).map_err(store_err)?;
            commit_with_info(&mut st, &shared, prepared)?;
            added.push(path);
        }
    });
    let cx = s.cx.clone();
    let pumped = payload::pump_pulled(&mut s.wire, &cx, puller, None).await;
    let added = after_upload(pumped, work).await?;
    let shown: Vec<String> = added
        .iter()
        .map(|p| s.shared.store_dir.display(p))
        .collect();
    s.reply(&shown)
}

pub async fn add_signatures(
    s: &mut Session,
    path: StorePath,
    sigs: BTreeSet<String>,
) -> Result<(), OpError> {
    if !s.peer.trusted && !s.wording().untrusted_may_sign() {
        return Err(client_err("you are not privileged to add signatures"));
    }
    let sd = s.shared.store_dir.clone();
    s.blocking(move |st, _| {
        if st
            .catalogue
            .add_signatures(&path, &sigs)
            .map_err(|e| client_err(chain(&e)))?
        {
            Ok(())
        } else {
            Err(client_err(format!(
                "path '{}' is not valid",
                sd.display(&path)
            )))
        }
    })
    .await?;
    s.u64_reply(1)
}

pub async fn add_build_log(s: &mut Session, drv: StorePath) -> Result<(), OpError> {
    let (tx, mut rx) = payload::channel();
    let log_dir = s.shared.log_dir.clone();
    let work = tokio::task::spawn_blocking(move || -> Result<(), OpError> {
        crate::logs::write_log(&log_dir, &drv, &mut rx)
            .map_err(|e| client_err(format!("writing build log: {e}")))
    });
    let cx = s.cx.clone();
    let pumped = payload::pump_framed(&mut s.wire, &cx, tx, None).await;
    after_upload(pumped, work).await?;
    s.u64_reply(1)
}

/// Waits for an upload's consumer whatever became of the stream (so that
/// nothing of the op outlives it: its temp pin, its store lock), then
/// reports a broken stream first — it ends the connection — and the
/// consumer's result otherwise. (Once the stream has ended, the consumer
/// sees its end or an error at once, so this never waits on the client.)
async fn after_upload<P, T>(
    pumped: Result<P, crate::io::WireIoError>,
    work: tokio::task::JoinHandle<Result<T, OpError>>,
) -> Result<T, OpError> {
    let done = work
        .await
        .map_err(|e| client_err(format!("internal error: {e}")));
    pumped?;
    done?
}

/// Used by builds: a path's record as a wire info.
pub fn info_of(rec: &PathRecord) -> ValidPathInfo {
    ValidPathInfo {
        path: rec.path.clone(),
        info: to_wire_info(rec),
    }
}
