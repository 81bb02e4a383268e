//! The check Nix 2.8 makes on a fixed output after its builder ran: the
//! content hash must be the promised one.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix_formats::content_address::FileIngestionMethod;
use nix_formats::derivation::FixedOutputHash;
use nix_formats::hash::{Hash, Hasher};
use nix_formats::nar::{self, DumpError};

/// Why a fixed output is not what its derivation promised.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "output path '{path}' should be a non-executable regular file since recursive hashing \
         is not enabled (outputHashMode=flat)"
    )]
    NotFlat { path: String },
    #[error(
        "hash mismatch in fixed-output derivation '{drv}':\n  specified: {}\n     got:    {}",
        .specified.to_sri(),
        .got.to_sri()
    )]
    HashMismatch {
        drv: String,
        specified: Box<Hash>,
        got: Box<Hash>,
    },
    #[error("the ingestion method of output path '{path}' is not supported")]
    UnsupportedMethod { path: String },
    #[error("reading '{path}'")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("dumping '{path}'")]
    Dump {
        path: String,
        #[source]
        source: DumpError,
    },
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
