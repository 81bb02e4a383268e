//! Where a derivation and its outputs live in the store.
//!
//! * Input-addressed output `o`: store path of type `output:o` over the
//!   masked hash modulo, named `<drv name>` for `out`, else `<drv name>-o`.
//! * Fixed output: [`StoreDir::make_fixed_output_path`] of its content hash.
//! * Floating content-addressed output: unknown until built, then
//!   [`ca_output_path`] of the content hash and references.
//! * The `.drv` itself: a text path named `<drv name>.drv` whose references
//!   are the input sources and input derivations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::bstring::BString;
use super::hash_modulo::{DrvHash, DrvHashKind, DrvHashResolver, HashModuloError};
use super::model::Derivation;
use super::output::{DerivationOutput, FixedOutputHash};
use crate::content_address::FileIngestionMethod;
use crate::hash::{Hash, ParseHashError};
use crate::store_path::{StoreDir, StorePath, StorePathError};

/// The extension of derivation store paths.
pub const DRV_EXTENSION: &str = ".drv";

/// Nix's `outputPathName`: `<drv name>` for `out`, else `<drv name>-<output>`.
pub fn output_path_name(drv_name: &str, output: &str) -> String {
    if output == "out" {
        drv_name.to_owned()
    } else {
        format!("{drv_name}-{output}")
    }
}

/// The derivation name a `.drv` path carries (`hello-2.12`), or `None` if
/// the path is not a derivation.
pub fn drv_name_from_path(drv_path: &StorePath) -> Option<&str> {
    drv_path.name().strip_suffix(DRV_EXTENSION)
}

/// The path of a floating content-addressed output once built, from the
/// hash of its contents (by `method`) and its references.
pub fn ca_output_path(
    store_dir: &StoreDir,
    drv_name: &str,
    output: &str,
    method: FileIngestionMethod,
    hash: &Hash,
    references: &BTreeSet<StorePath>,
    self_reference: bool,
) -> Result<StorePath, StorePathError> {
    let name = output_path_name(drv_name, output);
    store_dir.make_fixed_output_path(&name, method, hash, references, self_reference)
}

/// An output whose path cannot be formed (e.g. a name a path can't have).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("cannot compute the path of output '{output}' of derivation '{drv_name}': {error}")]
pub struct OutputPathError {
    pub output: String,
    pub drv_name: String,
    pub error: StorePathError,
}

