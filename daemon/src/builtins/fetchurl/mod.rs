//! `builtin:fetchurl`: downloads `url` into `$out`, as Nix 2.8 does.
//!
//! Environment: `out`, `url` (required), `outputHashMode` (required: Nix
//! reads it unconditionally), `outputHash`/`outputHashAlgo` (for hashed
//! mirrors), `executable` and `unpack` (`"1"` means yes). Nix 2.8 reads no
//! other variable: `urls` (set by `<nix/fetchurl.nix>`) is for
//! `nix-prefetch-url` and ignored here, as are `impureEnvVars`.
//!
//! 1. For a flat output, each of the daemon's `hashed-mirrors` is tried
//!    first as `<mirror>/<algo>/<base16 hash>`; any failure there is logged
//!    at debug level and the next source is tried.
//! 2. Then `url`.
//!
//! Each attempt writes the data to `$out`: as a file (mode 0666 less the
//! umask), or, with `unpack`, restored from a NAR; if `url` ends in `.xz`
//! and `unpack` is set, the data is decompressed first (by content, as
//! libarchive does: gzip or xz, anything else is taken as is). With
//! `executable`, `$out` is made mode 0755. Transport failures follow Nix's
//! `FileTransfer` (see [`transfer`]): retries with back-off for transient
//! errors, and its error texts.
//!
//! Not supported (yet): `https://` (no TLS stack is linked; Nix does not
//! verify TLS for fixed outputs anyway, so a TLS client without verification
//! would do), proxies (`http_proxy` …), the `netrc-file`, `s3://`, the
//! `Content-Encoding` `br`, and decompressing bzip2/zstd/lzip; each gives
//! a clear error.

mod decode;
mod pipe;
pub(crate) mod transfer;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::nar;

use super::error::BuiltinError;
use super::text::NixText;
use super::{BuiltinContext, LogMessage, Logger, attr};
use transfer::{Request, Transfer};

pub(crate) fn run(
    env: &BTreeMap<String, String>,
    ctx: &BuiltinContext<'_>,
    log: &mut Logger<'_>,
) -> Result<(), BuiltinError> {
    let job = Job {
        out: attr(env, "out")?,
        main_url: attr(env, "url")?,
        unpack: env.get("unpack").is_some_and(|v| v == "1"),
        executable: env.get("executable").is_some_and(|v| v == "1"),
        host: &ctx.out_host,
        wording: ctx.wording,
        attempted: Cell::new(false),
    };
    let transfer = Transfer::new(&ctx.fetch, ctx.wording);

    if attr(env, "outputHashMode")? == "flat" {
        for mirror in &ctx.fetch.hashed_mirrors {
            let attempt =
                mirror_url(mirror, env, log).and_then(|url| job.fetch(&transfer, &url, log));
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) => log.log(LogMessage::debug(e.text().what_plain(), e.nix_log_text())),
            }
        }
    }

    job.fetch(&transfer, job.main_url, log)
}

/// `<mirror>/<algo>/<base16 hash>` for the derivation's output hash.
fn mirror_url(
    mirror: &str,
    env: &BTreeMap<String, String>,
    log: &mut Logger<'_>,
) -> Result<String, BuiltinError> {
    let mut url = mirror.to_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    let algo = attr(env, "outputHashAlgo")?.parse::<HashAlgo>().ok();
    let hash = hash_allow_empty(attr(env, "outputHash")?, algo, log)?;
    Ok(format!("{url}{}/{}", hash.algo(), hash.to_base16()))
}

/// Nix's `newHashAllowEmpty`: an empty hash is all zeros (with a warning).
fn hash_allow_empty(
    s: &str,
    algo: Option<HashAlgo>,
    log: &mut Logger<'_>,
) -> Result<Hash, BuiltinError> {
    if s.is_empty() {
        let algo = algo.ok_or_else(|| BuiltinError::BadHash {
            detail: "empty hash requires explicit hash type".to_owned(),
        })?;
        let hash = Hash::from_digest(algo, &vec![0; algo.size()]);
        log.log(LogMessage::warn(format!(
            "found empty hash, assuming '{}'",
            hash.to_sri()
        )));
        return Ok(hash);
    }
    Hash::parse_any(s, algo).map_err(|e| BuiltinError::BadHash {
        detail: e.to_string(),
    })
}

