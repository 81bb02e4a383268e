//! `hashDerivationModulo`: the hash input-addressed output paths are made of.
//!
//! * A fixed-output derivation hashes to, per output,
//!   `sha256("fixed:out:<methodAlgo>:<base16 hash>:<output path>")`: only
//!   what it promises to produce counts, not how.
//! * Any other derivation hashes to the SHA-256 of its ATerm text in which
//!   each input derivation path is replaced by the hex of that input's own
//!   hash modulo for the outputs used (entries that meet under one key are
//!   merged, their output names unioned).
//! * *Masked* (`mask_outputs`): output paths, and environment variables
//!   named like outputs, are blanked. That is the hash a derivation's own
//!   output paths and DrvOutput ids use. An input's hash is always the
//!   unmasked one.
//! * Floating content-addressed derivations, and anything depending on one,
//!   hash to a [`DrvHashKind::Deferred`] result; impure derivations hash each
//!   output to `sha256("impure")`, also deferred.
//!
//! Input hashes come from a [`DrvHashResolver`] the caller supplies, so a
//! store can memoise them; [`DrvHashMemo`](super::DrvHashMemo) is one.

use std::collections::BTreeMap;

use thiserror::Error;

use super::model::{Derivation, DerivationType, DerivationTypeError};
use super::output::DerivationOutput;
use super::write::{ReplacedInputs, WriteOptions};
use crate::hash::Hash;
use crate::store_path::{StoreDir, StorePath};

/// Whether a hash modulo can already name output paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrvHashKind {
    /// Depends only on things known now.
    Regular,
    /// Depends on a floating content-addressed or impure derivation, whose
    /// outputs are known only after building.
    Deferred,
}

/// The result of `hashDerivationModulo` (Nix's `DrvHash`): a hash per output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrvHash {
    pub hashes: BTreeMap<String, Hash>,
    pub kind: DrvHashKind,
}

/// Supplies the unmasked hash modulo of an input derivation, by path.
pub trait DrvHashResolver {
    type Error: std::error::Error + 'static;

    fn drv_hash(&mut self, drv_path: &StorePath) -> Result<DrvHash, Self::Error>;
}

impl<F, E> DrvHashResolver for F
where
    F: FnMut(&StorePath) -> Result<DrvHash, E>,
    E: std::error::Error + 'static,
{
    type Error = E;

    fn drv_hash(&mut self, drv_path: &StorePath) -> Result<DrvHash, E> {
        self(drv_path)
    }
}

/// Why a hash modulo could not be computed.
#[derive(Debug, Error)]
pub enum HashModuloError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Type(#[from] DerivationTypeError),
    #[error("cannot get the hash of input derivation '{drv_path}'")]
    Input {
        drv_path: String,
        #[source]
        source: E,
    },
    #[error("no hash for output '{output}' of derivation '{drv_path}'")]
    MissingOutputHash { output: String, drv_path: String },
}

/// `sha256("impure")`, the hash of every impure output.
pub fn impure_output_hash() -> Hash {
    Hash::sha256(b"impure")
}

impl Derivation {
    /// Nix's `hashDerivationModulo(store, drv, maskOutputs)`.
    pub fn hash_modulo<R: DrvHashResolver + ?Sized>(
        &self,
        store_dir: &StoreDir,
        mask_outputs: bool,
        inputs: &mut R,
    ) -> Result<DrvHash, HashModuloError<R::Error>> {
        let ty = self.derivation_type().map_err(HashModuloError::Type)?;
        if let Some(h) = self.hash_modulo_without_inputs(store_dir, ty) {
            return Ok(h);
        }
        let mut kind = match ty {
            DerivationType::ContentAddressed { fixed: false } => DrvHashKind::Deferred,
            _ => DrvHashKind::Regular,
        };
        let mut replaced = ReplacedInputs::new();
        for (drv_path, outputs) in &self.input_drvs {
            let show = || store_dir.display(drv_path);
            let res = inputs
                .drv_hash(drv_path)
                .map_err(|source| HashModuloError::Input {
                    drv_path: show(),
                    source,
                })?;
            if res.kind == DrvHashKind::Deferred {
                kind = DrvHashKind::Deferred;
            }
            for output in outputs {
                let h =
                    res.hashes
                        .get(output)
                        .ok_or_else(|| HashModuloError::MissingOutputHash {
                            output: output.clone(),
                            drv_path: show(),
                        })?;
                replaced
                    .entry(h.to_base16())
                    .or_default()
                    .insert(output.clone());
            }
        }
        let opts = WriteOptions {
            mask_outputs,
            replaced_inputs: Some(&replaced),
        };
        let hash = Hash::sha256(&self.to_aterm_with(store_dir, opts));
        let hashes = self
            .outputs
            .keys()
            .map(|name| (name.clone(), hash))
            .collect();
        Ok(DrvHash { hashes, kind })
    }

    /// The hash of a fixed-output or impure derivation, which does not look
    /// at the inputs; `None` for the other kinds.
    pub(crate) fn hash_modulo_without_inputs(
        &self,
        store_dir: &StoreDir,
        ty: DerivationType,
    ) -> Option<DrvHash> {
        if ty.is_fixed() {
            let hashes = self
                .outputs
                .iter()
                .filter_map(|(name, out)| match out {
                    DerivationOutput::CAFixed { hash, path } => {
                        let text = format!(
                            "fixed:out:{}:{}:{}",
                            hash.method_algo(),
                            hash.hash.to_base16(),
                            store_dir.display(path)
                        );
                        Some((name.clone(), Hash::sha256(text.as_bytes())))
                    }
                    _ => None,
                })
                .collect();
            return Some(DrvHash {
                hashes,
                kind: DrvHashKind::Regular,
            });
        }
        if ty.is_impure() {
            let h = impure_output_hash();
            let hashes = self.outputs.keys().map(|name| (name.clone(), h)).collect();
            return Some(DrvHash {
                hashes,
                kind: DrvHashKind::Deferred,
            });
        }
        None
    }
}
