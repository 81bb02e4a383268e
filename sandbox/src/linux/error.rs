//! The helper's one error type: what it was doing, and the system's answer.

use std::io;
use std::path::Path;

use thiserror::Error;

/// A step of setting up or running the sandbox failed.
#[derive(Debug, Error)]
#[error("{what}")]
pub struct SetupError {
    /// What failed, naming the paths involved (Nix's wording where it has one).
    pub what: String,
    #[source]
    pub source: Option<io::Error>,
}

impl SetupError {
    pub(crate) fn new(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        SetupError {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn msg(what: impl Into<String>) -> Self {
        SetupError {
            what: what.into(),
            source: None,
        }
    }

    /// The one line the helper prints after `sandbox: `.
    pub fn line(&self) -> String {
        match &self.source {
            Some(e) => format!("{}: {e}", self.what),
            None => self.what.clone(),
        }
    }
}

/// `result.map_err(|e| SetupError::new(what, e))` with the message built
/// only on failure.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, SetupError>;
}

impl<T, E: Into<io::Error>> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|e| SetupError::new(what(), e))
    }
}

/// `'path'` for messages.
pub(crate) fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}
