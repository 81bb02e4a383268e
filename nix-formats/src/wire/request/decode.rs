//! Reading a request: the op number, then its fields.

use super::{DrvOutputRegistration, GcRequest, Request};
use crate::content_address::ContentAddressMethod;
use crate::store_path::StorePath;
use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::DecodeError;
use crate::wire::op::Op;
use crate::wire::types::{BuildMode, decode_opt_ca};

impl Request {
    /// Reads the op number and the request fields. An op number that no
    /// Nix assigns is [`DecodeError::BadValue`] with field "op".
    pub fn decode(d: &mut Decoder<'_>) -> Result<Request, DecodeError> {
        let offset = d.pos();
        let n = d.u64()?;
        let op = Op::try_from(n).map_err(|_| DecodeError::BadValue {
            field: "op",
            offset,
            expected: "op",
            found: n,
        })?;
        Request::decode_fields(op, d)
    }

    /// Reads the request fields of `op` (whose number was already read).
    pub fn decode_fields(op: Op, d: &mut Decoder<'_>) -> Result<Request, DecodeError> {
        use Request as R;
        let v = d.version();
        let path = |d: &mut Decoder<'_>| d.store_path("path");
        Ok(match op {
            Op::IsValidPath => R::IsValidPath(path(d)?),
            Op::HasSubstitutes => R::HasSubstitutes(path(d)?),
            Op::QueryPathHash => R::QueryPathHash(path(d)?),
            Op::QueryReferences => R::QueryReferences(path(d)?),
            Op::QueryReferrers => R::QueryReferrers(path(d)?),
            Op::AddToStore if v.at_least(25) => {
                let name = d.string("name")?;
                let offset = d.pos();
                let cam = d.str_ref("content-address method")?;
                let (method, algo) =
                    ContentAddressMethod::parse_with_algo(cam).map_err(|source| {
                        DecodeError::ContentAddress {
                            field: "content-address method",
                            offset,
                            source,
                        }
                    })?;
                if method.render_with_algo(algo) != cam {
                    d.mark_non_canonical();
                }
                R::AddToStore {
                    name,
                    method,
                    algo,
                    references: d.path_set("references")?,
                    repair: d.bool()?,
                }
            }
            Op::AddToStore => R::AddToStoreLegacy {
                name: d.string("name")?,
                fixed: d.bool()?,
                recursive: d.u64_below("recursive", "ingestion method (0 or 1)", 2)? == 1,
                algo: d.string("hash algo")?,
            },
            Op::AddTextToStore => R::AddTextToStore {
                name: d.string("name")?,
                text: d.bytes("text")?,
                references: d.path_set("references")?,
            },
            Op::BuildPaths => R::BuildPaths {
                paths: d.decode()?,
                mode: build_mode(d)?,
            },
            Op::EnsurePath => R::EnsurePath(path(d)?),
            Op::AddTempRoot => R::AddTempRoot(path(d)?),
            Op::AddIndirectRoot => R::AddIndirectRoot(d.string("root")?),
            Op::SyncWithGC => R::SyncWithGC,
            Op::FindRoots => R::FindRoots,
            Op::ExportPath => R::ExportPath {
                path: path(d)?,
                sign: d.u64()?,
            },
            Op::QueryDeriver => R::QueryDeriver(path(d)?),
            Op::SetOptions => R::SetOptions(d.decode()?),
            Op::CollectGarbage => R::CollectGarbage(GcRequest {
                action: d.decode()?,
                paths_to_delete: d.path_set("paths to delete")?,
                ignore_liveness: d.bool()?,
                max_freed: d.u64()?,
                obsolete: [d.u64()?, d.u64()?, d.u64()?],
            }),
            Op::QuerySubstitutablePathInfo => R::QuerySubstitutablePathInfo(path(d)?),
            Op::QueryDerivationOutputs => R::QueryDerivationOutputs(path(d)?),
            Op::QueryAllValidPaths => R::QueryAllValidPaths,
            Op::QueryFailedPaths => R::QueryFailedPaths,
            Op::ClearFailedPaths => R::ClearFailedPaths,
            Op::QueryPathInfo => R::QueryPathInfo(path(d)?),
            Op::ImportPaths => R::ImportPaths,
            Op::QueryDerivationOutputNames => R::QueryDerivationOutputNames(path(d)?),
            Op::QueryPathFromHashPart => R::QueryPathFromHashPart(d.string("hash part")?),
            Op::QuerySubstitutablePathInfos if v.at_least(22) => {
                R::QuerySubstitutablePathInfos(d.map("paths", path, decode_opt_ca)?)
            }
            Op::QuerySubstitutablePathInfos => R::QuerySubstitutablePathInfos(
                d.path_set("paths")?
                    .into_iter()
                    .map(|p| (p, None))
                    .collect(),
            ),
            Op::QueryValidPaths => R::QueryValidPaths {
                paths: d.path_set("paths")?,
                substitute: if v.at_least(27) { d.bool()? } else { false },
            },
            Op::QuerySubstitutablePaths => R::QuerySubstitutablePaths(d.path_set("paths")?),
            Op::QueryValidDerivers => R::QueryValidDerivers(path(d)?),
            Op::OptimiseStore => R::OptimiseStore,
            Op::VerifyStore => R::VerifyStore {
                check_contents: d.bool()?,
                repair: d.bool()?,
            },
            Op::BuildDerivation => R::BuildDerivation {
                drv_path: path(d)?,
                drv: d.decode()?,
                mode: d.decode()?,
            },
            Op::AddSignatures => R::AddSignatures {
                path: path(d)?,
                sigs: d.string_set("sigs")?,
            },
            Op::NarFromPath => R::NarFromPath(path(d)?),
            Op::AddToStoreNar => R::AddToStoreNar {
                info: d.decode()?,
                repair: d.bool()?,
                dont_check_sigs: d.bool()?,
            },
            Op::QueryMissing => R::QueryMissing(d.decode()?),
            Op::QueryDerivationOutputMap => R::QueryDerivationOutputMap(path(d)?),
            Op::RegisterDrvOutput if v.at_least(31) => {
                R::RegisterDrvOutput(DrvOutputRegistration::Realisation(d.string("realisation")?))
            }
            Op::RegisterDrvOutput => R::RegisterDrvOutput(DrvOutputRegistration::Legacy {
                drv_output: d.string("drv output")?,
                out_path: base_name(d, "output path")?,
            }),
            Op::QueryRealisation => R::QueryRealisation(d.string("drv output")?),
            Op::AddMultipleToStore => R::AddMultipleToStore {
                repair: d.bool()?,
                dont_check_sigs: d.bool()?,
            },
            Op::AddBuildLog => R::AddBuildLog(base_name(d, "derivation")?),
            Op::BuildPathsWithResults => R::BuildPathsWithResults {
                paths: d.decode()?,
                mode: d.decode()?,
            },
            Op::AddPermRoot => R::AddPermRoot {
                path: path(d)?,
                gc_root: d.string("gc root")?,
            },
        })
    }
}

/// BuildPaths carries a mode from 1.15 on.
fn build_mode(d: &mut Decoder<'_>) -> Result<BuildMode, DecodeError> {
    if d.version().at_least(15) {
        d.decode()
    } else {
        Ok(BuildMode::Normal)
    }
}

/// A store path sent without its directory.
fn base_name(d: &mut Decoder<'_>, field: &'static str) -> Result<StorePath, DecodeError> {
    d.base_name(field)
}

impl WireDecode for Request {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Request::decode(d)
    }
}
