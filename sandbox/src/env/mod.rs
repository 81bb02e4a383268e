//! The builder's argv and environment, computed from a derivation as Nix 2.8
//! does (`LocalDerivationGoal::initEnv`, `initTmpDir`,
//! `writeStructuredAttrs` and the `exportReferencesGraph` handling in
//! `startBuilder`).
//!
//! This is pure: it returns the environment and the files Nix writes into
//! the build directory; [`BuilderInvocation::write_files`] writes them.
//!
//! Precedence, as in 2.8 (later wins):
//! 1. `PATH=/path-not-set`, `HOME=/homeless-shelter`, `NIX_STORE`,
//!    `NIX_BUILD_CORES`;
//! 2. the derivation's environment (unless it uses structured attributes),
//!    where each variable named in `passAsFile` is instead written to
//!    `<build dir>/.attr-<nix32 sha256 of its name>` and `<name>Path` points
//!    there;
//! 3. `NIX_BUILD_TOP`, `TMPDIR`, `TEMPDIR`, `TMP`, `TEMP`, `PWD` = the
//!    sandbox build directory;
//! 4. `NIX_OUTPUT_CHECKED=1` for fixed-output derivations;
//! 5. for derivations that are not sandboxed (fixed-output, impure), each
//!    variable in `impureEnvVars` taken from the daemon's environment (empty
//!    if unset);
//! 6. `NIX_LOG_FD=2`, `TERM=xterm-256color`;
//! 7. with structured attributes (`__json`), `.attrs.json` and `.attrs.sh`
//!    and `NIX_ATTRS_JSON_FILE` / `NIX_ATTRS_SH_FILE`. Nix 2.8 points these
//!    two at the *host* build directory, not the sandbox one; we do the same.
//!
//! Output placeholders (`/<nix32 sha256 "nix-output:<name>">`) are replaced
//! by the output paths in the environment, the arguments and the files.

mod structured;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix_formats::Hash;
use nix_formats::derivation::{Derivation, DerivationType, DerivationTypeError};
use thiserror::Error;

use crate::spec::BuildSpec;

/// Where a derivation's builder runs, and what Nix needs that the
/// derivation does not say.
#[derive(Debug, Clone)]
pub struct EnvConfig {
    /// `NIX_STORE`.
    pub store_dir: String,
    /// `NIX_BUILD_CORES` (Nix's `cores`).
    pub cores: u32,
    /// Nix's `sandbox-build-dir`: the build directory as the builder sees it.
    pub sandbox_build_dir: String,
    /// The build directory on the host (2.8 names it in `NIX_ATTRS_*_FILE`).
    pub host_build_dir: PathBuf,
    /// Output name → the store path the builder creates for it. Used to
    /// replace output placeholders.
    pub outputs: BTreeMap<String, String>,
    /// The daemon's own environment, read for `impureEnvVars` of
    /// fixed-output derivations.
    pub host_env: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl EnvConfig {
    /// Nix 2.8's defaults: `/nix/store`, one core, `/build`, no outputs and
    /// an empty daemon environment.
    pub fn new(host_build_dir: impl Into<PathBuf>) -> Self {
        EnvConfig {
            store_dir: "/nix/store".to_owned(),
            cores: 1,
            sandbox_build_dir: "/build".to_owned(),
            host_build_dir: host_build_dir.into(),
            outputs: BTreeMap::new(),
            host_env: BTreeMap::new(),
        }
    }
}

/// What the store must answer for `exportReferencesGraph` (the sandbox has
/// no store access of its own).
pub trait ReferencesGraph {
    /// Nix's `makeValidityRegistration(exportReferences({path}, inputs),
    /// false, false)`: the closure of `path` in `nix-store
    /// --register-validity` format, deriver fields empty.
    fn registration(&self, store_path: &str) -> Result<Vec<u8>, String>;
    /// Nix's `pathInfoToJSON(exportReferences(paths, inputs), false, true)`.
    fn path_info_json(&self, store_paths: &[String]) -> Result<serde_json::Value, String>;
}

/// A file Nix writes into the build directory before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDirFile {
    /// Name within the build directory (no `/`).
    pub name: String,
    pub contents: Vec<u8>,
    /// Whether Nix chowns it to the build user (`passAsFile` and
    /// structured-attrs files are; `exportReferencesGraph` files are not).
    pub owned_by_builder: bool,
}

/// The builder program, its arguments and environment, and the files to
/// put in the build directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderInvocation {
    pub builder: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    /// Sorted by name, which is the order Nix passes it to `execve`.
    pub env: BTreeMap<Vec<u8>, Vec<u8>>,
    pub files: Vec<BuildDirFile>,
    /// False when Nix sandboxes the network (everything but fixed-output
    /// and impure derivations).
    pub network: bool,
}

