//! DerivedPath (§2.6): what BuildPaths, QueryMissing and
//! BuildPathsWithResults ask for, sent as a string whose syntax changed in
//! 1.30.
//!
//! * From 1.30: `<drv>!<out1>,<out2>` or `<drv>!*` is a derivation's
//!   outputs; a path without `!` is that path itself, even a `.drv`.
//! * Before 1.30: `<drv>!<outs>` as above; a bare `.drv` means all its
//!   outputs, so an opaque `.drv` cannot be said, and there is no `*`.

use std::collections::BTreeSet;
use std::fmt;
use thiserror::Error;

use crate::store_path::{StoreDir, StorePath, StorePathError};
use crate::wire::de::{Decoder, WireDecode};
use crate::wire::error::{DecodeError, EncodeError};
use crate::wire::ser::{Encoder, WireEncode};
use crate::wire::version::ProtocolVersion;

/// The minor version that introduced the current syntax.
const NEW_SYNTAX_SINCE: u8 = 30;

/// Which outputs of a derivation are wanted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputsSpec {
    /// `*`: every output.
    All,
    /// A non-empty set of output names.
    Names(BTreeSet<String>),
}

/// A store path itself, or (some) outputs of a derivation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DerivedPath {
    Opaque(StorePath),
    Built {
        drv_path: StorePath,
        outputs: OutputsSpec,
    },
}

/// Why a DerivedPath string is not valid.
#[derive(Debug, PartialEq, Eq, Error)]
pub enum DerivedPathError {
    #[error("'{0}': {1}")]
    StorePath(String, #[source] StorePathError),
    #[error("'{0}' names no outputs after '!'")]
    NoOutputs(String),
    #[error("'{path}' has an invalid output name '{name}'")]
    BadOutputName { path: String, name: String },
}

fn valid_output_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-._?=".contains(&c))
}

impl DerivedPath {
    /// `<drv>!<names>` with the given output names.
    pub fn built<I, S>(drv_path: StorePath, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        DerivedPath::Built {
            drv_path,
            outputs: OutputsSpec::Names(names.into_iter().map(Into::into).collect()),
        }
    }

    /// Parses the string form spoken at `version`.
    pub fn parse(
        store_dir: &StoreDir,
        s: &str,
        version: ProtocolVersion,
    ) -> Result<Self, DerivedPathError> {
        let parse_path = |p: &str| {
            store_dir
                .parse_path(p)
                .map_err(|e| DerivedPathError::StorePath(s.to_owned(), e))
        };
        let Some((path, outs)) = s.split_once('!') else {
            let path = parse_path(s)?;
            if !version.at_least(NEW_SYNTAX_SINCE) && path.is_derivation() {
                return Ok(DerivedPath::Built {
                    drv_path: path,
                    outputs: OutputsSpec::All,
                });
            }
            return Ok(DerivedPath::Opaque(path));
        };
        let drv_path = parse_path(path)?;
        if outs.is_empty() {
            return Err(DerivedPathError::NoOutputs(s.to_owned()));
        }
        if outs == "*" && version.at_least(NEW_SYNTAX_SINCE) {
            return Ok(DerivedPath::Built {
                drv_path,
                outputs: OutputsSpec::All,
            });
        }
        let mut names = BTreeSet::new();
        for name in outs.split(',') {
            if !valid_output_name(name) {
                return Err(DerivedPathError::BadOutputName {
                    path: s.to_owned(),
                    name: name.to_owned(),
                });
            }
            names.insert(name.to_owned());
        }
        Ok(DerivedPath::Built {
            drv_path,
            outputs: OutputsSpec::Names(names),
        })
    }

    /// The string form spoken at `version`, if that version can say it.
    pub fn render(
        &self,
        store_dir: &StoreDir,
        version: ProtocolVersion,
    ) -> Result<String, EncodeError> {
        let new = version.at_least(NEW_SYNTAX_SINCE);
        let not_representable = |what: &str| EncodeError::NotRepresentable {
            what: format!("{what} '{}'", self.display(store_dir)),
            version,
        };
        match self {
            DerivedPath::Opaque(p) if !new && p.is_derivation() => {
                Err(not_representable("the opaque derivation path"))
            }
            DerivedPath::Opaque(p) => Ok(store_dir.display(p)),
            DerivedPath::Built {
                drv_path,
                outputs: OutputsSpec::All,
            } if !new => {
                if drv_path.is_derivation() {
                    Ok(store_dir.display(drv_path))
                } else {
                    Err(not_representable("all outputs of the non-derivation"))
                }
            }
            DerivedPath::Built {
                outputs: OutputsSpec::Names(n),
                ..
            } if n.is_empty() || !n.iter().all(|n| valid_output_name(n)) => {
                Err(not_representable("an invalid output list in"))
            }
            _ => Ok(self.display(store_dir).to_string()),
        }
    }

