//! Builtin builders: `builtin:buildenv` and `builtin:fetchurl`, as Nix 2.8
//! runs them.
//!
//! A derivation whose builder is `builtin:<name>` is built inside the
//! daemon instead of by executing a program. Nix 2.8 runs these in the
//! forked build child (inside the sandbox, after `$out` and the input
//! rewrites are set up); this module is that child's work, made a plain
//! synchronous function the daemon calls with:
//!
//! * the derivation's environment (after input rewriting, as Nix passes it);
//! * a [`BuiltinContext`]: where the store's files are on this host
//!   ([`BuiltinContext::store_root`]), where to materialise `$out`
//!   ([`BuiltinContext::out_host`]), download settings, and a log sink.
//!
//! Paths keep their *logical* (in-store) form everywhere the result can see
//! them: symlinks in a user environment point to `/nix/store/…`, and error
//! messages name `$out/…`, exactly as Nix's do. Only file system calls go
//! through the mapping to host paths; symlinks are resolved by hand in the
//! logical name space (see [`view`]) so a store mounted elsewhere behaves
//! like one at its real place.
//!
//! What this module must not do: register outputs, scan references, check
//! the output hash of its own accord or touch the store database — the
//! caller does those after [`run_builtin`] returns. [`verify_fixed_output`]
//! is offered for the hash check.
//!
//! Messages (errors and warnings) are kept in Nix's two forms: the plain
//! text a user reads, and the exact bytes (with Nix's colour codes) the
//! C++ builder writes to its log — see [`NixText`], [`BuiltinError::nix_log_text`]
//! and [`LogMessage::nix`].
//!
//! # Known differences from Nix 2.8
//!
//! * `builtin:unpack-channel` is not implemented (it fails as an unknown
//!   builtin would).
//! * Directory entries are taken in byte order, not `readdir` order: the
//!   result is the same, but with several collisions Nix may report another
//!   one first.
//! * The whole store is visible, not only the derivation's input closure as
//!   in Nix's sandbox; outside the store nothing is (by default), where
//!   Nix's sandbox would still show `/dev`, `/proc`, `/etc/passwd`, ….
//! * A malformed `derivations` attribute (which `nix-env` never writes)
//!   gets a clear error where Nix crashes or says `stoi`.
//! * fetchurl: plain HTTP and `file://` only, no proxies or netrc, the
//!   standard reason phrase in `HTTP error` messages, no resumed retries
//!   (see `builtins/fetchurl/mod.rs`).

mod buildenv;
mod error;
mod fetchurl;
mod text;
mod verify;
pub mod view;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use nix_formats::StoreDir;

pub use error::{BuiltinError, TransferErrorKind};
pub use text::NixText;
pub use verify::{VerifyError, verify_fixed_output};
pub use view::OutsideStore;

/// The builder name of the user-environment builder.
pub const BUILDENV: &str = "builtin:buildenv";
/// The builder name of the downloader.
pub const FETCHURL: &str = "builtin:fetchurl";

/// Everything a builtin builder needs besides the derivation's environment.
pub struct BuiltinContext<'a> {
    /// The logical store directory (`/nix/store`): store paths in the
    /// environment, in symlinks and in messages are below it.
    pub store_dir: StoreDir,
    /// Where the store directory's contents are on this host. On a
    /// production system this is the store's FUSE mount (normally equal to
    /// `store_dir`); tests point it at a private store's `…/nix/store`.
    pub store_root: PathBuf,
    /// Where `$out` (the environment's `out`) is materialised on this host.
    /// It must not exist yet; its parent must. The caller moves it into the
    /// store afterwards.
    pub out_host: PathBuf,
    /// What paths outside the store directory look like to the builder.
    pub outside_store: OutsideStore,
    /// `builtin:fetchurl`'s settings.
    pub fetch: FetchSettings,
    /// Receives each log message as it happens (Nix sends them to the client
    /// as `STDERR_NEXT`). They are also returned in [`BuiltinOutcome`].
    pub log: &'a dyn Fn(&LogMessage),
    /// Whose words the messages use: the nix-daemon generation of the
    /// client that started the build (default: Nix 2.8's).
    pub wording: crate::wording::Wording,
}

impl<'a> BuiltinContext<'a> {
    /// A context with Nix's default settings and a log sink that drops
    /// messages (they are still returned in [`BuiltinOutcome`]).
    pub fn new(store_dir: StoreDir, store_root: PathBuf, out_host: PathBuf) -> Self {
        BuiltinContext {
            store_dir,
            store_root,
            out_host,
            outside_store: OutsideStore::default(),
            fetch: FetchSettings::default(),
            log: &|_| {},
            wording: crate::wording::Wording::Nix2_8,
        }
    }
}

