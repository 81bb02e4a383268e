//! Ops that put paths into the store: AddToStore (both forms),
//! AddTextToStore, AddToStoreNar, AddMultipleToStore, AddSignatures,
//! AddBuildLog.

use std::collections::BTreeSet;
use std::io::BufRead;

use nix_formats::content_address::{ContentAddress, ContentAddressMethod, FileIngestionMethod};
use nix_formats::derivation::{Derivation, DrvHashMemo};
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::signature::{PublicKey, fingerprint};
use nix_formats::store_path::{StoreDir, StorePath};
use nix_formats::wire::{ProtocolVersion, ValidPathInfo, WireContext, WireDecode};
use store_ipfs::catalogue::PathRecord;
use store_ipfs::store::{NewPath, Store, StoreError};

use super::query::to_wire_info;
use super::read_derivation;
use crate::payload::{self, ChannelReader, HashTap};
use crate::session::{OpError, Session, chain, client_err};
use crate::shared::Shared;
use crate::wording::Wording;

/// Largest flat/text upload held in memory.
const MAX_FLAT: u64 = 1 << 30;

fn store_err(e: StoreError) -> OpError {
    client_err(chain(&e))
}

/// A NAR holding one regular file (what flat and text adds store).
pub fn single_file_nar(data: &[u8], executable: bool) -> Vec<u8> {
    let mut w = nix_formats::nar::NarWriter::new(Vec::with_capacity(data.len() + 128));
    w.regular(executable, data.len() as u64)
        .expect("fresh writer");
    w.contents(data).expect("declared size");
    w.finish().expect("complete archive")
}

/// Validates a `.drv` as Nix's store does when it becomes valid, reading
/// its input derivations from the store.
pub fn validate_drv(
    st: &Store,
    sd: &StoreDir,
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
    });
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

/// Called with an added path as soon as its name is known, before the
/// store checks whether it is valid already: the connection's temp root
/// (Nix's `addTempRoot` before `isValidPath`), so the collector cannot
/// delete an existing copy between that check and the client's use of it.
type Root<'a> = &'a dyn Fn(&StorePath);

