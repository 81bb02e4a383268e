//! Writing a request: the op number, then its fields (the client side).

use super::{DrvOutputRegistration, Request};
use crate::wire::error::EncodeError;
use crate::wire::ser::{Encoder, WireEncode};
use crate::wire::types::encode_opt_ca;

impl WireEncode for Request {
    /// Fails for a request the version cannot carry (an AddToStore form
    /// or RegisterDrvOutput form of the other era, a DerivedPath that
    /// cannot be said).
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        use Request as R;
        let v = e.version();
        let era = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(EncodeError::NotRepresentable {
                    what: what.to_owned(),
                    version: v,
                })
            }
        };
        e.u64(self.op().to_wire());
        match self {
            R::IsValidPath(p)
            | R::HasSubstitutes(p)
            | R::QueryPathHash(p)
            | R::QueryReferences(p)
            | R::QueryReferrers(p)
            | R::EnsurePath(p)
            | R::AddTempRoot(p)
            | R::QueryDeriver(p)
            | R::QuerySubstitutablePathInfo(p)
            | R::QueryDerivationOutputs(p)
            | R::QueryPathInfo(p)
            | R::QueryDerivationOutputNames(p)
            | R::QueryValidDerivers(p)
            | R::NarFromPath(p)
            | R::QueryDerivationOutputMap(p) => e.store_path(p),
            R::AddToStore {
                name,
                method,
                algo,
                references,
                repair,
            } => {
                era(v.at_least(25), "AddToStore with a content-address method")?;
                e.str(name);
                e.str(&method.render_with_algo(*algo));
                e.path_set(references);
                e.bool(*repair);
            }
            R::AddToStoreLegacy {
                name,
                fixed,
                recursive,
                algo,
            } => {
                era(!v.at_least(25), "the pre-1.25 AddToStore")?;
                e.str(name);
                e.bool(*fixed);
                e.bool(*recursive);
                e.str(algo);
            }
            R::AddTextToStore {
                name,
                text,
                references,
            } => {
                e.str(name);
                e.bytes(text);
                e.path_set(references);
            }
            R::BuildPaths { paths, mode } => {
                paths.encode(e)?;
                if v.at_least(15) {
                    mode.encode(e)?;
                }
            }
            R::AddIndirectRoot(s) | R::QueryPathFromHashPart(s) | R::QueryRealisation(s) => {
                e.str(s)
            }
            R::SyncWithGC
            | R::FindRoots
            | R::QueryAllValidPaths
            | R::QueryFailedPaths
            | R::ClearFailedPaths
            | R::ImportPaths
            | R::OptimiseStore => {}
            R::ExportPath { path, sign } => {
                e.store_path(path);
                e.u64(*sign);
            }
            R::SetOptions(s) => s.encode(e)?,
            R::CollectGarbage(gc) => {
                gc.action.encode(e)?;
                e.path_set(&gc.paths_to_delete);
                e.bool(gc.ignore_liveness);
                e.u64(gc.max_freed);
                gc.obsolete.iter().for_each(|&x| e.u64(x));
            }
            R::QuerySubstitutablePathInfos(m) => {
                e.u64(m.len() as u64);
                for (p, ca) in m {
                    e.store_path(p);
                    if v.at_least(22) {
                        encode_opt_ca(e, ca.as_ref());
                    }
                }
            }
            R::QueryValidPaths { paths, substitute } => {
                e.path_set(paths);
                if v.at_least(27) {
                    e.bool(*substitute);
                }
            }
            R::QuerySubstitutablePaths(paths) => e.path_set(paths),
            R::VerifyStore {
                check_contents,
                repair,
            } => {
                e.bool(*check_contents);
                e.bool(*repair);
            }
            R::BuildDerivation {
                drv_path,
                drv,
                mode,
            } => {
                e.store_path(drv_path);
                drv.encode(e)?;
                mode.encode(e)?;
            }
            R::AddSignatures { path, sigs } => {
                e.store_path(path);
                e.strings(sigs);
            }
            R::AddToStoreNar {
                info,
                repair,
                dont_check_sigs,
            } => {
                info.encode(e)?;
                e.bool(*repair);
                e.bool(*dont_check_sigs);
            }
            R::QueryMissing(paths) => paths.encode(e)?,
            R::RegisterDrvOutput(DrvOutputRegistration::Realisation(json)) => {
                era(v.at_least(31), "a Realisation")?;
                e.str(json);
            }
            R::RegisterDrvOutput(DrvOutputRegistration::Legacy {
                drv_output,
                out_path,
            }) => {
                era(!v.at_least(31), "the pre-1.31 RegisterDrvOutput")?;
                e.str(drv_output);
                e.str(&out_path.to_string());
            }
            R::AddMultipleToStore {
                repair,
                dont_check_sigs,
            } => {
                e.bool(*repair);
                e.bool(*dont_check_sigs);
            }
            R::AddBuildLog(p) => e.str(&p.to_string()),
            R::BuildPathsWithResults { paths, mode } => {
                paths.encode(e)?;
                mode.encode(e)?;
            }
            R::AddPermRoot { path, gc_root } => {
                e.store_path(path);
                e.str(gc_root);
            }
        }
        Ok(())
    }
}