/// Why Nix would refuse to start this builder.
#[derive(Debug, Error)]
pub enum EnvError {
    #[error("invalid derivation: {0}")]
    Type(#[from] DerivationTypeError),
    #[error("cannot process __json attribute: {0}")]
    BadJson(#[source] serde_json::Error),
    #[error("the __json attribute is not a JSON object")]
    JsonNotObject,
    #[error("attribute '{0}' must be a list of strings")]
    NotStrings(String),
    #[error("odd number of tokens in 'exportReferencesGraph': '{0}'")]
    OddExportTokens(String),
    #[error("invalid file name '{0}' in 'exportReferencesGraph'")]
    BadExportName(String),
    #[error("'exportReferencesGraph' contains a non-store path '{0}'")]
    ExportNotInStore(String),
    #[error("'exportReferencesGraph' needs store access, and none was given")]
    NoReferencesGraph,
    #[error("exportReferencesGraph of '{path}': {message}")]
    ReferencesGraph { path: String, message: String },
}

/// Nix's `hashPlaceholder(output)`.
pub fn hash_placeholder(output: &str) -> String {
    let h = Hash::sha256(format!("nix-output:{output}").as_bytes());
    format!("/{}", h.to_nix32())
}

/// Computes what Nix 2.8 would execute for `drv`. `refs` answers
/// `exportReferencesGraph`; without it such derivations are refused.
pub fn builder_invocation(
    drv: &Derivation,
    cfg: &EnvConfig,
    refs: Option<&dyn ReferencesGraph>,
) -> Result<BuilderInvocation, EnvError> {
    let dtype = drv.derivation_type()?;
    let sandboxed = match dtype {
        DerivationType::InputAddressed { .. } => true,
        DerivationType::ContentAddressed { fixed } => !fixed,
        DerivationType::Impure => false,
    };
    let rewrites = Rewrites::new(&cfg.outputs);
    let attrs = structured::parse(drv)?;

    let mut env: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let set = |env: &mut BTreeMap<Vec<u8>, Vec<u8>>, k: &str, v: &[u8]| {
        env.insert(k.as_bytes().to_vec(), v.to_vec());
    };
    set(&mut env, "PATH", b"/path-not-set");
    set(&mut env, "HOME", b"/homeless-shelter");
    set(&mut env, "NIX_STORE", cfg.store_dir.as_bytes());
    set(
        &mut env,
        "NIX_BUILD_CORES",
        cfg.cores.to_string().as_bytes(),
    );

    let mut files = Vec::new();
    if attrs.is_none() {
        let pass_as_file: BTreeSet<&[u8]> = drv
            .env_var("passAsFile")
            .map(|v| tokenize(v).collect())
            .unwrap_or_default();
        for (k, v) in &drv.env {
            if !pass_as_file.contains(k.as_bytes()) {
                env.insert(k.to_vec(), v.to_vec());
                continue;
            }
            let name = format!(".attr-{}", Hash::sha256(k).to_nix32());
            let mut var = k.to_vec();
            var.extend_from_slice(b"Path");
            env.insert(
                var,
                format!("{}/{name}", cfg.sandbox_build_dir).into_bytes(),
            );
            files.push(BuildDirFile {
                name,
                contents: rewrites.apply(v),
                owned_by_builder: true,
            });
        }
    }

    let top = cfg.sandbox_build_dir.as_bytes();
    for k in ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"] {
        set(&mut env, k, top);
    }
    if dtype.is_fixed() {
        set(&mut env, "NIX_OUTPUT_CHECKED", b"1");
    }
    if !sandboxed {
        for name in strings_attr(drv, attrs.as_ref(), "impureEnvVars")? {
            let value = cfg.host_env.get(&name).cloned().unwrap_or_default();
            env.insert(name, value);
        }
    }
    set(&mut env, "NIX_LOG_FD", b"2");
    set(&mut env, "TERM", b"xterm-256color");

    match attrs {
        Some(attrs) => {
            let written = structured::write(attrs, drv, &rewrites, refs)?;
            let host = cfg.host_build_dir.as_os_str().as_bytes();
            for (var, file) in [
                ("NIX_ATTRS_SH_FILE", ".attrs.sh"),
                ("NIX_ATTRS_JSON_FILE", ".attrs.json"),
            ] {
                let mut v = host.to_vec();
                v.push(b'/');
                v.extend_from_slice(file.as_bytes());
                set(&mut env, var, &v);
            }
            files.extend(written);
        }
        None => files.extend(export_references_graph(drv, cfg, refs)?),
    }

    let env = env
        .into_iter()
        .map(|(k, v)| (rewrites.apply(&k), rewrites.apply(&v)))
        .collect();
    Ok(BuilderInvocation {
        builder: drv.builder.to_vec(),
        args: drv.args.iter().map(|a| rewrites.apply(a)).collect(),
        env,
        files,
        network: !sandboxed,
    })
}

impl BuilderInvocation {
    /// Writes [`Self::files`] into the host build directory, chowning those
    /// Nix chowns to the build user.
    pub fn write_files(&self, build_dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
        for f in &self.files {
            let path = build_dir.join(&f.name);
            std::fs::write(&path, &f.contents)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
            if f.owned_by_builder {
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
            }
        }
        Ok(())
    }

