//! The composite wire types many ops share.

mod basic_derivation;
mod build_result;
mod client_settings;
mod derived_path;
mod enums;
mod path_info;

pub use basic_derivation::{BasicDerivation, WireDerivationOutput};
pub use build_result::{BuildResult, BuildStatus, KeyedBuildResult};
pub use client_settings::ClientSettings;
pub use derived_path::{DerivedPath, DerivedPathError, OutputsSpec};
pub use enums::{BuildMode, GcAction, Trust};
#[cfg(test)]
pub(crate) use path_info::decode_nar_hash;
pub use path_info::{SubstitutablePathInfo, UnkeyedValidPathInfo, ValidPathInfo};
pub(crate) use path_info::{decode_opt_ca, encode_opt_ca};
