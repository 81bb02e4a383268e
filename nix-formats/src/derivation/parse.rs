//! The ATerm reader: strict, bounded, and never panicking.
//!
//! It accepts exactly the texts [`Derivation::to_aterm`] writes, so parse →
//! print gives back the input bytes. That is everything Nix 2.8 writes and
//! can register, but less than Nix 2.8's own parser takes: besides refusing
//! what Nix refuses (bad paths, unknown hash algorithms, malformed syntax) we
//! also refuse these forms that Nix reads but never writes, because printing
//! them again would give different bytes (and so a different `.drv` path):
//!
//! * escapes other than `\" \\ \n \r \t` (Nix reads `\x` as `x`), a raw
//!   newline, CR or tab in an escaped field, and any escape but `\" \\` in a
//!   raw field;
//! * a leading comma or a missing comma in a list (`[,"a"]`, `["a""b"]`);
//! * unsorted or repeated outputs, input derivations, output names, input
//!   sources and environment keys (Nix sorts them and keeps one of each);
//! * a fixed output hash in nix32 or base64, or in upper case; a `hash`
//!   without a `hashAlgo`; a path on a floating or impure output;
//! * bytes after the closing `)`;
//! * `git:` hashing (unknown to Nix 2.8) and `DrvWithVersion(…)` (newer Nix).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use thiserror::Error;

use super::bstring::BString;
use super::grammar::{
    self, BACKSLASH, COMMA, Field, LIST_CLOSE, LIST_OPEN, ParseLimits, QUOTE, TUPLE_CLOSE,
    TUPLE_OPEN,
};
use super::model::Derivation;
use super::output::{DerivationOutput, OutputFieldsError};
use crate::store_path::{StoreDir, StorePath, StorePathError};

/// A `.drv` text that could not be read, and where.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid derivation at byte {offset}: {kind}")]
pub struct ParseError {
    /// Byte offset into the text where the problem starts.
    pub offset: usize,
    pub kind: ParseErrorKind,
}

/// What is wrong ([`ParseError`] says where).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseErrorKind {
    #[error("the text is {len} bytes long, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("versioned derivations (DrvWithVersion) are not supported")]
    Versioned,
    #[error("expected {expected}, found {found}")]
    Expected {
        expected: &'static str,
        found: Found,
    },
    #[error("string longer than the limit of {max} bytes")]
    StringTooLong { max: usize },
    #[error("list longer than the limit of {max} items")]
    ListTooLong { max: usize },
    #[error("escape '\\{}' is not one Nix writes in this field", .letter.escape_ascii())]
    BadEscape { letter: u8 },
    #[error("byte '{}' must be escaped in this field", .byte.escape_ascii())]
    MustEscape { byte: u8 },
    #[error("{what} is not valid UTF-8")]
    NotUtf8 { what: &'static str },
    #[error("{what} '{item}' is out of order or repeated")]
    NotSorted { what: &'static str, item: String },
    #[error("bad path '{path}' in derivation: {error}")]
    BadPath { path: String, error: StorePathError },
    #[error("output '{name}': {error}")]
    Output {
        name: String,
        error: OutputFieldsError,
    },
    #[error("unexpected data after the end of the derivation")]
    TrailingData,
}

/// What the reader found where it expected something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    EndOfInput,
    Byte(u8),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::EndOfInput => f.write_str("end of input"),
            Found::Byte(b) => write!(f, "'{}'", b.escape_ascii()),
        }
    }
}

impl Derivation {
    /// Reads a `.drv` text with the default [`ParseLimits`]. Paths must be
    /// valid store paths of `store_dir`.
    pub fn from_aterm(input: &[u8], store_dir: &StoreDir) -> Result<Self, ParseError> {
        Self::from_aterm_with_limits(input, store_dir, ParseLimits::default())
    }

