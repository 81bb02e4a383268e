//! Facts about the store after a scenario, gathered the way a user would:
//! through the client (`nix path-info`, `nix-store --dump`, `--print-roots`)
//! and by reading `/nix/store` directly (which, for our daemon, is its FUSE
//! view).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::RunError;
use crate::exec::{self, Captured};
use crate::layout;
use crate::normalise;
use crate::outcome::{PathFacts, StoreState};

const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
const UNSTABLE: &str = "<unstable>";

/// One entry of `nix path-info --json` (Nix 2.8 field names).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PathInfoJson {
    path: String,
    nar_hash: String,
    nar_size: u64,
    #[serde(default)]
    references: Vec<String>,
    deriver: Option<String>,
    ca: Option<String>,
    #[serde(default)]
    ultimate: bool,
    #[serde(default)]
    signatures: Vec<String>,
}

/// Gather the store state. `unstable` lists path names (after `<hash>-`)
/// whose contents are not compared.
pub fn store_state(unstable: &[&str]) -> Result<StoreState, RunError> {
    let infos = all_path_infos()?;
    let mut paths = BTreeMap::new();
    for info in infos {
        let dump_hash = dump_hash(&info.path)?;
        let matches = dump_hash == info.nar_hash;
        let is_unstable = unstable.contains(&path_name(&info.path));
        let mut references = info.references;
        references.sort();
        paths.insert(
            info.path,
            PathFacts {
                nar_hash: if is_unstable {
                    UNSTABLE.into()
                } else {
                    info.nar_hash
                },
                nar_size: info.nar_size,
                references,
                deriver: info.deriver,
                ca: info.ca,
                ultimate: info.ultimate,
                signatures: info.signatures,
                dump_hash: if is_unstable {
                    UNSTABLE.into()
                } else {
                    dump_hash
                },
                dump_matches_nar_hash: matches,
            },
        );
    }
    let listed = store_dir_entries()?;
    let valid: BTreeSet<String> = paths.keys().cloned().collect();
    Ok(StoreState {
        unregistered_entries: listed.difference(&valid).cloned().collect(),
        missing_entries: valid.difference(&listed).cloned().collect(),
        paths,
        result_links: result_links()?,
        roots: roots()?,
    })
}

/// The name part of a store path (`/nix/store/<hash>-<name>` → `<name>`).
pub fn path_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.get(33..).unwrap_or(base)
}

fn harness_cmd(script: &str) -> Result<Captured, RunError> {
    let out = exec::run_sh(script, Path::new(layout::WORK), QUERY_TIMEOUT)
        .map_err(RunError::spawn(script))?;
    if out.exit != 0 {
        return Err(RunError::Harness {
            command: script.to_owned(),
            exit: out.exit,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

fn all_path_infos() -> Result<Vec<PathInfoJson>, RunError> {
    let script = "nix --extra-experimental-features nix-command path-info --json --all";
    let out = harness_cmd(script)?;
    serde_json::from_slice(&out.stdout).map_err(|source| RunError::Json {
        what: script.into(),
        source,
    })
}

/// SRI SHA-256 of `nix-store --dump <path>` (the client serialises the NAR
/// from the store directory itself).
fn dump_hash(path: &str) -> Result<String, RunError> {
    let out = harness_cmd(&format!("nix-store --dump '{path}'"))?;
    Ok(sri_sha256(&out.stdout))
}

/// `sha256-<base64>` of `bytes`.
pub fn sri_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn store_dir_entries() -> Result<BTreeSet<String>, RunError> {
    let mut out = BTreeSet::new();
    let dir = fs::read_dir(layout::STORE).map_err(RunError::io("readdir", layout::STORE))?;
    for entry in dir {
        let entry = entry.map_err(RunError::io("readdir", layout::STORE))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".links" || name.ends_with(".lock") {
            continue;
        }
        out.insert(format!("{}/{name}", layout::STORE));
    }
    Ok(out)
}

fn result_links() -> Result<BTreeMap<String, String>, RunError> {
    let mut out = BTreeMap::new();
    let dir = fs::read_dir(layout::WORK).map_err(RunError::io("readdir", layout::WORK))?;
    for entry in dir {
        let entry = entry.map_err(RunError::io("readdir", layout::WORK))?;
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with(layout::STORE) {
            out.insert(entry.file_name().to_string_lossy().into_owned(), target);
        }
    }
    Ok(out)
}

fn roots() -> Result<Vec<String>, RunError> {
    let out = harness_cmd("nix-store --gc --print-roots")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut roots: Vec<String> = text
        .lines()
        .filter(|l| !(l.starts_with("/proc/") || l.starts_with('{')))
        .map(normalise::line)
        .collect();
    roots.sort();
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_names_drop_the_hash() {
        assert_eq!(
            path_name("/nix/store/14sbx5r90ls746shjr65pz4b6qj02ffr-t.drv"),
            "t.drv"
        );
    }

    #[test]
    fn sri_of_empty_input() {
        assert_eq!(
            sri_sha256(b""),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
