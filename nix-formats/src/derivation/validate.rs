//! The check a store makes when a `.drv` becomes valid.
//!
//! Nix 2.8's `LocalStore::checkDerivationOutputs`: the output kinds must
//! form a valid [`DerivationType`](super::DerivationType); every
//! input-addressed output path must be the one the masked hash modulo gives;
//! and the environment variable named like each input-addressed or fixed
//! output must hold that output's path. Without this, any user could add a
//! `.drv` that claims someone else's output paths.
//!
//! Two checks are ours, not Nix 2.8's: the path written for a fixed output
//! must be the one its hash determines (Nix ignores the written path and
//! recomputes it, so a wrong one would make our reading differ from Nix's),
//! and the `name` environment variable, where present, must match the
//! `.drv` path's name (newer Nix checks this too).

use thiserror::Error;

use super::hash_modulo::{DrvHash, DrvHashResolver, HashModuloError};
use super::model::{Derivation, DerivationTypeError};
use super::output::DerivationOutput;
use super::output_paths::drv_name_from_path;
use crate::store_path::{StoreDir, StorePath, StorePathError};

/// Why a derivation may not become valid. Messages follow Nix's.
#[derive(Debug, Error)]
pub enum ValidateError<E: std::error::Error + 'static> {
    #[error("path '{0}' is not a derivation: its name does not end in '.drv'")]
    NotADerivation(String),
    #[error("derivation '{drv_path}' has name '{name}' which does not match its path")]
    NameMismatch { drv_path: String, name: String },
    #[error("derivation '{drv_path}' is invalid: {error}")]
    Type {
        drv_path: String,
        error: DerivationTypeError,
    },
    #[error("cannot compute the hash of derivation '{drv_path}'")]
    HashModulo {
        drv_path: String,
        #[source]
        source: HashModuloError<E>,
    },
    #[error("derivation '{drv_path}' cannot have output '{output}': {error}")]
    OutputName {
        drv_path: String,
        output: String,
        error: StorePathError,
    },
    #[error("derivation '{drv_path}' has incorrect output '{found}', should be '{expected}'")]
    IncorrectOutput {
        drv_path: String,
        found: String,
        expected: String,
    },
    #[error(
        "derivation '{drv_path}' has incorrect environment variable '{var}', should be '{expected}'"
    )]
    IncorrectEnv {
        drv_path: String,
        var: String,
        expected: String,
    },
}

impl Derivation {
    /// Checks that this derivation may be registered at `drv_path`.
    /// `inputs` gives the unmasked hash modulo of input derivations.
    pub fn validate<R: DrvHashResolver + ?Sized>(
        &self,
        store_dir: &StoreDir,
        drv_path: &StorePath,
        inputs: &mut R,
    ) -> Result<(), ValidateError<R::Error>> {
        let shown = store_dir.display(drv_path);
        let drv_name = drv_name_from_path(drv_path)
            .ok_or_else(|| ValidateError::NotADerivation(shown.clone()))?;
        if let Some(name) = self
            .env_var("name")
            .filter(|n| n.as_bytes() != drv_name.as_bytes())
        {
            return Err(ValidateError::NameMismatch {
                drv_path: shown,
                name: name.to_string(),
            });
        }
        self.derivation_type()
            .map_err(|error| ValidateError::Type {
                drv_path: shown.clone(),
                error,
            })?;

        let mut masked: Option<DrvHash> = None;
        for (name, output) in &self.outputs {
            let bad_name = |error| ValidateError::OutputName {
                drv_path: shown.clone(),
                output: name.clone(),
                error,
            };
            let (found, expected) = match output {
                DerivationOutput::InputAddressed(path) => {
                    let masked = match &mut masked {
                        Some(h) => h,
                        None => masked.insert(self.hash_modulo(store_dir, true, inputs).map_err(
                            |source| ValidateError::HashModulo {
                                drv_path: shown.clone(),
                                source,
                            },
                        )?),
                    };
                    let hash =
                        masked
                            .hashes
                            .get(name)
                            .ok_or_else(|| ValidateError::HashModulo {
                                drv_path: shown.clone(),
                                source: HashModuloError::MissingOutputHash {
                                    output: name.clone(),
                                    drv_path: shown.clone(),
                                },
                            })?;
                    (
                        path,
                        store_dir
                            .make_output_path(name, hash, drv_name)
                            .map_err(bad_name)?,
                    )
                }
                DerivationOutput::CAFixed { hash, path } => {
                    let refs = Default::default();
                    let expected = store_dir
                        .make_fixed_output_path(drv_name, hash.method, &hash.hash, &refs, false)
                        .map_err(bad_name)?;
                    (path, expected)
                }
                DerivationOutput::CAFloating { .. }
                | DerivationOutput::Deferred
                | DerivationOutput::Impure { .. } => {
                    continue;
                }
            };
            let expected_str = store_dir.display(&expected);
            if *found != expected {
                return Err(ValidateError::IncorrectOutput {
                    drv_path: shown,
                    found: store_dir.display(found),
                    expected: expected_str,
                });
            }
            if self.env_var(name).is_none_or(|v| *v != *expected_str) {
                return Err(ValidateError::IncorrectEnv {
                    drv_path: shown,
                    var: name.clone(),
                    expected: expected_str,
                });
            }
        }
        Ok(())
    }
}
