//! The fixed part of every op's request: what follows the op number up to
//! any stream of data. Decoding a [`Request`] reads exactly those fields;
//! [`Request::payload`] says what (if anything) comes after them.

mod decode;
mod encode;

use std::collections::{BTreeMap, BTreeSet};

use crate::content_address::ContentAddress;
use crate::content_address::ContentAddressMethod;
use crate::hash::HashAlgo;
use crate::store_path::StorePath;

use super::op::Op;
use super::types::{
    BasicDerivation, BuildMode, ClientSettings, DerivedPath, GcAction, ValidPathInfo,
};
use super::version::ProtocolVersion;

/// What follows a request's fields on the client's side of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Nothing: the request is complete.
    None,
    /// A framed stream (see [`crate::wire::framed`]).
    Framed,
    /// A NAR, unframed; its end is found by parsing it.
    InlineNar,
    /// Data the daemon pulls with STDERR_READ.
    StderrRead,
}

/// A request for CollectGarbage (20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRequest {
    pub action: GcAction,
    pub paths_to_delete: BTreeSet<StorePath>,
    /// Must be refused.
    pub ignore_liveness: bool,
    pub max_freed: u64,
    /// Three obsolete fields, kept as sent.
    pub obsolete: [u64; 3],
}

/// RegisterDrvOutput's argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrvOutputRegistration {
    /// ≥ 1.31: a Realisation as JSON.
    Realisation(String),
    /// < 1.31: the DrvOutput id and the output path's basename.
    Legacy {
        drv_output: String,
        out_path: StorePath,
    },
}

/// The request fields of one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    IsValidPath(StorePath),
    HasSubstitutes(StorePath),
    QueryPathHash(StorePath),
    QueryReferences(StorePath),
    QueryReferrers(StorePath),
    /// ≥ 1.25; a framed dump follows (a NAR for `fixed:r:`, raw bytes for
    /// `text:` and flat `fixed:`).
    AddToStore {
        name: String,
        method: ContentAddressMethod,
        algo: HashAlgo,
        references: BTreeSet<StorePath>,
        repair: bool,
    },
    /// < 1.25; a NAR follows inline.
    AddToStoreLegacy {
        name: String,
        fixed: bool,
        recursive: bool,
        algo: String,
    },
    AddTextToStore {
        name: String,
        text: Vec<u8>,
        references: BTreeSet<StorePath>,
    },
    BuildPaths {
        paths: Vec<DerivedPath>,
        mode: BuildMode,
    },
    EnsurePath(StorePath),
    AddTempRoot(StorePath),
    /// Any absolute path of a symlink the client made.
    AddIndirectRoot(String),
    SyncWithGC,
    FindRoots,
    ExportPath {
        path: StorePath,
        sign: u64,
    },
    QueryDeriver(StorePath),
    SetOptions(ClientSettings),
    CollectGarbage(GcRequest),
    QuerySubstitutablePathInfo(StorePath),
    QueryDerivationOutputs(StorePath),
    QueryAllValidPaths,
    QueryFailedPaths,
    ClearFailedPaths,
    QueryPathInfo(StorePath),
    /// Data in the export format follows, pulled with STDERR_READ.
    ImportPaths,
    QueryDerivationOutputNames(StorePath),
    QueryPathFromHashPart(String),
    /// Before 1.22 only the paths are sent (the CAs are then `None`).
    QuerySubstitutablePathInfos(BTreeMap<StorePath, Option<ContentAddress>>),
    /// `substitute` is sent from 1.27 on.
    QueryValidPaths {
        paths: BTreeSet<StorePath>,
        substitute: bool,
    },
    QuerySubstitutablePaths(BTreeSet<StorePath>),
    QueryValidDerivers(StorePath),
    OptimiseStore,
    VerifyStore {
        check_contents: bool,
        repair: bool,
    },
    BuildDerivation {
        drv_path: StorePath,
        drv: BasicDerivation,
        mode: BuildMode,
    },
    AddSignatures {
        path: StorePath,
        sigs: BTreeSet<String>,
    },
    NarFromPath(StorePath),
    /// The NAR follows: framed from 1.23, pulled with STDERR_READ before.
    AddToStoreNar {
        info: ValidPathInfo,
        repair: bool,
        dont_check_sigs: bool,
    },
    QueryMissing(Vec<DerivedPath>),
    QueryDerivationOutputMap(StorePath),
    RegisterDrvOutput(DrvOutputRegistration),
    /// A DrvOutput id (`sha256:<hex>!<output>`).
    QueryRealisation(String),
    /// A framed stream of (ValidPathInfo at 1.16, NAR) items follows.
    AddMultipleToStore {
        repair: bool,
        dont_check_sigs: bool,
    },
    /// The derivation's basename; the framed log follows.
    AddBuildLog(StorePath),
    BuildPathsWithResults {
        paths: Vec<DerivedPath>,
        mode: BuildMode,
    },
    AddPermRoot {
        path: StorePath,
        gc_root: String,
    },
}