    /// The current (≥ 1.30) syntax.
    pub fn display<'a>(&'a self, store_dir: &'a StoreDir) -> impl fmt::Display + 'a {
        Display(self, store_dir)
    }
}

struct Display<'a>(&'a DerivedPath, &'a StoreDir);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Display(dp, store_dir) = self;
        match dp {
            DerivedPath::Opaque(p) => write!(f, "{}", store_dir.display(p)),
            DerivedPath::Built { drv_path, outputs } => {
                write!(f, "{}!", store_dir.display(drv_path))?;
                match outputs {
                    OutputsSpec::All => f.write_str("*"),
                    OutputsSpec::Names(names) => {
                        for (i, n) in names.iter().enumerate() {
                            if i > 0 {
                                f.write_str(",")?;
                            }
                            f.write_str(n)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

impl WireDecode for DerivedPath {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (field, offset) = ("derived path", d.pos());
        let s = d.str_ref(field)?;
        let dp = DerivedPath::parse(d.store_dir(), s, d.version()).map_err(|source| {
            DecodeError::DerivedPath {
                field,
                offset,
                source,
            }
        })?;
        if dp.render(d.store_dir(), d.version()).ok().as_deref() != Some(s) {
            d.mark_non_canonical();
        }
        Ok(dp)
    }
}

impl WireEncode for DerivedPath {
    fn encode(&self, e: &mut Encoder<'_>) -> Result<(), EncodeError> {
        let s = self.render(e.store_dir(), e.version())?;
        e.str(&s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRV: &str = "/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-bar.drv";
    const OUT: &str = "/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-foo";

    fn parse(s: &str, minor: u8) -> Result<DerivedPath, DerivedPathError> {
        DerivedPath::parse(&StoreDir::default(), s, ProtocolVersion::v1(minor))
    }

    fn render(dp: &DerivedPath, minor: u8) -> Result<String, EncodeError> {
        dp.render(&StoreDir::default(), ProtocolVersion::v1(minor))
    }

    #[test]
    fn syntax_per_version() {
        let sd = StoreDir::default();
        let drv = sd.parse_path(DRV).expect("drv");
        let all = DerivedPath::Built {
            drv_path: drv.clone(),
            outputs: OutputsSpec::All,
        };
        let opaque_drv = DerivedPath::Opaque(drv.clone());
        let two = DerivedPath::built(drv.clone(), ["out", "dev"]);

        assert_eq!(parse(&format!("{DRV}!*"), 30), Ok(all.clone()));
        assert_eq!(parse(DRV, 30), Ok(opaque_drv.clone()));
        assert_eq!(parse(DRV, 29), Ok(all.clone()));
        assert_eq!(parse(&format!("{DRV}!out,dev"), 29), Ok(two.clone()));
        assert!(matches!(
            parse(&format!("{DRV}!*"), 29),
            Err(DerivedPathError::BadOutputName { .. })
        ));
        assert!(matches!(
            parse(&format!("{DRV}!"), 38),
            Err(DerivedPathError::NoOutputs(_))
        ));
        assert!(matches!(
            parse(&format!("{DRV}!a,,b"), 38),
            Err(DerivedPathError::BadOutputName { .. })
        ));
        assert!(matches!(
            parse("/nix/store/short", 38),
            Err(DerivedPathError::StorePath(..))
        ));

        assert_eq!(render(&all, 30).as_deref(), Ok(format!("{DRV}!*").as_str()));
        assert_eq!(render(&all, 29).as_deref(), Ok(DRV));
        assert_eq!(
            render(&two, 38).as_deref(),
            Ok(format!("{DRV}!dev,out").as_str())
        );
        assert_eq!(render(&opaque_drv, 30).as_deref(), Ok(DRV));
        assert!(render(&opaque_drv, 29).is_err());
        let out = sd.parse_path(OUT).expect("out");
        assert!(
            render(
                &DerivedPath::Built {
                    drv_path: out.clone(),
                    outputs: OutputsSpec::All
                },
                29
            )
            .is_err()
        );
        assert_eq!(parse(OUT, 29), Ok(DerivedPath::Opaque(out)));
    }
}
