//! Message text the way Nix 2.8 builds it.
//!
//! Nix formats error messages with `hintfmt`, which wraps every argument in
//! `ANSI_WARNING … ANSI_NORMAL`; `normaltxt` values are preceded by
//! `ANSI_NORMAL`; `SysError` appends `": " + strerror(errno)` (as an
//! argument). What the builder writes to its log is `e.what()`: a red
//! `error:` prefix and the message, its later lines indented. A user sees
//! the same bytes with the escape codes filtered out. [`NixText`] keeps the
//! structure so both forms come from one definition.

use std::fmt;
use std::io;

/// `ANSI_WARNING` (bold magenta in Nix 2.8).
pub(crate) const WARNING: &str = "\x1b[35;1m";
/// `ANSI_NORMAL`.
pub(crate) const NORMAL: &str = "\x1b[0m";
/// `ANSI_RED`.
const RED: &str = "\x1b[31;1m";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Format-string text.
    Lit(String),
    /// A `hintfmt` argument (highlighted).
    Arg(String),
    /// The `ANSI_NORMAL` a `normaltxt` value starts with.
    Normal,
}

/// A message as Nix's `hintfmt` builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NixText(Vec<Piece>);

impl NixText {
    pub(crate) fn new() -> Self {
        NixText(Vec::new())
    }

    /// Literal text of the format string.
    pub(crate) fn lit(mut self, s: impl Into<String>) -> Self {
        self.0.push(Piece::Lit(s.into()));
        self
    }

    /// A highlighted argument.
    pub(crate) fn arg(mut self, s: impl fmt::Display) -> Self {
        self.0.push(Piece::Arg(s.to_string()));
        self
    }

    /// `hintfmt(plainString)`: the whole text as one `normaltxt` value.
    pub(crate) fn plain_string(s: impl Into<String>) -> Self {
        NixText(vec![Piece::Normal, Piece::Lit(s.into())])
    }

    /// `SysError(hint)`: `normaltxt(hint) + ": " + strerror` (highlighted).
    pub(crate) fn sys(self, err: &io::Error) -> Self {
        let mut pieces = vec![Piece::Normal];
        pieces.extend(self.0);
        pieces.push(Piece::Lit(": ".to_owned()));
        pieces.push(Piece::Arg(strerror(err)));
        NixText(pieces)
    }

    /// `hintfmt("%1%…", normaltxt(self.str()), …)`: this text used as the
    /// first value of a larger message.
    pub(crate) fn nested(self) -> Self {
        let mut pieces = vec![Piece::Normal];
        pieces.extend(self.0);
        NixText(pieces)
    }

    /// The text a user reads (no escape codes).
    pub fn plain(&self) -> String {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(t) | Piece::Arg(t) => s.push_str(t),
                Piece::Normal => {}
            }
        }
        s
    }

    /// The bytes Nix's `hintformat::str()` gives (with escape codes).
    pub fn colored(&self) -> String {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(t) => s.push_str(t),
                Piece::Arg(t) => {
                    s.push_str(WARNING);
                    s.push_str(t);
                    s.push_str(NORMAL);
                }
                Piece::Normal => s.push_str(NORMAL),
            }
        }
        s
    }

    /// Nix's `BaseError::what()` for this message at error level: the red
    /// `error:` prefix, later lines indented to line up, each line chomped.
    pub fn what(&self) -> String {
        indent(&format!("{RED}error:{NORMAL} "), 7, &self.colored())
    }

    /// [`Self::what`] for an error with one trace (Nix 2.12 on): the red
    /// prefix alone on the first line, then `… <trace>`, a blank line, and
    /// the prefixed message, all below the first line indented.
    pub fn what_traced(&self, trace: &NixText) -> String {
        let prefix = format!("{RED}error:{NORMAL} ");
        let body = format!("\n… {}\n\n{prefix}{}", trace.colored(), self.colored());
        indent(&prefix, 7, &body)
    }

    /// [`Self::what`] with the escape codes left out: what a user reads.
    pub fn what_plain(&self) -> String {
        indent("error: ", 7, &self.plain())
    }
}

impl fmt::Display for NixText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain())
    }
}

/// Nix's `indent(first, rest, chomp(s))` from `showErrorInfo`.
fn indent(first: &str, rest_width: usize, s: &str) -> String {
    let rest = " ".repeat(rest_width);
    let body = chomp(s);
    let mut out = String::new();
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let prefix = if i == 0 { first } else { rest.as_str() };
        out.push_str(chomp(&format!("{prefix}{line}")));
    }
    out
}

/// Nix's `chomp`: drops trailing spaces, newlines, CRs and tabs.
pub(crate) fn chomp(s: &str) -> &str {
    s.trim_end_matches([' ', '\n', '\r', '\t'])
}

/// `strerror(errno)` for an OS error; the error's text otherwise.
pub(crate) fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        // std renders OS errors as "<strerror> (os error N)".
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map(str::to_owned)
            .unwrap_or(text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hintfmt_highlights_arguments() {
        let t = NixText::new()
            .lit("attribute '")
            .arg("url")
            .lit("' missing");
        assert_eq!(t.plain(), "attribute 'url' missing");
        assert_eq!(
            t.colored(),
            "attribute '\x1b[35;1murl\x1b[0m' missing",
            "hintfmt wraps each argument"
        );
        assert_eq!(
            t.what(),
            "\x1b[31;1merror:\x1b[0m attribute '\x1b[35;1murl\x1b[0m' missing"
        );
    }

    #[test]
    fn sys_error_appends_strerror() {
        let err = io::Error::from(io::ErrorKind::NotFound);
        let os = io::Error::from_raw_os_error(2);
        assert_eq!(strerror(&os), "No such file or directory");
        let t = NixText::new()
            .lit("opening file '")
            .arg("/x")
            .lit("'")
            .sys(&os);
        assert_eq!(t.plain(), "opening file '/x': No such file or directory");
        assert!(t.colored().starts_with(NORMAL));
        assert!(!strerror(&err).is_empty());
    }

    #[test]
    fn what_indents_later_lines() {
        let t = NixText::plain_string("first\n\nsecond  ");
        assert_eq!(t.what_plain(), "error: first\n\n       second");
    }
}
