//! The ATerm grammar of a `.drv` file, shared by the reader and the writer.
//!
//! ```text
//! Derive([outputs],[inputDrvs],[inputSrcs],"platform","builder",[args],[env])
//! outputs   = ("name","path","hashAlgo","hash")   sorted by name
//! inputDrvs = ("drvPath",["out1","out2"])          sorted by path, names sorted
//! inputSrcs = "path"                               sorted
//! args      = "arg"                                in order
//! env       = ("key","value")                      sorted by key
//! ```
//!
//! No whitespace; list items are separated by `,`. Two kinds of string field
//! exist ([`Field`]): Nix escapes the builder, the arguments and the
//! environment, and writes every other string raw.
//!
//! The reader accepts only the *canonical* text, the one the writer produces,
//! so that parse → print reproduces its input byte for byte. Nix 2.8's own
//! parser is laxer; see [`super::parse`] for the forms it takes and we refuse.

/// Opening of a derivation.
pub const DERIVE: &[u8] = b"Derive(";
/// Opening of a versioned derivation (newer Nix, dynamic derivations).
pub const DRV_WITH_VERSION: &[u8] = b"DrvWithVersion(";

pub const QUOTE: u8 = b'"';
pub const BACKSLASH: u8 = b'\\';
pub const COMMA: u8 = b',';
pub const LIST_OPEN: u8 = b'[';
pub const LIST_CLOSE: u8 = b']';
pub const TUPLE_OPEN: u8 = b'(';
pub const TUPLE_CLOSE: u8 = b')';

/// How a string field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Builder, arguments, environment keys and values: `"`, `\`, newline,
    /// carriage return and tab are escaped; every other byte is raw.
    Escaped,
    /// Output names, paths, hash fields, input output names, platform: Nix
    /// writes these raw. A `"` or `\` in them would make Nix's text
    /// unreadable (or change on re-reading), so we escape those two only;
    /// no derivation Nix can register contains them.
    Raw,
}

/// The escape letter for `byte` in a field of kind `field`, if it is escaped.
pub fn escape(field: Field, byte: u8) -> Option<u8> {
    match (field, byte) {
        (_, QUOTE) => Some(QUOTE),
        (_, BACKSLASH) => Some(BACKSLASH),
        (Field::Escaped, b'\n') => Some(b'n'),
        (Field::Escaped, b'\r') => Some(b'r'),
        (Field::Escaped, b'\t') => Some(b't'),
        _ => None,
    }
}

/// The byte an escape letter stands for, if the writer would ever produce
/// that escape in a field of kind `field`.
pub fn unescape(field: Field, letter: u8) -> Option<u8> {
    match (field, letter) {
        (_, QUOTE) => Some(QUOTE),
        (_, BACKSLASH) => Some(BACKSLASH),
        (Field::Escaped, b'n') => Some(b'\n'),
        (Field::Escaped, b'r') => Some(b'\r'),
        (Field::Escaped, b't') => Some(b'\t'),
        _ => None,
    }
}

/// Bounds on what the reader accepts. ATerm has no length prefixes, so the
/// whole text is already in memory; these bound what is built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest `.drv` text accepted, in bytes.
    pub max_input_len: usize,
    /// Longest single string, in bytes (after unescaping).
    pub max_string_len: usize,
    /// Most items in any one list (outputs, inputs, args, env, output names).
    pub max_list_len: usize,
}

impl Default for ParseLimits {
    /// Generous for real derivations (the largest in nixpkgs are a few MiB,
    /// mostly one structured-attrs `__json` value).
    fn default() -> Self {
        ParseLimits {
            max_input_len: 64 << 20,
            max_string_len: 32 << 20,
            max_list_len: 1 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_unescape_are_inverse() {
        for field in [Field::Escaped, Field::Raw] {
            for b in 0..=255u8 {
                if let Some(letter) = escape(field, b) {
                    assert_eq!(unescape(field, letter), Some(b));
                }
            }
            for letter in 0..=255u8 {
                if let Some(b) = unescape(field, letter) {
                    assert_eq!(escape(field, b), Some(letter));
                }
            }
        }
        assert_eq!(escape(Field::Raw, b'\n'), None);
        assert_eq!(unescape(Field::Escaped, b'a'), None);
    }
}
