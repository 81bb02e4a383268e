//! BuildPaths, BuildPathsWithResults, BuildDerivation: make the requested
//! outputs valid, building what is missing (see [`crate::build`]), and
//! report results the way Nix clients expect (`nix build` reads output
//! paths only from `builtOutputs`).

use std::collections::BTreeMap;

use nix_formats::derivation::{DrvHashMemo, SharedDrvHashes};
use nix_formats::store_path::{StoreDir, StorePath};
use nix_formats::wire::{
    BasicDerivation, BuildMode, BuildResult, BuildStatus, DerivedPath, KeyedBuildResult,
    OutputsSpec,
};
use store_ipfs::store::Store;

use super::read_derivation;
use crate::session::{OpError, Session, client_err};

/// `builtOutputs` of a derivation whose wanted outputs are valid:
/// DrvOutput id → Realisation JSON (keys sorted, `outPath` a basename).
pub fn built_outputs(
    st: &Store,
    sd: &StoreDir,
    hashes: &std::sync::Arc<SharedDrvHashes>,
    drv_path: &StorePath,
    wanted: &OutputsSpec,
) -> Result<BTreeMap<String, String>, OpError> {
    let drv = read_derivation(st, sd, drv_path)?;
    let mut memo = DrvHashMemo::new(sd.clone(), |p: &StorePath| {
        read_derivation(st, sd, p)
            .map_err(|_| std::io::Error::other(format!("cannot read '{}'", sd.display(p))))
    })
    .with_shared(hashes.clone());
    let masked = drv
        .hash_modulo(sd, true, &mut memo)
        .map_err(|e| client_err(e.to_string()))?;
    let map = super::query::output_map(st, sd, drv_path)?;
    let mut out = BTreeMap::new();
    for id in masked.output_ids() {
        let name = id.output.clone();
        let take = match wanted {
            OutputsSpec::All => true,
            OutputsSpec::Names(n) => n.contains(&name),
        };
        if !take {
            continue;
        }
        if let Some(Some(p)) = map.get(&name) {
            let json = format!(
                "{{\"dependentRealisations\":{{}},\"id\":\"{id}\",\"outPath\":\"{p}\",\"signatures\":[]}}"
            );
            out.insert(id.to_string(), json);
        }
    }
    Ok(out)
}

pub async fn build_paths(
    s: &mut Session,
    paths: Vec<DerivedPath>,
    mode: BuildMode,
    with_results: bool,
) -> Result<(), OpError> {
    if mode == BuildMode::Repair && !s.peer.trusted {
        return Err(client_err(
            "repairing is not allowed because you are not in 'trusted-users'",
        ));
    }
    let results = crate::build::realise(s, &paths, mode).await?;
    if !with_results {
        // As Nix's `buildPaths`: one failed goal with an error of its own is
        // rethrown; otherwise "build of '…', '…' failed".
        let failed: Vec<&(DerivedPath, BuildResult)> = results
            .iter()
            .filter(|(_, r)| !r.status.is_success())
            .collect();
        if let [(_, r)] = failed.as_slice() {
            if r.status != BuildStatus::NoSubstituters {
                return Err(OpError::Client(nix_formats::wire::ErrorInfo::new(
                    r.error_msg.clone(),
                )));
            }
        }
        if !failed.is_empty() {
            let sd = &s.shared.store_dir;
            let names: Vec<String> = failed
                .iter()
                .map(|(p, _)| match p {
                    DerivedPath::Opaque(p) => format!("'{}'", sd.display(p)),
                    DerivedPath::Built { drv_path, .. } => format!("'{}'", sd.display(drv_path)),
                })
                .collect();
            return Err(client_err(format!("build of {} failed", names.join(", "))));
        }
        return s.u64_reply(1);
    }
    let keyed: Vec<KeyedBuildResult> = results
        .into_iter()
        .map(|(path, result)| KeyedBuildResult { path, result })
        .collect();
    s.reply(&keyed)
}

pub async fn build_derivation(
    s: &mut Session,
    drv_path: StorePath,
    _drv: BasicDerivation,
    mode: BuildMode,
) -> Result<(), OpError> {
    if !s.peer.trusted {
        return Err(client_err(
            "you are not privileged to build input-addressed derivations",
        ));
    }
    let target = DerivedPath::Built {
        drv_path,
        outputs: OutputsSpec::All,
    };
    let mut results = crate::build::realise(s, std::slice::from_ref(&target), mode).await?;
    let r = results
        .pop()
        .map(|(_, r)| r)
        .unwrap_or_else(|| BuildResult::new(BuildStatus::MiscFailure, "no result"));
    s.reply(&r)
}
