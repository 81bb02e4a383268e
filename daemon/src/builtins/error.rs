//! Why a builtin builder failed, worded as Nix 2.8 words it.

use std::fmt;
use std::io;

use nix_formats::nar::RestoreError;

use super::text::NixText;

/// How a download failed, as Nix's `FileTransfer::Error` classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferErrorKind {
    /// 404, 410, or a `file://` file that cannot be read.
    NotFound,
    /// 401, 403, 407.
    Forbidden,
    /// Not worth retrying (most 4xx, 501, 505, 511, bad URLs, …).
    Misc,
    /// Worth retrying (connection failures, timeouts, most 5xx, 408, 429).
    Transient,
}

/// A builtin builder's failure. `Display` gives the message a user reads
/// (Nix's text without escape codes, without the `error: ` prefix);
/// [`BuiltinError::nix_log_text`] gives the exact line Nix's builder logs.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuiltinError {
    /// `unsupported builtin builder 'NAME'`.
    UnsupportedBuilder { name: String },
    /// `attribute 'NAME' missing`: a required environment variable.
    MissingAttr { name: String },
    /// The `derivations` attribute of `builtin:buildenv` is malformed (Nix
    /// 2.8 trusts it; it crashes or reads past the end on such input).
    BadDerivations { detail: String },
    /// Two files with the same priority claim one name in the profile.
    SamePriority {
        /// The file being added.
        path: String,
        /// What the existing link points to.
        existing: String,
        priority: i32,
    },
    /// A directory collides with a link to something that is not one.
    CollisionWithNonDirectory { path: String, target: String },
    /// A file collides with a merged directory.
    CollisionWithDirectory { path: String, directory: String },
    /// `infinite symlink recursion in path '…'` from Nix's `canonPath`.
    SymlinkLoop { rest: String },
    /// A system call failed (`SysError`): what was being done, and why.
    Sys { context: NixText, source: io::Error },
    /// A download failed (`FileTransferError`).
    Download {
        kind: TransferErrorKind,
        /// The whole message, response body included when Nix includes it.
        message: NixText,
    },
    /// The downloaded data is not a NAR that can be unpacked.
    Unpack { url: String, source: RestoreError },
    /// The downloaded data could not be decompressed.
    Decompress { url: String, source: io::Error },
    /// The hash given for a hashed mirror is unusable.
    BadHash { detail: String },
    /// Another error with a trace line Nix's newer releases add (`… writing
    /// file '…'`), shown above it.
    Traced {
        trace: NixText,
        error: Box<BuiltinError>,
    },
}

impl BuiltinError {
    pub(crate) fn sys(context: NixText, source: io::Error) -> Self {
        BuiltinError::Sys { context, source }
    }

    /// The message as Nix structures it.
    pub fn text(&self) -> NixText {
        use BuiltinError as E;
        match self {
            E::UnsupportedBuilder { name } => NixText::new()
                .lit("unsupported builtin builder '")
                .arg(name)
                .lit("'"),
            E::MissingAttr { name } => NixText::new().lit("attribute '").arg(name).lit("' missing"),
            E::BadDerivations { detail } => NixText::new()
                .lit("malformed attribute '")
                .arg("derivations")
                .lit("': ")
                .arg(detail),
            E::SamePriority {
                path,
                existing,
                priority,
            } => NixText::new()
                .lit("packages '")
                .arg(path)
                .lit("' and '")
                .arg(existing)
                .lit("' have the same priority ")
                .arg(priority)
                .lit(
                    "; use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME' \
                     to change the priority of one of the conflicting packages \
                     (0 being the highest priority)",
                ),
            E::CollisionWithNonDirectory { path, target } => NixText::new()
                .lit("collision between '")
                .arg(path)
                .lit("' and non-directory '")
                .arg(target)
                .lit("'"),
            E::CollisionWithDirectory { path, directory } => NixText::new()
                .lit("collision between non-directory '")
                .arg(path)
                .lit("' and directory '")
                .arg(directory)
                .lit("'"),
            E::SymlinkLoop { rest } => NixText::new()
                .lit("infinite symlink recursion in path '")
                .arg(rest)
                .lit("'"),
            E::Sys { context, source } => context.clone().sys(source),
            E::Download { message, .. } => message.clone(),
            E::Unpack { url, source } => NixText::new()
                .lit("unpacking the NAR downloaded from '")
                .arg(url)
                .lit("': ")
                .arg(error_chain(source)),
            E::Decompress { url, source } => NixText::new()
                .lit("decompressing '")
                .arg(url)
                .lit("': ")
                .arg(source),
            E::BadHash { detail } => NixText::plain_string(detail.clone()),
            E::Traced { error, .. } => error.text(),
        }
    }

    /// `self` with `trace` shown above it (as Nix's `addTrace`).
    pub(crate) fn traced(self, trace: NixText) -> Self {
        BuiltinError::Traced {
            trace,
            error: Box::new(self),
        }
    }

    /// Exactly what Nix's builder writes to the build log for this error
    /// (`e.what()`, escape codes included, no final newline).
    pub fn nix_log_text(&self) -> String {
        match self {
            BuiltinError::Traced { trace, error } => error.text().what_traced(trace),
            _ => self.text().what(),
        }
    }
}

impl fmt::Display for BuiltinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text().plain())
    }
}

impl std::error::Error for BuiltinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuiltinError::Sys { source, .. } | BuiltinError::Decompress { source, .. } => {
                Some(source)
            }
            BuiltinError::Unpack { source, .. } => Some(source),
            BuiltinError::Traced { error, .. } => error.source(),
            _ => None,
        }
    }
}

/// An error and its sources, `": "`-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