    /// Puts builder, arguments, environment and network mode into `spec`.
    pub fn apply_to(&self, spec: &mut BuildSpec) {
        spec.builder = self.builder.clone();
        spec.args = self.args.clone();
        spec.env = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        spec.network = self.network;
    }
}

/// Nix's `rewriteStrings` with the output placeholders.
pub(crate) struct Rewrites(Vec<(Vec<u8>, Vec<u8>)>);

impl Rewrites {
    fn new(outputs: &BTreeMap<String, String>) -> Self {
        // Nix keeps them in a std::map, so they apply in placeholder order.
        let map: BTreeMap<Vec<u8>, Vec<u8>> = outputs
            .iter()
            .map(|(name, path)| {
                (
                    hash_placeholder(name).into_bytes(),
                    path.as_bytes().to_vec(),
                )
            })
            .collect();
        Rewrites(map.into_iter().filter(|(a, b)| a != b).collect())
    }

    pub(crate) fn apply(&self, s: &[u8]) -> Vec<u8> {
        let mut s = s.to_vec();
        for (from, to) in &self.0 {
            let mut at = 0;
            while let Some(i) = find(&s[at..], from) {
                let start = at + i;
                s.splice(start..start + from.len(), to.iter().copied());
                at = start + to.len();
            }
        }
        s
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Nix's `tokenizeString` with its default separators.
fn tokenize(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .filter(|t| !t.is_empty())
}

/// Nix's `ParsedDerivation::getStringsAttr`.
fn strings_attr(
    drv: &Derivation,
    attrs: Option<&serde_json::Map<String, serde_json::Value>>,
    name: &str,
) -> Result<Vec<Vec<u8>>, EnvError> {
    match attrs {
        Some(attrs) => match attrs.get(name) {
            None => Ok(Vec::new()),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s.as_bytes().to_vec()),
                    _ => Err(EnvError::NotStrings(name.to_owned())),
                })
                .collect(),
            Some(_) => Err(EnvError::NotStrings(name.to_owned())),
        },
        None => Ok(drv
            .env_var(name)
            .map(|v| tokenize(v).map(<[u8]>::to_vec).collect())
            .unwrap_or_default()),
    }
}

/// The non-structured `exportReferencesGraph`: `name1 path1 name2 path2 …`.
fn export_references_graph(
    drv: &Derivation,
    cfg: &EnvConfig,
    refs: Option<&dyn ReferencesGraph>,
) -> Result<Vec<BuildDirFile>, EnvError> {
    let Some(value) = drv.env_var("exportReferencesGraph") else {
        return Ok(Vec::new());
    };
    let text = value.to_str_lossy();
    let tokens: Vec<&str> = text
        .split([' ', '\t', '\n', '\r'])
        .filter(|t| !t.is_empty())
        .collect();
    if !tokens.len().is_multiple_of(2) {
        return Err(EnvError::OddExportTokens(text.into_owned()));
    }
    let mut files = Vec::new();
    for pair in tokens.chunks(2) {
        let (name, path) = (pair[0], pair[1]);
        if !is_export_name(name) {
            return Err(EnvError::BadExportName(name.to_owned()));
        }
        let store_path = to_store_path(&cfg.store_dir, path)
            .ok_or_else(|| EnvError::ExportNotInStore(path.to_owned()))?;
        let refs = refs.ok_or(EnvError::NoReferencesGraph)?;
        let contents =
            refs.registration(&store_path)
                .map_err(|message| EnvError::ReferencesGraph {
                    path: store_path.clone(),
                    message,
                })?;
        files.push(BuildDirFile {
            name: name.to_owned(),
            contents,
            owned_by_builder: false,
        });
    }
    Ok(files)
}

/// `[A-Za-z_][A-Za-z0-9_.-]*`
fn is_export_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Nix's `isInStore` + `toStorePath`: the store path a path lies in.
pub(crate) fn to_store_path(store_dir: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix(store_dir)?.strip_prefix('/')?;
    let base = rest.split('/').next().filter(|b| !b.is_empty())?;
    Some(format!("{store_dir}/{base}"))
}

#[cfg(test)]
mod tests;
