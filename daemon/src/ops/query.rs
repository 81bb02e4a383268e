//! Read-only ops: validity, path info, referrers, derivation outputs,
//! QueryMissing, verification. (NAR and export streams: `export`.)

use std::collections::{BTreeMap, BTreeSet};

use nix_formats::store_path::{StoreDir, StorePath};
use nix_formats::wire::{DerivedPath, OutputsSpec, StderrMsg, UnkeyedValidPathInfo};
use store_ipfs::catalogue::PathRecord;
use store_ipfs::store::Store;

use super::read_derivation;
use crate::session::{OpError, Session, chain, client_err};

pub(super) fn cat_err(e: store_ipfs::catalogue::CatalogueError) -> OpError {
    client_err(chain(&e))
}

pub fn to_wire_info(rec: &PathRecord) -> UnkeyedValidPathInfo {
    UnkeyedValidPathInfo {
        deriver: rec.deriver.clone(),
        nar_hash: rec.nar_hash,
        references: rec.references.clone(),
        registration_time: rec.registration_time,
        nar_size: rec.nar_size,
        ultimate: rec.ultimate,
        sigs: rec.sigs.clone(),
        ca: rec.ca,
    }
}

pub(super) fn not_valid(sd: &StoreDir, p: &StorePath) -> OpError {
    client_err(format!("path '{}' is not valid", sd.display(p)))
}

pub async fn is_valid_path(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let v = s.quick(move |st| st.catalogue.is_valid(&p).map_err(cat_err))?;
    s.reply(&v)
}

pub async fn query_path_info(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let q = p.clone();
    let rec = s.quick(move |st| st.catalogue.path_info(&q).map_err(cat_err))?;
    if s.version().at_least(17) {
        match rec {
            Some(r) => {
                s.log(&StderrMsg::Last);
                let out = &mut s.wire.out;
                nix_formats::wire::encode_into(out, &s.cx, &true).expect("bool encodes");
                nix_formats::wire::encode_into(out, &s.cx, &to_wire_info(&r))
                    .map_err(|e| client_err(e.to_string()))
            }
            None => s.reply(&false),
        }
    } else {
        match rec {
            Some(r) => s.reply(&to_wire_info(&r)),
            None => Err(not_valid(&s.shared.store_dir, &p)),
        }
    }
}

pub async fn query_valid_paths(s: &mut Session, paths: BTreeSet<StorePath>) -> Result<(), OpError> {
    let valid = s
        .blocking(move |st, _| {
            let mut out = BTreeSet::new();
            for p in paths {
                if st.catalogue.is_valid(&p).map_err(cat_err)? {
                    out.insert(p);
                }
            }
            Ok(out)
        })
        .await?;
    s.reply(&valid)
}

pub async fn query_all_valid_paths(s: &mut Session) -> Result<(), OpError> {
    let all: BTreeSet<StorePath> = s
        .blocking(|st, _| {
            Ok(st
                .catalogue
                .all_paths()
                .map_err(cat_err)?
                .into_iter()
                .map(|(p, _)| p)
                .collect())
        })
        .await?;
    s.reply(&all)
}

pub async fn query_referrers(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let r = s.quick(move |st| st.catalogue.referrers(&p).map_err(cat_err))?;
    s.reply(&r)
}

/// The record of a valid path, or Nix's "is not valid" error.
fn valid_record(s: &mut Session, p: StorePath) -> Result<PathRecord, OpError> {
    let sd = s.shared.store_dir.clone();
    s.quick(move |st| {
        st.catalogue
            .path_info(&p)
            .map_err(cat_err)?
            .ok_or_else(|| not_valid(&sd, &p))
    })
}

pub async fn query_references(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let r = valid_record(s, p)?.references;
    s.reply(&r)
}

pub async fn query_path_hash(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let h = valid_record(s, p)?.nar_hash.to_base16();
    s.reply(h.as_str())
}

pub async fn query_deriver(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let d = valid_record(s, p)?.deriver;
    let shown = d
        .map(|d| s.shared.store_dir.display(&d))
        .unwrap_or_default();
    s.reply(shown.as_str())
}

pub async fn query_path_from_hash_part(s: &mut Session, h: String) -> Result<(), OpError> {
    let p = s.quick(move |st| st.catalogue.path_from_hash_part(&h).map_err(cat_err))?;
    let shown = p
        .map(|p| s.shared.store_dir.display(&p))
        .unwrap_or_default();
    s.reply(shown.as_str())
}

pub async fn query_valid_derivers(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let r = s.quick(move |st| st.catalogue.valid_derivers(&p).map_err(cat_err))?;
    s.reply(&r)
}

/// Output name → path (None for outputs whose path is not known yet).
pub fn output_map(
    st: &Store,
    sd: &StoreDir,
    drv_path: &StorePath,
) -> Result<BTreeMap<String, Option<StorePath>>, OpError> {
    let drv = read_derivation(st, sd, drv_path)?;
    let mut out = BTreeMap::new();
    for (name, o) in &drv.outputs {
        let fields = o.fields(sd);
        let p = if fields.path.is_empty() {
            None
        } else {
            Some(
                sd.parse_path(&fields.path)
                    .map_err(|e| client_err(e.to_string()))?,
            )
        };
        out.insert(name.clone(), p);
    }
    Ok(out)
}

