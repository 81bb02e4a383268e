//! `.narinfo` files of binary caches: parse, print (in Nix's field order),
//! and the fingerprint their `Sig:` lines sign.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use thiserror::Error;

use crate::content_address::{ContentAddress, ContentAddressError};
use crate::hash::{Hash, HashAlgo, ParseHashError};
use crate::signature::{self, PublicKey, SignatureError};
use crate::store_path::{StoreDir, StorePath, StorePathError};

/// Longest `.narinfo` accepted (they are a few hundred bytes in practice).
pub const MAX_NARINFO_LEN: usize = 1 << 20;

/// Errors from parsing a `.narinfo`.
#[derive(Debug, Error)]
pub enum NarInfoError {
    #[error("NAR info file is larger than {MAX_NARINFO_LEN} bytes")]
    TooLarge,
    #[error("NAR info file is not valid UTF-8")]
    NotUtf8,
    #[error("NAR info file is corrupt at line {line}: {why}")]
    Corrupt { line: usize, why: &'static str },
    #[error("NAR info file is missing required field '{0}'")]
    Missing(&'static str),
    #[error("NAR info field '{field}' has a bad hash")]
    Hash {
        field: &'static str,
        #[source]
        source: ParseHashError,
    },
    #[error("NAR info field '{field}' has a bad store path")]
    Path {
        field: &'static str,
        #[source]
        source: StorePathError,
    },
    #[error("NAR info has a bad content address")]
    Ca(#[source] ContentAddressError),
}

/// The contents of a `.narinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    pub store_path: StorePath,
    pub url: String,
    pub compression: String,
    pub file_hash: Option<Hash>,
    pub file_size: Option<u64>,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub system: Option<String>,
    pub sigs: Vec<String>,
    pub ca: Option<ContentAddress>,
}

fn parse_u64(v: &str, line: usize) -> Result<u64, NarInfoError> {
    v.parse().map_err(|_| NarInfoError::Corrupt {
        line,
        why: "bad integer",
    })
}

impl NarInfo {
    /// Parses a `.narinfo` as Nix does: unknown fields are ignored,
    /// `Compression` defaults to `bzip2`, and `StorePath`, `URL`, `NarHash`
    /// and a non-zero `NarSize` are required.
    pub fn parse(store_dir: &StoreDir, bytes: &[u8]) -> Result<Self, NarInfoError> {
        if bytes.len() > MAX_NARINFO_LEN {
            return Err(NarInfoError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| NarInfoError::NotUtf8)?;
        let (mut path, mut url, mut compression) = (None, None, None);
        let (mut file_hash, mut file_size, mut nar_hash, mut nar_size) = (None, None, None, None);
        let (mut references, mut deriver, mut system, mut sigs, mut ca) =
            (BTreeSet::new(), None, None, Vec::new(), None);
        // Lines end at '\n' only, as Nix reads them: a '\r' stays part of
        // the value (so a CRLF file is refused, not half-read).
        for (i, l) in text.split('\n').enumerate() {
            let line = i + 1;
            if l.is_empty() {
                continue;
            }
            let (key, value) = l.split_once(": ").ok_or(NarInfoError::Corrupt {
                line,
                why: "line is not 'Key: value'",
            })?;
            let hash = |field| {
                Hash::parse_any(value, Some(HashAlgo::Sha256))
                    .map_err(|source| NarInfoError::Hash { field, source })
            };
            let base = |field, v: &str| {
                StorePath::from_base_name(v).map_err(|source| NarInfoError::Path { field, source })
            };
            match key {
                "StorePath" => {
                    let p = store_dir
                        .parse_path(value)
                        .map_err(|source| NarInfoError::Path {
                            field: "StorePath",
                            source,
                        })?;
                    path = Some(p);
                }
                "URL" => url = Some(value.to_owned()),
                "Compression" => compression = Some(value.to_owned()),
                "FileHash" => file_hash = Some(hash("FileHash")?),
                "FileSize" => file_size = Some(parse_u64(value, line)?),
                "NarHash" => nar_hash = Some(hash("NarHash")?),
                "NarSize" => nar_size = Some(parse_u64(value, line)?),
                "References" => {
                    for r in value.split(' ').filter(|r| !r.is_empty()) {
                        references.insert(base("References", r)?);
                    }
                }
                "Deriver" if value != "unknown-deriver" => deriver = Some(base("Deriver", value)?),
                "System" => system = Some(value.to_owned()),
                "Sig" => sigs.push(value.to_owned()),
                "CA" => ca = Some(value.parse().map_err(NarInfoError::Ca)?),
                _ => {}
            }
        }
        let nar_size = nar_size
            .filter(|&n| n != 0)
            .ok_or(NarInfoError::Missing("NarSize"))?;
        Ok(NarInfo {
            store_path: path.ok_or(NarInfoError::Missing("StorePath"))?,
            url: url
                .filter(|u| !u.is_empty())
                .ok_or(NarInfoError::Missing("URL"))?,
            compression: compression.unwrap_or_else(|| "bzip2".to_owned()),
            file_hash,
            file_size,
            nar_hash: nar_hash.ok_or(NarInfoError::Missing("NarHash"))?,
            nar_size,
            references,
            deriver,
            system,
            sigs,
            ca,
        })
    }

    /// Prints the `.narinfo` in the field order Nix writes.
    pub fn to_text(&self, store_dir: &StoreDir) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(w, "StorePath: {}", store_dir.display(&self.store_path));
        let _ = writeln!(w, "URL: {}", self.url);
        let _ = writeln!(w, "Compression: {}", self.compression);
        if let Some(h) = &self.file_hash {
            let _ = writeln!(w, "FileHash: {}", h.to_prefixed_nix32());
        }
        if let Some(n) = self.file_size {
            let _ = writeln!(w, "FileSize: {n}");
        }
        let _ = writeln!(w, "NarHash: {}", self.nar_hash.to_prefixed_nix32());
        let _ = writeln!(w, "NarSize: {}", self.nar_size);
        let refs: Vec<String> = self
            .references
            .iter()
            .map(StorePath::to_base_name)
            .collect();
        let _ = writeln!(w, "References: {}", refs.join(" "));
        if let Some(d) = &self.deriver {
            let _ = writeln!(w, "Deriver: {d}");
        }
        if let Some(sys) = &self.system {
            let _ = writeln!(w, "System: {sys}");
        }
        for sig in &self.sigs {
            let _ = writeln!(w, "Sig: {sig}");
        }
        if let Some(ca) = &self.ca {
            let _ = writeln!(w, "CA: {ca}");
        }
        s
    }

    /// The fingerprint the `Sig:` lines sign.
    pub fn fingerprint(&self, store_dir: &StoreDir) -> Result<String, SignatureError> {
        signature::fingerprint(
            store_dir,
            &self.store_path,
            &self.nar_hash,
            self.nar_size,
            &self.references,
        )
    }

    /// Whether one of the signatures is valid under one of `keys`.
    pub fn has_valid_signature(&self, store_dir: &StoreDir, keys: &[PublicKey]) -> bool {
        let Ok(fp) = self.fingerprint(store_dir) else {
            return false;
        };
        self.sigs
            .iter()
            .any(|s| keys.iter().any(|k| k.verify(&fp, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::SecretKey;

    const SAMPLE: &str = "StorePath: /nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh
URL: nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz
Compression: xz
FileHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3
FileSize: 196
NarHash: sha256:0rvb94qcnzrg5l1n50y4y8pd0afc4y1iimsdcaiaxhx02lr70kzx
NarSize: 144
References: jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir
Deriver: kwz5bfh26zlkv5gihjq8l223hd1n264n-trivial2.drv
CA: text:sha256:0rvb94qcnzrg5l1n50y4y8pd0afc4y1iimsdcaiaxhx02lr70kzx
";

    #[test]
    fn parse_print_sign() {
        let d = StoreDir::default();
        let mut ni = NarInfo::parse(&d, SAMPLE.as_bytes()).expect("sample parses");
        assert_eq!(ni.to_text(&d), SAMPLE);
        let sk = SecretKey::from_seed("cache-1", &[3u8; 32]);
        ni.sigs
            .push(sk.sign(&ni.fingerprint(&d).expect("fingerprint")));
        let again = NarInfo::parse(&d, ni.to_text(&d).as_bytes()).expect("reparse");
        assert!(again.has_valid_signature(&d, &[sk.public_key()]));
        assert!(!again.has_valid_signature(
            &d,
            &[SecretKey::from_seed("cache-1", &[4u8; 32]).public_key()]
        ));
    }

    /// Found by the fuzzer: a value ending in '\r' lost it on each reparse.
    #[test]
    fn carriage_returns_are_part_of_values_as_in_nix() {
        let d = StoreDir::default();
        let text = format!("{SAMPLE}Sig: odd\r\r\n");
        let ni = NarInfo::parse(&d, text.as_bytes()).expect("parses");
        assert_eq!(ni.sigs, ["odd\r\r"]);
        let printed = ni.to_text(&d);
        assert!(printed.contains("Sig: odd\r\r\n"), "{printed:?}");
        assert_eq!(
            NarInfo::parse(&d, printed.as_bytes()).expect("reparses"),
            ni
        );
        let crlf = SAMPLE.replace('\n', "\r\n");
        assert!(
            NarInfo::parse(&d, crlf.as_bytes()).is_err(),
            "a CRLF narinfo is refused, as Nix refuses it"
        );
    }

    #[test]
    fn rejects_incomplete() {
        let d = StoreDir::default();
        let no_size = SAMPLE.replace("NarSize: 144\n", "");
        assert!(matches!(
            NarInfo::parse(&d, no_size.as_bytes()),
            Err(NarInfoError::Missing("NarSize"))
        ));
        assert!(matches!(
            NarInfo::parse(&d, b"garbage"),
            Err(NarInfoError::Corrupt { line: 1, .. })
        ));
        let bad_ref = SAMPLE.replace("jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir", "x");
        assert!(matches!(
            NarInfo::parse(&d, bad_ref.as_bytes()),
            Err(NarInfoError::Path { .. })
        ));
    }
}