impl Request {
    /// The op this request belongs to.
    pub fn op(&self) -> Op {
        use Request as R;
        match self {
            R::IsValidPath(_) => Op::IsValidPath,
            R::HasSubstitutes(_) => Op::HasSubstitutes,
            R::QueryPathHash(_) => Op::QueryPathHash,
            R::QueryReferences(_) => Op::QueryReferences,
            R::QueryReferrers(_) => Op::QueryReferrers,
            R::AddToStore { .. } | R::AddToStoreLegacy { .. } => Op::AddToStore,
            R::AddTextToStore { .. } => Op::AddTextToStore,
            R::BuildPaths { .. } => Op::BuildPaths,
            R::EnsurePath(_) => Op::EnsurePath,
            R::AddTempRoot(_) => Op::AddTempRoot,
            R::AddIndirectRoot(_) => Op::AddIndirectRoot,
            R::SyncWithGC => Op::SyncWithGC,
            R::FindRoots => Op::FindRoots,
            R::ExportPath { .. } => Op::ExportPath,
            R::QueryDeriver(_) => Op::QueryDeriver,
            R::SetOptions(_) => Op::SetOptions,
            R::CollectGarbage(_) => Op::CollectGarbage,
            R::QuerySubstitutablePathInfo(_) => Op::QuerySubstitutablePathInfo,
            R::QueryDerivationOutputs(_) => Op::QueryDerivationOutputs,
            R::QueryAllValidPaths => Op::QueryAllValidPaths,
            R::QueryFailedPaths => Op::QueryFailedPaths,
            R::ClearFailedPaths => Op::ClearFailedPaths,
            R::QueryPathInfo(_) => Op::QueryPathInfo,
            R::ImportPaths => Op::ImportPaths,
            R::QueryDerivationOutputNames(_) => Op::QueryDerivationOutputNames,
            R::QueryPathFromHashPart(_) => Op::QueryPathFromHashPart,
            R::QuerySubstitutablePathInfos(_) => Op::QuerySubstitutablePathInfos,
            R::QueryValidPaths { .. } => Op::QueryValidPaths,
            R::QuerySubstitutablePaths(_) => Op::QuerySubstitutablePaths,
            R::QueryValidDerivers(_) => Op::QueryValidDerivers,
            R::OptimiseStore => Op::OptimiseStore,
            R::VerifyStore { .. } => Op::VerifyStore,
            R::BuildDerivation { .. } => Op::BuildDerivation,
            R::AddSignatures { .. } => Op::AddSignatures,
            R::NarFromPath(_) => Op::NarFromPath,
            R::AddToStoreNar { .. } => Op::AddToStoreNar,
            R::QueryMissing(_) => Op::QueryMissing,
            R::QueryDerivationOutputMap(_) => Op::QueryDerivationOutputMap,
            R::RegisterDrvOutput(_) => Op::RegisterDrvOutput,
            R::QueryRealisation(_) => Op::QueryRealisation,
            R::AddMultipleToStore { .. } => Op::AddMultipleToStore,
            R::AddBuildLog(_) => Op::AddBuildLog,
            R::BuildPathsWithResults { .. } => Op::BuildPathsWithResults,
            R::AddPermRoot { .. } => Op::AddPermRoot,
        }
    }

    /// What the client sends after these fields, at `version`.
    pub fn payload(&self, version: ProtocolVersion) -> Payload {
        match self {
            Request::AddToStore { .. }
            | Request::AddMultipleToStore { .. }
            | Request::AddBuildLog(_) => Payload::Framed,
            Request::AddToStoreLegacy { .. } => Payload::InlineNar,
            Request::AddToStoreNar { .. } if version.at_least(23) => Payload::Framed,
            Request::AddToStoreNar { .. } if version.at_least(21) => Payload::StderrRead,
            Request::AddToStoreNar { .. } => Payload::InlineNar,
            Request::ImportPaths => Payload::StderrRead,
            _ => Payload::None,
        }
    }
}