/// What one `builtin:fetchurl` run writes.
struct Job<'a> {
    /// `$out`, as messages name it.
    out: &'a str,
    /// `url`: its suffix decides about decompression for every source.
    main_url: &'a str,
    unpack: bool,
    executable: bool,
    /// Where `$out` goes on this host.
    host: &'a Path,
    /// Whether an earlier attempt may have left something at `host`.
    attempted: Cell<bool>,
    wording: crate::wording::Wording,
}

impl Job<'_> {
    /// Nix's `fetch(url)` lambda: download, write `$out`, set the mode.
    fn fetch(
        &self,
        transfer: &Transfer,
        url: &str,
        log: &mut Logger<'_>,
    ) -> Result<(), BuiltinError> {
        if self.attempted.replace(true) {
            remove_partial(self.host);
        }
        let request = Request {
            url,
            decompress: self.unpack && self.main_url.ends_with(".xz"),
        };
        if self.unpack {
            self.fetch_nar(transfer, &request, log)?;
        } else {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o666)
                .open(self.host)
                .map_err(|e| self.sys("opening file '", "'", e))?;
            // From Nix 2.12, `writeFile` adds a trace to what fails while
            // the file is written (not to opening it).
            let written = transfer.download(&request, &mut file, log).and_then(|()| {
                file.flush()
                    .map_err(|e| self.sys("writing to file '", "'", e))
            });
            written.map_err(|e| match self.wording {
                crate::wording::Wording::Nix2_8 => e,
                _ => e.traced(NixText::new().lit("writing file '").arg(self.out).lit("'")),
            })?;
        }
        if self.executable {
            fs::set_permissions(self.host, Permissions::from_mode(0o755))
                .map_err(|e| self.sys("making '", "' executable", e))?;
        }
        Ok(())
    }

    /// Downloads on this thread while another restores the NAR from it.
    fn fetch_nar(
        &self,
        transfer: &Transfer,
        request: &Request<'_>,
        log: &mut Logger<'_>,
    ) -> Result<(), BuiltinError> {
        let (mut writer, reader) = pipe::pipe();
        std::thread::scope(|scope| {
            let restorer = scope.spawn(|| nar::restore(BufReader::new(reader), self.host));
            let downloaded = transfer.download(request, &mut writer, log);
            drop(writer);
            let restored = restorer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            match (downloaded, restored) {
                // The restorer stopped reading: its error is the cause.
                (Err(e), Err(source)) if is_hang_up(&e) => Err(BuiltinError::Unpack {
                    url: request.url.to_owned(),
                    source,
                }),
                (Err(e), _) => Err(e),
                (Ok(()), Err(source)) => Err(BuiltinError::Unpack {
                    url: request.url.to_owned(),
                    source,
                }),
                (Ok(()), Ok(_)) => Ok(()),
            }
        })
    }

    fn sys(&self, before: &str, after: &str, e: io::Error) -> BuiltinError {
        BuiltinError::sys(NixText::new().lit(before).arg(self.out).lit(after), e)
    }
}

/// Whether a download failed only because the NAR reader went away.
fn is_hang_up(e: &BuiltinError) -> bool {
    matches!(e, BuiltinError::Sys { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

/// Removes what an earlier attempt (a hashed mirror) left at `path`.
fn remove_partial(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            // Restored directories may lack the write bit; nothing else
            // can be done about a failure here: the restore reports it.
            make_writable(path);
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

fn make_writable(dir: &Path) {
    let _ = fs::set_permissions(dir, Permissions::from_mode(0o755));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&entry.path());
            }
        }
    }
}