/// Where an add lands: the store directory, and the temp-root hook.
#[derive(Clone, Copy)]
struct AddCx<'a> {
    sd: &'a StoreDir,
    root: Root<'a>,
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
    let AddCx { sd, root } = cx;
    let path = sd
        .make_path_from_ca(name, &ca, &refs, false)
        .map_err(|e| client_err(e.to_string()))?;
    root(&path);
    let drv = if matches!(ca, ContentAddress::Text(_)) && path.is_derivation() {
        Some(validate_drv(st, sd, &path, data)?)
    } else {
        None
    };
    let nar = single_file_nar(data, false);
    let rec = st
        .add_nar(
            nar.as_slice(),
            NewPath {
                path: path.clone(),
                references: refs,
                deriver: None,
                ultimate: false,
                sigs: BTreeSet::new(),
                ca: Some(ca),
                nar_hash: None,
                nar_size: None,
            },
        )
        .map_err(store_err)?;
    if let Some(d) = drv {
        register_outputs(st, sd, &path, &d)?;
    }
    Ok(rec)
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
    let AddCx { sd, root } = cx;
    match method {
        ContentAddressMethod::Text => {
            if algo != HashAlgo::Sha256 {
                return Err(client_err(format!(
                    "text store paths must use sha256, not {algo}"
                )));
            }
            let data = rx
                .read_all(MAX_FLAT)
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
            let data = rx
                .read_all(MAX_FLAT)
                .map_err(|e| client_err(e.to_string()))?;
            let ca = ContentAddress::Fixed {
                method: FileIngestionMethod::Flat,
                hash: Hash::of_bytes(algo, &data),
            };
            add_flat(st, cx, name, &data, ca, refs)
        }
        ContentAddressMethod::Fixed(FileIngestionMethod::Recursive) => {
            let tap = HashTap::new(algo);
            rx.tap(tap.clone());
            st.add_nar_with(&mut rx, name, |imp| {
                let hash = if algo == HashAlgo::Sha256 {
                    imp.nar_hash
                } else {
                    tap.current()
                };
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
                root(&path);
                Ok(NewPath {
                    path,
                    references: refs.clone(),
                    deriver: None,
                    ultimate: false,
                    sigs: BTreeSet::new(),
                    ca: Some(ca),
                    nar_hash: None,
                    nar_size: None,
                })
            })
            .map_err(store_err)
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
    let sd = s.shared.store_dir.clone();
    let (shared, conn) = (s.shared.clone(), s.id);
    let work = tokio::task::spawn_blocking(move || {
        let mut st = store.lock().expect("store lock");
        let root = |p: &StorePath| shared.add_temp_root(conn, p.clone());
        add_dump(
            &mut st,
            AddCx {
                sd: &sd,
                root: &root,
            },
            &name,
            method,
            algo,
            refs,
            rx,
        )
    });
    let cx = s.cx.clone();
    payload::pump_framed(&mut s.wire, &cx, tx).await?;
    let rec = work
        .await
        .map_err(|e| client_err(format!("internal error: {e}")))??;
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
    let sd = s.shared.store_dir.clone();
    let (shared, conn) = (s.shared.clone(), s.id);
    let work = tokio::task::spawn_blocking(move || {
        let mut st = store.lock().expect("store lock");
        let root = |p: &StorePath| shared.add_temp_root(conn, p.clone());
        if method == FileIngestionMethod::Flat {
            // The NAR must be a single regular file whose contents are used.
            let mut rx = rx;
            let nar = rx
                .read_all(MAX_FLAT)
                .map_err(|e| client_err(e.to_string()))?;
            let node =
                nix_formats::nar::Node::parse(&nar).map_err(|e| client_err(e.to_string()))?;
            let nix_formats::nar::Node::Regular { contents, .. } = node else {
                return Err(client_err("flat adds need a single regular file"));
            };
            let ca = ContentAddress::Fixed {
                method,
                hash: Hash::of_bytes(algo, &contents),
            };
            let cx = AddCx {
                sd: &sd,
                root: &root,
            };
            return add_flat(&mut st, cx, &name, &contents, ca, BTreeSet::new());
        }
        add_dump(
            &mut st,
            AddCx {
                sd: &sd,
                root: &root,
            },
            &name,
            ContentAddressMethod::Fixed(method),
            algo,
            BTreeSet::new(),
            rx,
        )
    });
    payload::pump_inline_nar(&mut s.wire, tx).await?;
    let rec = work
        .await
        .map_err(|e| client_err(format!("internal error: {e}")))??;
    let shown = s.shared.store_dir.display(&rec.path);
    s.reply(shown.as_str())
}

pub async fn add_text_to_store(
    s: &mut Session,
    name: String,
    text: Vec<u8>,
    refs: BTreeSet<StorePath>,
) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let conn = s.id;
    let t = std::time::Instant::now();
    let rec = s
        .blocking(move |st, shared| {
            let root = |p: &StorePath| shared.add_temp_root(conn, p.clone());
            add_flat(
                st,
                AddCx {
                    sd: &sd,
                    root: &root,
                },
                &name,
                &text,
                ContentAddress::Text(Hash::sha256(&text)),
                refs,
            )
        })
        .await?;
    crate::phases::add(crate::phases::Phase::AddText, t);
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

/// Imports one path with known info from `input`.
fn add_with_info(
    st: &mut Store,
    shared: &Shared,
    who: Uploader,
    info: ValidPathInfo,
    input: impl BufRead,
) -> Result<PathRecord, OpError> {
    let Uploader {
        conn,
        trusted,
        dont_check_sigs,
        wording,
    } = who;
    let sd = &shared.store_dir;
    if !trusted || !dont_check_sigs {
        check_untrusted(shared, &info, wording)?;
    }
    let path = info.path.clone();
    shared.add_temp_root(conn, path.clone());
    let is_drv = path.is_derivation();
    let rec = st
        .add_nar(
            input,
            NewPath {
                path: path.clone(),
                references: info.info.references,
                deriver: info.info.deriver,
                ultimate: trusted && info.info.ultimate,
                sigs: info.info.sigs,
                ca: info.info.ca,
                nar_hash: Some(info.info.nar_hash),
                nar_size: if info.info.nar_size == 0 {
                    None
                } else {
                    Some(info.info.nar_size)
                },
            },
        )
        .map_err(store_err)?;
    if is_drv {
        let text = super::read_store_file(st, sd, &path)?;
        match validate_drv(st, sd, &path, &text) {
            Ok(drv) => register_outputs(st, sd, &path, &drv)?,
            Err(e) => return Err(e),
        }
    }
    Ok(rec)
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
    if !s.version().at_least(23) {
        return Err(client_err(
            "AddToStoreNar through STDERR_READ (protocol 1.21-1.22) is not supported yet",
        ));
    }
    let (tx, rx) = payload::channel();
    let store = s.store()?;
    let shared = s.shared.clone();
    let who = Uploader::of(s, dont_check_sigs);
    let work = tokio::task::spawn_blocking(move || {
        let mut st = store.lock().expect("store lock");
        add_with_info(&mut st, &shared, who, info, rx)
    });
    let cx = s.cx.clone();
    payload::pump_framed(&mut s.wire, &cx, tx).await?;
    work.await
        .map_err(|e| client_err(format!("internal error: {e}")))??;
    s.done();
    Ok(())
}

/// Reads one wire value from a `BufRead` (the AddMultipleToStore stream).
fn read_wire<T>(
    r: &mut impl BufRead,
    cx: &WireContext,
    f: impl Fn(&mut nix_formats::wire::Decoder<'_>) -> Result<T, nix_formats::wire::DecodeError>,
) -> Result<T, OpError> {
    let mut acc: Vec<u8> = Vec::new();
    loop {
        {
            let mut d = nix_formats::wire::Decoder::new(&acc, cx);
            match f(&mut d) {
                Ok(v) => {
                    debug_assert_eq!(d.pos(), acc.len());
                    return Ok(v);
                }
                Err(nix_formats::wire::DecodeError::Incomplete { needed }) => {
                    let mut chunk = vec![0u8; needed];
                    r.read_exact(&mut chunk)
                        .map_err(|e| client_err(format!("reading upload: {e}")))?;
                    acc.extend_from_slice(&chunk);
                }
                Err(e) => return Err(client_err(format!("bad upload: {e}"))),
            }
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
    payload::pump_framed(&mut s.wire, &cx, tx).await?;
    work.await
        .map_err(|e| client_err(format!("internal error: {e}")))??;
    s.done();
    Ok(())
}

pub async fn import_paths(_s: &mut Session) -> Result<(), OpError> {
    Err(client_err(
        "ImportPaths (protocol < 1.18) is not supported; use a newer Nix client",
    ))
}

pub async fn add_signatures(
    s: &mut Session,
    path: StorePath,
    sigs: BTreeSet<String>,
) -> Result<(), OpError> {
    if !s.peer.trusted {
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
        let data = rx
            .read_all(1 << 30)
            .map_err(|e| client_err(e.to_string()))?;
        crate::logs::write_log(&log_dir, &drv, &data)
            .map_err(|e| client_err(format!("writing build log: {e}")))
    });
    let cx = s.cx.clone();
    payload::pump_framed(&mut s.wire, &cx, tx).await?;
    work.await
        .map_err(|e| client_err(format!("internal error: {e}")))??;
    s.u64_reply(1)
}

/// Used by builds: a path's record as a wire info.
pub fn info_of(rec: &PathRecord) -> ValidPathInfo {
    ValidPathInfo {
        path: rec.path.clone(),
        info: to_wire_info(rec),
    }
}
