//! The check Nix 2.8 makes on a fixed output after its builder ran: the
//! content hash must be the promised one.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix_formats::content_address::FileIngestionMethod;
use nix_formats::derivation::FixedOutputHash;
use nix_formats::hash::{Hash, Hasher};
use nix_formats::nar::{self, DumpError};

use super::text::NixText;

/// Why a fixed output is not what its derivation promised. `Display` is
/// the plain message; [`VerifyError::text`] has Nix's structure (for
/// [`NixText::what`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum VerifyError {
    /// A flat output that is not a non-executable regular file.
    NotFlat { path: String },
    /// The content hash is not the promised one.
    HashMismatch {
        drv: String,
        specified: Box<Hash>,
        got: Box<Hash>,
    },
    /// Git hashing (not in Nix 2.8).
    UnsupportedMethod { path: String },
    /// The output could not be read.
    Read { path: String, source: io::Error },
    /// The output could not be serialised.
    Dump { path: String, source: DumpError },
}

impl VerifyError {
    /// The message as Nix 2.8 structures it.
    pub fn text(&self) -> NixText {
        match self {
            VerifyError::NotFlat { path } => NixText::new().lit("output path '").arg(path).lit(
                "' should be a non-executable regular file since recursive hashing \
                     is not enabled (outputHashMode=flat)",
            ),
            VerifyError::HashMismatch {
                drv,
                specified,
                got,
            } => NixText::new()
                .lit("hash mismatch in fixed-output derivation '")
                .arg(drv)
                .lit("':\n  specified: ")
                .arg(specified.to_sri())
                .lit("\n     got:    ")
                .arg(got.to_sri()),
            VerifyError::UnsupportedMethod { path } => NixText::new()
                .lit("the ingestion method of output path '")
                .arg(path)
                .lit("' is not supported"),
            VerifyError::Read { path, source } => NixText::new()
                .lit("reading '")
                .arg(path)
                .lit("'")
                .sys(source),
            VerifyError::Dump { path, source } => NixText::new()
                .lit("dumping '")
                .arg(path)
                .lit("': ")
                .arg(source),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text().plain())
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Read { source, .. } => Some(source),
            VerifyError::Dump { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Hashes `$out` (at `host` on this machine, named `out` in messages) as
/// `expected` says (flat file contents or NAR) and compares. Returns the
/// hash found. `drv` names the derivation in the mismatch message.
///
/// Like Nix, a flat output must be a regular file without the owner's
/// execute bit. Nix hashes modulo a self-reference (a fixed output that
/// contains its own path); this check does not, which only matters for
/// such (pathological) outputs.
pub fn verify_fixed_output(
    drv: &str,
    out: &str,
    host: &Path,
    expected: &FixedOutputHash,
) -> Result<Hash, VerifyError> {
    let algo = expected.hash.algo();
    let got = match expected.method {
        FileIngestionMethod::Flat => {
            let read = |source| VerifyError::Read {
                path: out.to_owned(),
                source,
            };
            let meta = fs::symlink_metadata(host).map_err(read)?;
            if !meta.is_file() || meta.permissions().mode() & 0o100 != 0 {
                return Err(VerifyError::NotFlat {
                    path: out.to_owned(),
                });
            }
            let mut hasher = Hasher::new(algo);
            io::copy(&mut File::open(host).map_err(read)?, &mut hasher).map_err(read)?;
            hasher.finish()
        }
        FileIngestionMethod::Recursive => {
            nar::hash_path(algo, host)
                .map_err(|source| VerifyError::Dump {
                    path: out.to_owned(),
                    source,
                })?
                .0
        }
        FileIngestionMethod::Git => {
            return Err(VerifyError::UnsupportedMethod {
                path: out.to_owned(),
            });
        }
    };
    if got != expected.hash {
        return Err(VerifyError::HashMismatch {
            drv: drv.to_owned(),
            specified: Box::new(expected.hash),
            got: Box::new(got),
        });
    }
    Ok(got)
}
