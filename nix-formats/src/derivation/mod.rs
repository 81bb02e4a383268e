//! Derivations: the `.drv` ATerm format, `hashDerivationModulo`, output
//! paths and the validity check, byte-exact with Nix 2.8.
//!
//! * [`Derivation`] is the value a `.drv` file holds; [`DerivationOutput`]
//!   one of its outputs. Strings Nix keeps as raw bytes are [`BString`]s.
//! * [`Derivation::to_aterm`] writes the text exactly as Nix does;
//!   [`Derivation::from_aterm`] reads it back, accepting only canonical text
//!   so that reading then writing gives the same bytes (see [`parse`] for
//!   the forms Nix 2.8 reads and we refuse, and [`grammar`] for the syntax).
//! * [`Derivation::hash_modulo`] is `hashDerivationModulo`; input hashes come
//!   from a caller's [`DrvHashResolver`], e.g. [`DrvHashMemo`].
//! * [`Derivation::output_paths`], [`Derivation::drv_path`],
//!   [`ca_output_path`] and [`DrvOutputId`] say where things live;
//!   [`Derivation::validate`] is the check a store makes before a `.drv`
//!   becomes valid.
//!
//! Pure code: no I/O, no global cache. Reading input derivations from a
//! store is the caller's job (a [`DrvLoader`]).

mod bstring;
pub mod grammar;
mod hash_modulo;
mod memo;
mod model;
mod output;
mod output_paths;
pub mod parse;
mod validate;
mod write;

#[cfg(test)]
mod tests;

pub use bstring::BString;
pub use grammar::ParseLimits;
pub use hash_modulo::{DrvHash, DrvHashKind, DrvHashResolver, HashModuloError, impure_output_hash};
pub use memo::{
    DrvHashMemo, DrvLoader, InputNotHashed, MemoError, SharedDrvHashes, UnknownDerivation,
};
pub use model::{Derivation, DerivationType, DerivationTypeError};
pub use output::{DerivationOutput, FixedOutputHash, OutputFields, OutputFieldsError};
pub use output_paths::{
    DRV_EXTENSION, DrvOutputId, DrvOutputIdError, FillOutputsError, OutputPathError,
    ca_output_path, drv_name_from_path, output_path_name,
};
pub use parse::{Found, ParseError, ParseErrorKind};
pub use validate::ValidateError;
pub use write::{ReplacedInputs, WriteOptions};
