//! The derivation as BuildDerivation sends it (§2.12): no name, no input
//! derivations, and each output as four strings.
//!
//! This is the wire shape only; turning it into a full derivation is the
//! derivation module's business.

use std::collections::{BTreeMap, BTreeSet};

use crate::store_path::StorePath;
use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::ser::{Encoder, WireEncode};

/// One output as sent: `path` ("" = none, for floating and deferred
/// outputs), `hash_algo` (method prefix + algorithm, e.g. `r:sha256`, or
/// ""), `hash` (base16 digest, `impure`, or "").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireDerivationOutput {
    pub path: Option<StorePath>,
    pub hash_algo: String,
    pub hash: String,
}

/// BuildDerivation's derivation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicDerivation {
    /// By output name (sent sorted).
    pub outputs: BTreeMap<String, WireDerivationOutput>,
    pub input_srcs: BTreeSet<StorePath>,
    pub platform: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

impl WireDecode for BasicDerivation {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(BasicDerivation {
            outputs: d.map(
                "outputs",
                |d| d.string("output name"),
                |d| {
                    Ok(WireDerivationOutput {
                        path: d.opt_store_path("output path")?,
                        hash_algo: d.string("output hash algo")?,
                        hash: d.string("output hash")?,
                    })
                },
            )?,
            input_srcs: d.path_set("inputSrcs")?,
            platform: d.string("platform")?,
            builder: d.string("builder")?,
            args: d.strings("args")?,
            env: d.string_map("env")?,
        })
    }
}

impl WireEncode for BasicDerivation {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        e.u64(self.outputs.len() as u64);
        for (name, out) in &self.outputs {
            e.str(name);
            e.opt_store_path(out.path.as_ref());
            e.str(&out.hash_algo);
            e.str(&out.hash);
        }
        e.path_set(&self.input_srcs);
        e.str(&self.platform);
        e.str(&self.builder);
        e.strings(&self.args);
        e.string_map(&self.env);
        Ok(())
    }
}