pub async fn query_derivation_output_map(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let m = s.blocking(move |st, _| output_map(st, &sd, &p)).await?;
    let shown: BTreeMap<String, String> = m
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.map(|p| s.shared.store_dir.display(&p))
                    .unwrap_or_default(),
            )
        })
        .collect();
    s.log(&StderrMsg::Last);
    let mut e = nix_formats::wire::Encoder::new(&mut s.wire.out, &s.cx);
    e.string_map(&shown);
    Ok(())
}

pub async fn query_derivation_outputs(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let m = s.blocking(move |st, _| output_map(st, &sd, &p)).await?;
    let set: BTreeSet<StorePath> = m.into_values().flatten().collect();
    s.reply(&set)
}

pub async fn query_derivation_output_names(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let m = s.blocking(move |st, _| output_map(st, &sd, &p)).await?;
    let names: BTreeSet<String> = m.into_keys().collect();
    s.log(&StderrMsg::Last);
    nix_formats::wire::Encoder::new(&mut s.wire.out, &s.cx).strings(names.iter());
    Ok(())
}

/// QueryMissing's answer.
#[derive(Debug, Default)]
pub struct Missing {
    pub will_build: BTreeSet<StorePath>,
    pub will_substitute: BTreeSet<StorePath>,
    pub unknown: BTreeSet<StorePath>,
}

/// What building `targets` would take, as Nix's `queryMissing` computes it
/// (no substituters yet, so nothing is ever substituted).
pub fn missing(st: &Store, sd: &StoreDir, targets: &[DerivedPath]) -> Result<Missing, OpError> {
    missing_rooted(st, sd, targets, &|_| {})
}

/// [`missing`], calling `root` on every path before its validity is
/// checked (derivations, their outputs, input sources), as Nix's goals add
/// temp roots before they look: a builder then keeps what it found valid.
pub fn missing_rooted(
    st: &Store,
    sd: &StoreDir,
    targets: &[DerivedPath],
    root: &dyn Fn(&StorePath),
) -> Result<Missing, OpError> {
    let mut m = Missing::default();
    let mut done = BTreeSet::new();
    let mut stack: Vec<DerivedPath> = targets.iter().rev().cloned().collect();
    while let Some(t) = stack.pop() {
        if !done.insert(t.clone()) {
            continue;
        }
        match t {
            DerivedPath::Opaque(p) => {
                root(&p);
                if !st.catalogue.is_valid(&p).map_err(cat_err)? {
                    m.unknown.insert(p);
                }
            }
            DerivedPath::Built { drv_path, outputs } => {
                root(&drv_path);
                if !st.catalogue.is_valid(&drv_path).map_err(cat_err)? {
                    m.unknown.insert(drv_path);
                    continue;
                }
                let drv = read_derivation(st, sd, &drv_path)?;
                let map = output_map(st, sd, &drv_path)?;
                let mut any_invalid = false;
                for (name, p) in &map {
                    let wanted = match &outputs {
                        OutputsSpec::All => true,
                        OutputsSpec::Names(n) => n.contains(name),
                    };
                    if wanted {
                        let valid = match p {
                            Some(p) => {
                                root(p);
                                st.catalogue.is_valid(p).map_err(cat_err)?
                            }
                            None => false,
                        };
                        any_invalid |= !valid;
                    }
                }
                if !any_invalid {
                    continue;
                }
                m.will_build.insert(drv_path.clone());
                for (input, outs) in drv.input_drvs.iter().rev() {
                    stack.push(DerivedPath::Built {
                        drv_path: input.clone(),
                        outputs: OutputsSpec::Names(outs.clone()),
                    });
                }
                for src in drv.input_srcs.iter().rev() {
                    stack.push(DerivedPath::Opaque(src.clone()));
                }
            }
        }
    }
    Ok(m)
}

pub async fn query_missing(s: &mut Session, targets: Vec<DerivedPath>) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let m = s.blocking(move |st, _| missing(st, &sd, &targets)).await?;
    s.log(&StderrMsg::Last);
    let mut e = nix_formats::wire::Encoder::new(&mut s.wire.out, &s.cx);
    e.path_set(&m.will_build);
    e.path_set(&m.will_substitute);
    e.path_set(&m.unknown);
    e.u64(0);
    e.u64(0);
    Ok(())
}

pub async fn ensure_path(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let q = p.clone();
    let valid = s.quick(move |st| st.catalogue.is_valid(&q).map_err(cat_err))?;
    if !valid {
        return Err(client_err(format!(
            "path '{}' does not exist and cannot be created",
            sd.display(&p)
        )));
    }
    s.shared.add_temp_root(s.id, p);
    s.u64_reply(1)
}