impl fmt::Debug for BuiltinContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltinContext")
            .field("store_dir", &self.store_dir)
            .field("store_root", &self.store_root)
            .field("out_host", &self.out_host)
            .field("outside_store", &self.outside_store)
            .field("fetch", &self.fetch)
            .finish_non_exhaustive()
    }
}

/// Nix's settings that `builtin:fetchurl` reads (from the daemon's
/// configuration, not from the derivation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// `hashed-mirrors`: tried first, as `<mirror>/<algo>/<base16 hash>`,
    /// for flat fixed outputs. Nix 2.8's default is empty.
    pub hashed_mirrors: Vec<String>,
    /// `download-attempts` (default 5): how often a transient failure is
    /// tried before giving up.
    pub tries: u32,
    /// First retry delay (Nix: 250 ms, doubled each attempt, plus jitter).
    pub base_retry: Duration,
    /// `connect-timeout` (0, none, by default).
    pub connect_timeout: Option<Duration>,
    /// `stalled-download-timeout` (300 s): a read that waits longer fails.
    pub stalled_timeout: Duration,
    /// `user-agent-suffix`.
    pub user_agent_suffix: String,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            hashed_mirrors: Vec::new(),
            tries: 5,
            base_retry: Duration::from_millis(250),
            connect_timeout: None,
            stalled_timeout: Duration::from_secs(300),
            user_agent_suffix: String::new(),
        }
    }
}

/// Nix's verbosity levels that builtin builders log at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `lvlWarn` (1).
    Warn = 1,
    /// `lvlDebug` (5).
    Debug = 5,
}

/// One message a builtin builder logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    /// The level Nix logs it at.
    pub level: Verbosity,
    /// The text without prefix or colour, e.g.
    /// `skipping dangling symlink '/nix/store/…-user-environment/bin/x'`.
    pub text: String,
    /// The exact message Nix's builder emits (its JSON logger's `msg`),
    /// which nix-daemon forwards to the client as one `STDERR_NEXT` line:
    /// for a warning `"\x1b[35;1mwarning:\x1b[0m " + text`.
    pub nix: String,
}

impl LogMessage {
    pub(crate) fn warn(text: String) -> Self {
        LogMessage {
            level: Verbosity::Warn,
            nix: format!("{}warning:{} {text}", text::WARNING, text::NORMAL),
            text,
        }
    }

    /// A warning whose text carries escape codes of its own (`nix` is the
    /// coloured form of `text`).
    pub(crate) fn warn_with(text: String, nix: String) -> Self {
        LogMessage {
            level: Verbosity::Warn,
            nix: format!("{}warning:{} {nix}", text::WARNING, text::NORMAL),
            text,
        }
    }

    pub(crate) fn debug(text: String, nix: String) -> Self {
        LogMessage {
            level: Verbosity::Debug,
            text,
            nix,
        }
    }
}

/// What a successful builtin build leaves besides `$out`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltinOutcome {
    /// Every message logged, in order (also given to [`BuiltinContext::log`]).
    pub log: Vec<LogMessage>,
}

/// Collects log messages and forwards them to the context's sink.
pub(crate) struct Logger<'c> {
    sink: &'c dyn Fn(&LogMessage),
    lines: Vec<LogMessage>,
}

impl<'c> Logger<'c> {
    fn new(sink: &'c dyn Fn(&LogMessage)) -> Self {
        Logger {
            sink,
            lines: Vec::new(),
        }
    }

    pub(crate) fn log(&mut self, msg: LogMessage) {
        (self.sink)(&msg);
        self.lines.push(msg);
    }
}

/// Runs the builtin builder `builder` (`builtin:buildenv`,
/// `builtin:fetchurl`) on a derivation environment, creating `$out` at
/// [`BuiltinContext::out_host`].
///
/// Anything else, including `builtin:unpack-channel`, fails like Nix fails
/// on a builtin it does not know: `unsupported builtin builder 'NAME'`.
pub fn run_builtin(
    builder: &str,
    env: &BTreeMap<String, String>,
    ctx: &BuiltinContext<'_>,
) -> Result<BuiltinOutcome, BuiltinError> {
    let mut log = Logger::new(ctx.log);
    match builder {
        BUILDENV => buildenv::run(env, ctx, &mut log)?,
        FETCHURL => fetchurl::run(env, ctx, &mut log)?,
        other => {
            let name = other.strip_prefix("builtin:").unwrap_or(other);
            return Err(BuiltinError::UnsupportedBuilder {
                name: name.to_owned(),
            });
        }
    }
    Ok(BuiltinOutcome { log: log.lines })
}

/// Nix's `getAttr` in the builtins: a required environment variable.
pub(crate) fn attr<'e>(
    env: &'e BTreeMap<String, String>,
    name: &str,
) -> Result<&'e str, BuiltinError> {
    env.get(name)
        .map(String::as_str)
        .ok_or_else(|| BuiltinError::MissingAttr {
            name: name.to_owned(),
        })
}
