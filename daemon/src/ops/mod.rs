//! What each op does. [`dispatch`] routes a decoded request to its handler;
//! handlers end the op with `Session::reply`/`done` or return an
//! [`OpError`].

pub mod add;
pub mod build;
pub mod export;
pub mod maintenance;
pub mod query;
pub mod roots;

use nix_formats::store_path::StorePath;
use nix_formats::wire::{Request, Verbosity};
use store_ipfs::dag::{DagReader, Kind};
use store_ipfs::store::Store;

use crate::session::{OpError, Session, chain, client_err};

/// The contents of a regular file that is a whole store path (a `.drv`).
pub fn read_store_file(
    store: &Store,
    sd: &nix_formats::store_path::StoreDir,
    path: &StorePath,
) -> Result<Vec<u8>, OpError> {
    let rec = store
        .catalogue
        .path_info(path)
        .map_err(|e| client_err(chain(&e)))?
        .ok_or_else(|| client_err(format!("path '{}' is not valid", sd.display(path))))?;
    read_file_at(store, &sd.display(path), &rec.root)
}

/// The contents of the regular file whose DAG is at `root` (blocks that
/// are in the block store, registered or not); `shown` names it in errors.
pub fn read_file_at(store: &Store, shown: &str, root: &cid::Cid) -> Result<Vec<u8>, OpError> {
    let dag = DagReader::new(&store.blocks);
    match dag.kind(root).map_err(|e| client_err(chain(&e)))? {
        Kind::File { .. } => {}
        _ => return Err(client_err(format!("'{shown}' is not a regular file"))),
    }
    let mut v = Vec::new();
    dag.write_file(root, &mut v)
        .map_err(|e| client_err(chain(&e)))?;
    Ok(v)
}

/// Reads and parses a `.drv` from the store.
pub fn read_derivation(
    store: &Store,
    sd: &nix_formats::store_path::StoreDir,
    path: &StorePath,
) -> Result<nix_formats::derivation::Derivation, OpError> {
    let bytes = read_store_file(store, sd, path)?;
    nix_formats::derivation::Derivation::from_aterm(&bytes, sd).map_err(|e| {
        client_err(format!(
            "error parsing derivation '{}': {e}",
            sd.display(path)
        ))
    })
}

fn require_trusted(s: &Session, what: &str) -> Result<(), OpError> {
    if s.peer.trusted {
        Ok(())
    } else {
        Err(client_err(format!("you are not privileged to {what}")))
    }
}

/// Runs a build request, timed as [`crate::phases::Phase::BuildOp`].
async fn build_op<T>(op: impl std::future::Future<Output = T>) -> T {
    let t = std::time::Instant::now();
    let r = op.await;
    crate::phases::add(crate::phases::Phase::BuildOp, t);
    r
}