/// Why [`Derivation::fill_input_addressed_outputs`] failed.
#[derive(Debug, Error)]
pub enum FillOutputsError<E: std::error::Error + 'static> {
    #[error(transparent)]
    HashModulo(#[from] HashModuloError<E>),
    #[error(transparent)]
    Path(#[from] OutputPathError),
}

impl DerivationOutput {
    /// A fixed output, with the path its hash determines.
    pub fn fixed(
        store_dir: &StoreDir,
        drv_name: &str,
        hash: FixedOutputHash,
    ) -> Result<Self, StorePathError> {
        let path = store_dir.make_fixed_output_path(
            drv_name,
            hash.method,
            &hash.hash,
            &BTreeSet::new(),
            false,
        )?;
        Ok(DerivationOutput::CAFixed { hash, path })
    }
}

impl Derivation {
    /// The path of each output as Nix computes it (`None` where it is not
    /// known before building), given the *masked* hash modulo.
    pub fn output_paths(
        &self,
        store_dir: &StoreDir,
        drv_name: &str,
        masked: &DrvHash,
    ) -> Result<BTreeMap<String, Option<StorePath>>, OutputPathError> {
        let mut paths = BTreeMap::new();
        for (name, output) in &self.outputs {
            let error = |error| OutputPathError {
                output: name.clone(),
                drv_name: drv_name.to_owned(),
                error,
            };
            let path = match output {
                DerivationOutput::InputAddressed(_) => match masked.hashes.get(name) {
                    Some(h) => Some(
                        store_dir
                            .make_output_path(name, h, drv_name)
                            .map_err(error)?,
                    ),
                    None => None,
                },
                DerivationOutput::CAFixed { hash, .. } => {
                    let name = output_path_name(drv_name, name);
                    let refs = BTreeSet::new();
                    Some(
                        store_dir
                            .make_fixed_output_path(&name, hash.method, &hash.hash, &refs, false)
                            .map_err(error)?,
                    )
                }
                DerivationOutput::CAFloating { .. }
                | DerivationOutput::Deferred
                | DerivationOutput::Impure { .. } => None,
            };
            paths.insert(name.clone(), path);
        }
        Ok(paths)
    }

    /// What `builtins.derivation` does for an input-addressed derivation:
    /// blank the outputs, hash the masked text, and if that hash is regular
    /// set every output (and its environment variable) to its path;
    /// otherwise leave them [`DerivationOutput::Deferred`] and the variables
    /// empty.
    pub fn fill_input_addressed_outputs<R: DrvHashResolver + ?Sized>(
        &mut self,
        store_dir: &StoreDir,
        drv_name: &str,
        inputs: &mut R,
    ) -> Result<(), FillOutputsError<R::Error>> {
        for (name, output) in self.outputs.iter_mut() {
            *output = DerivationOutput::Deferred;
            self.env
                .insert(BString::from(name.as_str()), BString::default());
        }
        let masked = self.hash_modulo(store_dir, true, inputs)?;
        if masked.kind == DrvHashKind::Deferred {
            return Ok(());
        }
        for (name, output) in self.outputs.iter_mut() {
            let error = |error| OutputPathError {
                output: name.clone(),
                drv_name: drv_name.to_owned(),
                error,
            };
            let hash = masked.hashes.get(name).ok_or_else(|| {
                HashModuloError::<R::Error>::MissingOutputHash {
                    output: name.clone(),
                    drv_path: drv_name.to_owned(),
                }
            })?;
            let path = store_dir
                .make_output_path(name, hash, drv_name)
                .map_err(error)?;
            self.env.insert(
                BString::from(name.as_str()),
                BString::from(store_dir.display(&path)),
            );
            *output = DerivationOutput::InputAddressed(path);
        }
        Ok(())
    }

    /// The store path of this derivation's `.drv` file.
    pub fn drv_path(
        &self,
        store_dir: &StoreDir,
        drv_name: &str,
    ) -> Result<StorePath, StorePathError> {
        let text = self.to_aterm(store_dir);
        let name = format!("{drv_name}{DRV_EXTENSION}");
        store_dir.make_text_path(&name, &Hash::sha256(&text), &self.references())
    }
}

/// A realisation key: `sha256:<hex of the masked hash modulo>!<output>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DrvOutputId {
    pub drv_hash: Hash,
    pub output: String,
}

impl DrvHash {
    /// The DrvOutput id of every output (meaningful for a masked hash).
    pub fn output_ids(&self) -> impl Iterator<Item = DrvOutputId> + '_ {
        self.hashes.iter().map(|(output, h)| DrvOutputId {
            drv_hash: *h,
            output: output.clone(),
        })
    }
}

impl fmt::Display for DrvOutputId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}", self.drv_hash.to_prefixed_base16(), self.output)
    }
}

/// A malformed DrvOutput id.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DrvOutputIdError {
    #[error("invalid derivation output id '{0}': no '!'")]
    NoSeparator(String),
    #[error("invalid derivation output id '{id}': {error}")]
    BadHash { id: String, error: ParseHashError },
}

impl FromStr for DrvOutputId {
    type Err = DrvOutputIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (hash, output) = s
            .split_once('!')
            .ok_or_else(|| DrvOutputIdError::NoSeparator(s.to_owned()))?;
        let drv_hash = Hash::parse_any(hash, None).map_err(|error| DrvOutputIdError::BadHash {
            id: s.to_owned(),
            error,
        })?;
        Ok(DrvOutputId {
            drv_hash,
            output: output.to_owned(),
        })
    }
}
