//! Turning what a builder left on disk into valid store paths: dump each
//! output as a NAR (which canonicalises it: only contents, symlinks and the
//! executable bit survive), scan it for references, check fixed-output
//! hashes, import it into blocks and register it — all in one streaming
//! pass.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use nix_formats::content_address::{ContentAddress, FileIngestionMethod};
use nix_formats::hash::{Hash, Hasher};
use nix_formats::store_path::{StoreDir, StorePath};
use store_ipfs::store::{NewPath, Prepared, Store, StoreError};

use super::refs::RefScanner;

/// Why an output could not be registered (Nix's messages).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("builder for '{drv}' failed to produce output path for output '{output}' at '{path}'")]
    Missing {
        drv: String,
        output: String,
        path: String,
    },
    #[error(
        "hash mismatch in fixed-output derivation '{drv}':\n  specified: {specified}\n     got:    {got}"
    )]
    HashMismatch {
        drv: String,
        specified: String,
        got: String,
    },
    #[error("fixed-output derivation '{drv}' produced an output that refers to other store paths")]
    FixedWithRefs { drv: String },
    #[error("output of '{drv}' is not a regular file, as a flat fixed-output derivation requires")]
    NotFlat { drv: String },
    #[error("reading output '{path}'")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A `BufRead` that shows every consumed byte to a scanner and a hasher.
struct Watch<R> {
    inner: R,
    scan: std::sync::Arc<std::sync::Mutex<(RefScanner, Option<Hasher>)>>,
}

impl<R: BufRead> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut g = self.scan.lock().expect("scan lock");
        g.0.update(&buf[..n]);
        if let Some(h) = &mut g.1 {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Watch<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(b) = self.inner.fill_buf() {
            let b = &b[..amt.min(b.len())];
            let mut g = self.scan.lock().expect("scan lock");
            g.0.update(b);
            if let Some(h) = &mut g.1 {
                h.update(b);
            }
        }
        self.inner.consume(amt);
    }
}

/// One output to register.
#[derive(Debug)]
pub struct Output<'a> {
    pub name: &'a str,
    pub path: StorePath,
    /// Where the builder left it on the host.
    pub host: &'a Path,
    /// Where Nix says it looked for it when it is missing: inside the
    /// chroot (`<drv path>.chroot<out path>`) for sandboxed builds, the
    /// output path itself otherwise.
    pub looked_at: String,
    /// For fixed outputs: how it is hashed and what it must hash to.
    pub fixed: Option<(FileIngestionMethod, Hash)>,
}

/// Imports one output (not registered yet); `candidates` are the paths it
/// may refer to. A fixed output whose hash is wrong is still imported, at
/// the path its real hash gives (as Nix 2.8 registers it), and the error is
/// returned beside it.
pub fn prepare_output(
    st: &Store,
    sd: &StoreDir,
    drv_path: &StorePath,
    out: &Output<'_>,
    candidates: &BTreeSet<StorePath>,
) -> Result<(Prepared, Option<OutputError>), OutputError> {
    let shown_drv = sd.display(drv_path);
    let shown = sd.display(&out.path);
    if std::fs::symlink_metadata(out.host).is_err() {
        return Err(OutputError::Missing {
            drv: shown_drv,
            output: out.name.to_owned(),
            path: out.looked_at.clone(),
        });
    }
    let mismatch: std::cell::RefCell<Option<OutputError>> = std::cell::RefCell::new(None);
    let mut path = out.path.clone();
    let mut ca = None;
    // Flat fixed outputs hash the file's bytes.
    if let Some((FileIngestionMethod::Flat, want)) = &out.fixed {
        let meta = std::fs::symlink_metadata(out.host).map_err(|source| OutputError::Io {
            path: shown.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(OutputError::NotFlat { drv: shown_drv });
        }
        let mut h = Hasher::new(want.algo());
        let mut f = std::fs::File::open(out.host).map_err(|source| OutputError::Io {
            path: shown.clone(),
            source,
        })?;
        std::io::copy(&mut f, &mut h).map_err(|source| OutputError::Io {
            path: shown.clone(),
            source,
        })?;
        let got = h.finish();
        if got != *want {
            *mismatch.borrow_mut() = Some(OutputError::HashMismatch {
                drv: shown_drv.clone(),
                specified: want.to_sri(),
                got: got.to_sri(),
            });
            path = sd
                .make_fixed_output_path(
                    out.path.name(),
                    FileIngestionMethod::Flat,
                    &got,
                    &BTreeSet::new(),
                    false,
                )
                .map_err(|e| OutputError::Io {
                    path: shown.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        ca = Some(ContentAddress::Fixed {
            method: FileIngestionMethod::Flat,
            hash: got,
        });
    }
    let (mut pipe_r, pipe_w) = std::io::pipe().map_err(|source| OutputError::Io {
        path: shown.clone(),
        source,
    })?;
    let host = out.host.to_owned();
    let dumper = std::thread::spawn(move || {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, pipe_w);
        let r = nix_formats::nar::dump(&host, &mut w);
        drop(w);
        r
    });
    let mut cands = candidates.clone();
    cands.insert(out.path.clone());
    let nar_algo = match &out.fixed {
        Some((FileIngestionMethod::Recursive, want)) => Some(Hasher::new(want.algo())),
        _ => None,
    };
    let scan = std::sync::Arc::new(std::sync::Mutex::new((RefScanner::new(cands), nar_algo)));
    let input = Watch {
        inner: BufReader::with_capacity(1 << 20, &mut pipe_r),
        scan: scan.clone(),
    };
    let fixed = out.fixed;
    let result = st.prepare_nar(input, &shown, |_imp| {
        let g = scan.lock().expect("scan lock");
        let refs = g.0.found().clone();
        if let Some((FileIngestionMethod::Recursive, want)) = &fixed {
            let got =
                g.1.clone()
                    .expect("recursive fixed outputs are hashed")
                    .finish();
            if got != *want {
                *mismatch.borrow_mut() = Some(OutputError::HashMismatch {
                    drv: shown_drv.clone(),
                    specified: want.to_sri(),
                    got: got.to_sri(),
                });
                path = sd
                    .make_fixed_output_path(
                        path.name(),
                        FileIngestionMethod::Recursive,
                        &got,
                        &BTreeSet::new(),
                        false,
                    )
                    .map_err(|e| StoreError::Nar {
                        path: shown_drv.clone(),
                        source: Box::new(e),
                    })?;
            }
            ca = Some(ContentAddress::Fixed {
                method: FileIngestionMethod::Recursive,
                hash: got,
            });
        }
        if fixed.is_some() && !refs.is_empty() {
            return Err(StoreError::Nar {
                path: shown_drv.clone(),
                source: "fixed-output derivations must not reference store paths".into(),
            });
        }
        Ok(NewPath {
            path: path.clone(),
            references: refs,
            deriver: Some(drv_path.clone()),
            ultimate: true,
            sigs: BTreeSet::new(),
            ca,
            nar_hash: None,
            nar_size: None,
        })
    });
    let dumped = dumper.join().map_err(|_| OutputError::Io {
        path: shown.clone(),
        source: std::io::Error::other("NAR dump thread panicked"),
    })?;
    dumped.map_err(|e| OutputError::Io {
        path: shown.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let prepared = result?;
    Ok((prepared, mismatch.into_inner()))
}