/// Routes one request.
pub async fn dispatch(s: &mut Session, req: Request) -> Result<(), OpError> {
    use Request as R;
    match req {
        R::SetOptions(o) => {
            set_options(s, o);
            s.done();
            Ok(())
        }
        R::IsValidPath(p) => query::is_valid_path(s, p).await,
        R::QueryPathInfo(p) => query::query_path_info(s, p).await,
        R::QueryValidPaths { paths, .. } => query::query_valid_paths(s, paths).await,
        R::QueryAllValidPaths => query::query_all_valid_paths(s).await,
        R::QueryReferrers(p) => query::query_referrers(s, p).await,
        R::QueryPathFromHashPart(h) => query::query_path_from_hash_part(s, h).await,
        R::QueryDerivationOutputMap(p) => query::query_derivation_output_map(s, p).await,
        R::QueryDerivationOutputs(p) => query::query_derivation_outputs(s, p).await,
        R::QueryDerivationOutputNames(p) => query::query_derivation_output_names(s, p).await,
        R::QueryValidDerivers(p) => query::query_valid_derivers(s, p).await,
        R::QueryDeriver(p) => query::query_deriver(s, p).await,
        R::QueryPathHash(p) => query::query_path_hash(s, p).await,
        R::QueryReferences(p) => query::query_references(s, p).await,
        R::QuerySubstitutablePaths(_) => s.reply(&std::collections::BTreeSet::<StorePath>::new()),
        R::QuerySubstitutablePathInfos(_) => s.u64_reply(0),
        R::QuerySubstitutablePathInfo(_) => s.reply(&false),
        R::HasSubstitutes(_) => s.reply(&false),
        R::QueryMissing(targets) => query::query_missing(s, targets).await,
        R::EnsurePath(p) => query::ensure_path(s, p).await,
        R::NarFromPath(p) => export::nar_from_path(s, p).await,
        R::ExportPath { path, .. } => export::export_path(s, path).await,
        R::AddToStore {
            name,
            method,
            algo,
            references,
            repair,
        } => add::add_to_store(s, name, method, algo, references, repair).await,
        R::AddToStoreLegacy {
            name,
            fixed,
            recursive,
            algo,
        } => add::add_to_store_legacy(s, name, fixed, recursive, algo).await,
        R::AddTextToStore {
            name,
            text,
            references,
        } => add::add_text_to_store(s, name, text, references).await,
        R::AddToStoreNar {
            info,
            repair,
            dont_check_sigs,
        } => add::add_to_store_nar(s, info, repair, dont_check_sigs).await,
        R::AddMultipleToStore {
            repair,
            dont_check_sigs,
        } => add::add_multiple_to_store(s, repair, dont_check_sigs).await,
        R::ImportPaths => add::import_paths(s).await,
        R::AddSignatures { path, sigs } => add::add_signatures(s, path, sigs).await,
        R::AddTempRoot(p) => roots::add_temp_root(s, p),
        R::AddIndirectRoot(link) => roots::add_indirect_root(s, link),
        R::AddPermRoot { path, gc_root } => {
            require_trusted(s, "add permanent roots")?;
            roots::add_perm_root(s, path, gc_root)
        }
        R::SyncWithGC => s.u64_reply(1),
        R::FindRoots => roots::find_roots(s).await,
        R::CollectGarbage(req) => roots::collect_garbage(s, req).await,
        R::OptimiseStore => maintenance::optimise_store(s),
        R::VerifyStore {
            check_contents,
            repair,
        } => {
            if repair {
                require_trusted(s, "repair paths")?;
            }
            maintenance::verify_store(s, check_contents, repair).await
        }
        R::BuildPaths { paths, mode } => build_op(build::build_paths(s, paths, mode, false)).await,
        R::BuildPathsWithResults { paths, mode } => {
            build_op(build::build_paths(s, paths, mode, true)).await
        }
        R::BuildDerivation {
            drv_path,
            drv,
            mode,
        } => build_op(build::build_derivation(s, drv_path, drv, mode)).await,
        R::AddBuildLog(drv) => {
            require_trusted(s, "add build logs")?;
            add::add_build_log(s, drv).await
        }
        R::RegisterDrvOutput(_) | R::QueryRealisation(_) => Err(client_err(
            "experimental Nix feature 'ca-derivations' is disabled; use '--extra-experimental-features ca-derivations' to override",
        )),
        R::QueryFailedPaths | R::ClearFailedPaths => Err(client_err("Removed operation")),
    }
}

/// SetOptions: keep the client's settings for this connection, with the
/// policy of the client's generation of nix-daemon ([`Wording`]) for which
/// overrides an untrusted client may make: a restricted setting is ignored
/// (said at debug level, or as a warning from Nix 2.22), a substituter that
/// is neither configured nor trusted is dropped with a warning. The
/// client's verbosity applies to what it is told, as with Nix, which
/// applies it before looking at the overrides.
///
/// [`Wording`]: crate::wording::Wording
fn set_options(s: &mut Session, o: nix_formats::wire::ClientSettings) {
    let trusted = s.peer.trusted;
    let wording = s.wording();
    let mut notes = Vec::new();
    for (name, value) in &o.overrides {
        if name == "plugin-files" {
            if let Some(text) = wording.plugin_files() {
                notes.push((Verbosity::Warn, text));
                continue;
            }
        }
        let allowed = trusted || wording.untrusted_may_set(name, value);
        if name == "experimental-features" || name == "ssh-auth-sock" || allowed {
            continue;
        }
        if name == "substituters" || name == "binary-caches" {
            let settings = &s.shared.settings;
            let known = |x: &str| {
                settings.substituters.iter().any(|k| k == x)
                    || settings.trusted_substituters.iter().any(|k| k == x)
            };
            for sub in value.split_whitespace() {
                if !known(sub) && (sub.ends_with('/') || !known(&format!("{sub}/"))) {
                    notes.push((Verbosity::Warn, wording.untrusted_substituter(sub)));
                }
            }
        } else {
            notes.push(wording.restricted_setting(name));
        }
    }
    s.options = Some(o);
    for (level, text) in notes {
        s.log_line(level, &text);
    }
}