    /// Reads a `.drv` text within `limits`.
    pub fn from_aterm_with_limits(
        input: &[u8],
        store_dir: &StoreDir,
        limits: ParseLimits,
    ) -> Result<Self, ParseError> {
        if input.len() > limits.max_input_len {
            let kind = ParseErrorKind::TooLarge {
                len: input.len(),
                max: limits.max_input_len,
            };
            return Err(ParseError { offset: 0, kind });
        }
        if input.starts_with(grammar::DRV_WITH_VERSION) {
            return Err(ParseError {
                offset: 0,
                kind: ParseErrorKind::Versioned,
            });
        }
        let mut r = Reader {
            input,
            pos: 0,
            limits,
            store_dir,
        };
        let drv = r.derivation()?;
        if r.pos != input.len() {
            return Err(r.error_here(ParseErrorKind::TrailingData));
        }
        Ok(drv)
    }
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    limits: ParseLimits,
    store_dir: &'a StoreDir,
}

type Result<T, E = ParseError> = std::result::Result<T, E>;

impl Reader<'_> {
    fn derivation(&mut self) -> Result<Derivation> {
        self.token(grammar::DERIVE, "'Derive('")?;
        let mut drv = Derivation::default();

        let mut outputs = Sorted::new("output");
        self.list(|r| {
            r.byte(TUPLE_OPEN, "'('")?;
            let at = r.pos;
            let name = r.utf8_string("output name")?;
            outputs.check(r, at, &name, |n| n.clone())?;
            r.byte(COMMA, "','")?;
            let path_at = r.pos;
            let path = r.utf8_string("output path")?;
            r.byte(COMMA, "','")?;
            let hash_algo = r.utf8_string("output hash algorithm")?;
            r.byte(COMMA, "','")?;
            let hash = r.utf8_string("output hash")?;
            r.byte(TUPLE_CLOSE, "')'")?;
            let output = DerivationOutput::from_fields(r.store_dir, &path, &hash_algo, &hash)
                .map_err(|error| {
                    r.error_at(
                        path_at,
                        ParseErrorKind::Output {
                            name: name.clone(),
                            error,
                        },
                    )
                })?;
            drv.outputs.insert(name, output);
            Ok(())
        })?;
        self.byte(COMMA, "','")?;

        let mut inputs = Sorted::new("input derivation");
        self.list(|r| {
            r.byte(TUPLE_OPEN, "'('")?;
            let at = r.pos;
            let path = r.store_path()?;
            inputs.check(r, at, &path, |p| p.to_string())?;
            r.byte(COMMA, "','")?;
            let mut names = BTreeSet::new();
            let mut sorted = Sorted::new("output name");
            r.list(|r| {
                let at = r.pos;
                let name = r.utf8_string("output name")?;
                sorted.check(r, at, &name, |n| n.clone())?;
                names.insert(name);
                Ok(())
            })?;
            r.byte(TUPLE_CLOSE, "')'")?;
            drv.input_drvs.insert(path, names);
            Ok(())
        })?;
        self.byte(COMMA, "','")?;

        let mut srcs = Sorted::new("input source");
        self.list(|r| {
            let at = r.pos;
            let path = r.store_path()?;
            srcs.check(r, at, &path, |p| p.to_string())?;
            drv.input_srcs.insert(path);
            Ok(())
        })?;
        self.byte(COMMA, "','")?;
        drv.platform = BString::new(self.string(Field::Raw)?);
        self.byte(COMMA, "','")?;
        drv.builder = BString::new(self.string(Field::Escaped)?);
        self.byte(COMMA, "','")?;
        self.list(|r| {
            drv.args.push(BString::new(r.string(Field::Escaped)?));
            Ok(())
        })?;
        self.byte(COMMA, "','")?;

        let mut keys = Sorted::new("environment variable");
        let mut env = BTreeMap::new();
        self.list(|r| {
            r.byte(TUPLE_OPEN, "'('")?;
            let at = r.pos;
            let key = BString::new(r.string(Field::Escaped)?);
            keys.check(r, at, &key, |k| k.to_string())?;
            r.byte(COMMA, "','")?;
            let value = BString::new(r.string(Field::Escaped)?);
            r.byte(TUPLE_CLOSE, "')'")?;
            env.insert(key, value);
            Ok(())
        })?;
        drv.env = env;
        self.byte(TUPLE_CLOSE, "')'")?;
        Ok(drv)
    }

    fn error_at(&self, offset: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { offset, kind }
    }

    fn error_here(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at(self.pos, kind)
    }

    fn expected(&self, expected: &'static str) -> ParseError {
        let found = self
            .input
            .get(self.pos)
            .map_or(Found::EndOfInput, |&b| Found::Byte(b));
        self.error_here(ParseErrorKind::Expected { expected, found })
    }

    fn token(&mut self, token: &[u8], expected: &'static str) -> Result<()> {
        for &b in token {
            self.byte(b, expected)?;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8, expected: &'static str) -> Result<()> {
        if self.input.get(self.pos) != Some(&b) {
            return Err(self.expected(expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// `[` item (`,` item)* `]` or `[]`.
    fn list(&mut self, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.byte(LIST_OPEN, "'['")?;
        if self.input.get(self.pos) == Some(&LIST_CLOSE) {
            self.pos += 1;
            return Ok(());
        }
        let mut count = 0usize;
        loop {
            count += 1;
            if count > self.limits.max_list_len {
                return Err(self.error_here(ParseErrorKind::ListTooLong {
                    max: self.limits.max_list_len,
                }));
            }
            item(self)?;
            match self.input.get(self.pos) {
                Some(&COMMA) => self.pos += 1,
                Some(&LIST_CLOSE) => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.expected("',' or ']'")),
            }
        }
    }

    /// A quoted string, unescaped, accepted only in its canonical form.
    fn string(&mut self, field: Field) -> Result<Vec<u8>> {
        let start = self.pos;
        self.byte(QUOTE, "'\"'")?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.input.get(self.pos) else {
                return Err(self.expected("'\"'"));
            };
            let byte = match b {
                QUOTE => {
                    self.pos += 1;
                    return Ok(out);
                }
                BACKSLASH => {
                    let Some(&letter) = self.input.get(self.pos + 1) else {
                        self.pos += 1;
                        return Err(self.expected("an escaped character"));
                    };
                    let byte = grammar::unescape(field, letter)
                        .ok_or_else(|| self.error_here(ParseErrorKind::BadEscape { letter }))?;
                    self.pos += 2;
                    byte
                }
                b if grammar::escape(field, b).is_some() => {
                    return Err(self.error_here(ParseErrorKind::MustEscape { byte: b }));
                }
                b => {
                    self.pos += 1;
                    b
                }
            };
            if out.len() == self.limits.max_string_len {
                return Err(self.error_at(
                    start,
                    ParseErrorKind::StringTooLong {
                        max: self.limits.max_string_len,
                    },
                ));
            }
            out.push(byte);
        }
    }

    fn utf8_string(&mut self, what: &'static str) -> Result<String> {
        let at = self.pos;
        let bytes = self.string(Field::Raw)?;
        String::from_utf8(bytes).map_err(|_| self.error_at(at, ParseErrorKind::NotUtf8 { what }))
    }

    fn store_path(&mut self) -> Result<StorePath> {
        let at = self.pos;
        let bytes = self.string(Field::Raw)?;
        let path = String::from_utf8_lossy(&bytes);
        self.store_dir.parse_path(&path).map_err(|error| {
            let kind = ParseErrorKind::BadPath {
                path: path.clone().into_owned(),
                error,
            };
            self.error_at(at, kind)
        })
    }
}

/// Checks that the keys of a list come strictly in ascending order.
struct Sorted<K> {
    what: &'static str,
    last: Option<K>,
}

impl<K: Ord + Clone> Sorted<K> {
    fn new(what: &'static str) -> Self {
        Sorted { what, last: None }
    }

    fn check(
        &mut self,
        r: &Reader<'_>,
        at: usize,
        key: &K,
        show: impl Fn(&K) -> String,
    ) -> Result<()> {
        if self.last.as_ref().is_some_and(|last| last >= key) {
            return Err(r.error_at(
                at,
                ParseErrorKind::NotSorted {
                    what: self.what,
                    item: show(key),
                },
            ));
        }
        self.last = Some(key.clone());
        Ok(())
    }
}
