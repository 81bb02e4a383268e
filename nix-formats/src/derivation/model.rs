//! The derivation value and its type (which output kinds it mixes).

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::bstring::BString;
use super::output::DerivationOutput;
use crate::hash::HashAlgo;
use crate::store_path::StorePath;

/// A derivation as a `.drv` file holds it.
///
/// The maps and sets keep everything in the order Nix writes it, so a
/// `Derivation` has exactly one ATerm text. Its name is not part of the
/// text: Nix takes it from the `.drv` path (see [`super::drv_name_from_path`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derivation {
    pub outputs: BTreeMap<String, DerivationOutput>,
    /// Input derivations and the outputs of each that are used.
    pub input_drvs: BTreeMap<StorePath, BTreeSet<String>>,
    pub input_srcs: BTreeSet<StorePath>,
    pub platform: BString,
    pub builder: BString,
    pub args: Vec<BString>,
    pub env: BTreeMap<BString, BString>,
}

/// What kind of derivation the outputs make (Nix's `DerivationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivationType {
    /// All outputs input-addressed; `deferred` if their paths are not yet
    /// known because an input is floating content-addressed.
    InputAddressed { deferred: bool },
    /// Content-addressed: one fixed output `out`, or floating outputs.
    ContentAddressed { fixed: bool },
    /// Impure outputs (`impure-derivations`).
    Impure,
}

impl DerivationType {
    pub fn is_fixed(self) -> bool {
        matches!(self, DerivationType::ContentAddressed { fixed: true })
    }

    pub fn is_impure(self) -> bool {
        matches!(self, DerivationType::Impure)
    }

    /// Whether every output path is known before building.
    pub fn has_known_output_paths(self) -> bool {
        match self {
            DerivationType::InputAddressed { deferred } => !deferred,
            DerivationType::ContentAddressed { fixed } => fixed,
            DerivationType::Impure => false,
        }
    }
}

/// Combinations of outputs Nix refuses, with Nix's messages.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DerivationTypeError {
    #[error("must have at least one output")]
    NoOutputs,
    #[error("only one fixed output is allowed for now")]
    SeveralFixedOutputs,
    #[error("single fixed output must be named \"out\"")]
    FixedOutputNotOut,
    #[error("all floating outputs must use the same hash type")]
    FloatingAlgosDiffer,
    #[error("can't mix derivation output types")]
    MixedOutputTypes,
}

impl Derivation {
    /// Nix's `BasicDerivation::type()`.
    pub fn derivation_type(&self) -> Result<DerivationType, DerivationTypeError> {
        let (mut ia, mut fixed, mut floating, mut deferred, mut impure) = (0, 0, 0, 0, 0);
        let mut floating_algo: Option<HashAlgo> = None;
        for out in self.outputs.values() {
            match out {
                DerivationOutput::InputAddressed(_) => ia += 1,
                DerivationOutput::CAFixed { .. } => fixed += 1,
                DerivationOutput::CAFloating { algo, .. } => {
                    floating += 1;
                    if *floating_algo.get_or_insert(*algo) != *algo {
                        return Err(DerivationTypeError::FloatingAlgosDiffer);
                    }
                }
                DerivationOutput::Deferred => deferred += 1,
                DerivationOutput::Impure { .. } => impure += 1,
            }
        }
        let total = self.outputs.len();
        if total == 0 {
            return Err(DerivationTypeError::NoOutputs);
        }
        if ia == total {
            Ok(DerivationType::InputAddressed { deferred: false })
        } else if fixed == total {
            if fixed > 1 {
                return Err(DerivationTypeError::SeveralFixedOutputs);
            }
            if !self.outputs.contains_key("out") {
                return Err(DerivationTypeError::FixedOutputNotOut);
            }
            Ok(DerivationType::ContentAddressed { fixed: true })
        } else if floating == total {
            Ok(DerivationType::ContentAddressed { fixed: false })
        } else if deferred == total {
            Ok(DerivationType::InputAddressed { deferred: true })
        } else if impure == total {
            Ok(DerivationType::Impure)
        } else {
            Err(DerivationTypeError::MixedOutputTypes)
        }
    }

    /// An environment variable.
    pub fn env_var(&self, key: impl AsRef<[u8]>) -> Option<&BString> {
        self.env.get(key.as_ref())
    }

    /// The `name` environment variable, if present and UTF-8. Structured-attrs
    /// derivations have none (their attributes are in `__json`).
    pub fn name(&self) -> Option<&str> {
        self.env_var("name").and_then(BString::to_str)
    }

    /// Whether the builder is one Nix runs in-process (`builtin:fetchurl`…).
    pub fn is_builtin(&self) -> bool {
        self.builder.starts_with(b"builtin:")
    }

    /// References of the `.drv` file: input sources and input derivations
    /// (outputs are not references).
    pub fn references(&self) -> BTreeSet<StorePath> {
        let mut refs = self.input_srcs.clone();
        refs.extend(self.input_drvs.keys().cloned());
        refs
    }
}
