//! `builtin:fetchurl` against the real thing: the same fixed-output
//! derivations (made by Nix 2.8's own `<nix/fetchurl.nix>`) are built by
//! `nix-build` in a private store and by ours, from a server on 127.0.0.1
//! or from `file://`; the outputs must have the same NAR, and failures
//! Nix's messages.

#![allow(clippy::unwrap_used)]

mod builtins_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use builtins_support::http::{Route, Server};
use builtins_support::{NixSandbox, out_path, stderr};
use daemon::builtins::{BuiltinError, TransferErrorKind, Verbosity, verify_fixed_output};
use nix_formats::derivation::DerivationOutput;
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::nar;

const FILE: &[u8] = b"hello fetch\n";
const TOOL: &[u8] = b"#!/bin/sh\necho hi\n";

struct Fixture {
    sb: NixSandbox,
    server: Server,
}

fn sha256(data: &[u8]) -> String {
    Hash::of_bytes(HashAlgo::Sha256, data).to_base16()
}

/// A NAR of a small tree: a file, an executable, a symlink, a directory.
fn sample_nar(dir: &Path) -> Vec<u8> {
    let tree = dir.join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("README"), "read me\n").unwrap();
    fs::write(tree.join("sub/run"), TOOL).unwrap();
    fs::set_permissions(tree.join("sub/run"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("sub/run", tree.join("link")).unwrap();
    let mut nar = Vec::new();
    nar::dump(&tree, &mut nar).unwrap();
    nar
}

/// The NAR hash of a single executable file holding `data`.
fn executable_nar_hash(dir: &Path, data: &[u8]) -> String {
    let file = dir.join("exe");
    fs::write(&file, data).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
    nar::hash_path(HashAlgo::Sha256, &file)
        .unwrap()
        .0
        .to_base16()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
    out
}

impl Fixture {
    fn new() -> Fixture {
        let sb = NixSandbox::new("");
        let data = sb.path("data");
        fs::create_dir_all(&data).unwrap();
        let nar = sample_nar(&data);
        fs::write(data.join("file.txt"), FILE).unwrap();

        let mut routes = BTreeMap::new();
        routes.insert("/file.txt".to_owned(), Route::ok(FILE));
        routes.insert("/redirect".to_owned(), Route::redirect("/file.txt"));
        routes.insert("/loop".to_owned(), Route::redirect("/loop"));
        routes.insert("/tool.sh".to_owned(), Route::ok(TOOL));
        routes.insert("/pkg.nar".to_owned(), Route::ok(nar.clone()));
        routes.insert("/pkg.nar.xz".to_owned(), Route::ok(xz(&nar)));
        routes.insert(
            "/gz".to_owned(),
            Route::ok(gzip(FILE)).header("Content-Encoding", "gzip"),
        );
        routes.insert(
            "/missing".to_owned(),
            Route::status(404, "Not Found", "<html><body>no such file</body></html>\n"),
        );
        routes.insert("/forbidden".to_owned(), Route::status(403, "Forbidden", ""));
        routes.insert(
            "/flaky".to_owned(),
            Route::status(503, "Service Unavailable", "try later\n"),
        );
        routes.insert(format!("/mirror/sha256/{}", sha256(FILE)), Route::ok(FILE));
        let server = Server::start(routes);

        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/x", l.local_addr().unwrap())
        };
        let file_url = format!("file://{}", data.join("file.txt").display());
        let file_missing = format!("file://{}", data.join("nope").display());
        let u = |p: &str| server.url(p);
        let flat = sha256(FILE);
        let exe = executable_nar_hash(&data, TOOL);
        let nar_hash = sha256(&nar);
        let expr = format!(
            r#"
let f = args: import <nix/fetchurl.nix> args; in {{
  flat = f {{ url = "{file}"; sha256 = "{flat}"; }};
  redirect = f {{ url = "{redirect}"; sha256 = "{flat}"; name = "redirected"; }};
  executable = f {{ url = "{tool}"; sha256 = "{exe}"; executable = true; }};
  unpack = f {{ url = "{pkg}"; sha256 = "{nar_hash}"; unpack = true; }};
  unpackXz = f {{ url = "{pkg_xz}"; sha256 = "{nar_hash}"; unpack = true; }};
  gzipEncoded = f {{ url = "{gz}"; sha256 = "{flat}"; }};
  fileUrl = f {{ url = "{file_url}"; sha256 = "{flat}"; }};
  mirrored = f {{ url = "{missing}"; sha256 = "{flat}"; name = "mirrored"; }};
  missing = f {{ url = "{missing}"; sha256 = "{flat}"; }};
  forbidden = f {{ url = "{forbidden}"; sha256 = "{flat}"; }};
  loop = f {{ url = "{loop_}"; sha256 = "{flat}"; }};
  refused = f {{ url = "{refused}"; sha256 = "{flat}"; }};
  fileMissing = f {{ url = "{file_missing}"; sha256 = "{flat}"; }};
  flaky = f {{ url = "{flaky}"; sha256 = "{flat}"; }};
  wrongHash = f {{ url = "{file}"; sha256 = "{wrong}"; name = "wrong"; }};
}}
"#,
            file = u("/file.txt"),
            redirect = u("/redirect"),
            tool = u("/tool.sh"),
            pkg = u("/pkg.nar"),
            pkg_xz = u("/pkg.nar.xz"),
            gz = u("/gz"),
            missing = u("/missing"),
            forbidden = u("/forbidden"),
            loop_ = u("/loop"),
            flaky = u("/flaky"),
            wrong = sha256(b"something else"),
        );
        fs::write(sb.path("f.nix"), expr).unwrap();
        sb.append_conf(&format!("extra-sandbox-paths = {}", data.display()));
        Fixture { sb, server }
    }

    /// The `.drv` of attribute `attr`.
    fn instantiate(&self, attr: &str) -> String {
        let out = self.sb.nix("nix-instantiate", &["f.nix", "-A", attr]);
        assert!(out.status.success(), "nix-instantiate: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `nix-build -A attr`: success and stderr.
    fn nix_build(&self, attr: &str, options: &[&str]) -> (bool, String) {
        let mut args = vec!["f.nix", "-A", attr, "--no-out-link"];
        args.extend_from_slice(options);
        let out = self.sb.nix("nix-build", &args);
        (out.status.success(), stderr(&out))
    }

    /// Builds `attr` with Nix and with ours; the outputs must be the same.
    fn assert_same_as_nix(&self, attr: &str) {
        self.assert_same_as_nix_with(attr, Vec::new());
    }

    /// [`Self::assert_same_as_nix`] with our `hashed-mirrors`.
    fn assert_same_as_nix_with(&self, attr: &str, mirrors: Vec<String>) {
        let (ok, err) = self.nix_build(attr, &[]);
        assert!(ok, "nix-build -A {attr} failed:\n{err}");
        let drv_path = self.instantiate(attr);
        let drv = self.sb.read_drv(&drv_path);
        assert_eq!(drv.builder.to_str(), Some("builtin:fetchurl"));
        let out = out_path(&drv);
        let (ours, result) = self
            .sb
            .run_ours_with(&drv, attr, |ctx| ctx.fetch.hashed_mirrors = mirrors);
        let outcome = result.unwrap_or_else(|e| panic!("our fetchurl -A {attr} failed: {e}"));
        assert!(
            outcome.log.iter().all(|m| m.level == Verbosity::Debug),
            "{:?}",
            outcome.log
        );

        let nar = self.sb.dump(&ours);
        assert_eq!(
            nar,
            self.sb.dump(&self.sb.host(&out)),
            "-A {attr}: NAR differs from Nix's"
        );
        assert_eq!(
            Hash::of_bytes(HashAlgo::Sha256, &nar).to_prefixed_nix32(),
            self.sb.registered_hash(&out)
        );
        let DerivationOutput::CAFixed { hash, .. } = &drv.outputs["out"] else {
            panic!("not a fixed output");
        };
        verify_fixed_output(&drv_path, &out, &ours, hash).expect("the promised hash");
    }

    /// Builds `attr` with Nix (which fails) and with ours, which must fail
    /// with the message Nix printed.
    fn assert_fails_like_nix(&self, attr: &str, options: &[&str]) -> BuiltinError {
        let (ok, err) = self.nix_build(attr, options);
        assert!(!ok, "nix-build -A {attr} should have failed:\n{err}");
        let drv = self.sb.read_drv(&self.instantiate(attr));
        let (_, result) = self.sb.run_ours(&drv, attr);
        let ours = result.expect_err("Nix failed, so must we");
        let what = ours.text().what_plain();
        assert!(
            err.contains(&what),
            "-A {attr}: Nix's output lacks our message\n  ours: {what}\n  Nix:\n{err}"
        );
        ours
    }
}

#[test]
fn flat_file_like_nix() {
    let fx = Fixture::new();
    fx.assert_same_as_nix("flat");
    fx.assert_same_as_nix("redirect");
}

#[test]
fn executable_file_like_nix() {
    let fx = Fixture::new();
    fx.assert_same_as_nix("executable");
    let mode = fs::metadata(fx.sb.path("ours/executable"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn unpacked_nar_like_nix() {
    let fx = Fixture::new();
    fx.assert_same_as_nix("unpack");
    fx.assert_same_as_nix("unpackXz");
}

#[test]
fn content_encoding_is_decoded_like_nix() {
    let fx = Fixture::new();
    fx.assert_same_as_nix("gzipEncoded");
}

#[test]
fn file_url_like_nix() {
    let fx = Fixture::new();
    fx.assert_same_as_nix("fileUrl");
    let e = fx.assert_fails_like_nix("fileMissing", &[]);
    assert!(matches!(
        e,
        BuiltinError::Download {
            kind: TransferErrorKind::NotFound,
            ..
        }
    ));
}

#[test]
fn hashed_mirror_like_nix() {
    let fx = Fixture::new();
    // The first mirror does not have it; the second does; `url` is a 404.
    let mirrors = vec![fx.server.url("/no-mirror"), fx.server.url("/mirror")];
    fx.sb
        .append_conf(&format!("hashed-mirrors = {}", mirrors.join(" ")));
    fx.assert_same_as_nix_with("mirrored", mirrors);
}

#[test]
fn http_errors_like_nix() {
    let fx = Fixture::new();
    let e = fx.assert_fails_like_nix("missing", &[]);
    assert!(matches!(
        e,
        BuiltinError::Download {
            kind: TransferErrorKind::NotFound,
            ..
        }
    ));
    assert!(e.to_string().contains("response body:\n\n<html>"), "{e}");
    let e = fx.assert_fails_like_nix("forbidden", &[]);
    assert!(matches!(
        e,
        BuiltinError::Download {
            kind: TransferErrorKind::Forbidden,
            ..
        }
    ));
    fx.assert_fails_like_nix("loop", &[]);
    fx.assert_fails_like_nix("flaky", &["--option", "download-attempts", "1"]);
}

#[test]
fn unreachable_server_like_nix() {
    let fx = Fixture::new();
    let e = fx.assert_fails_like_nix("refused", &["--option", "download-attempts", "1"]);
    assert!(matches!(
        e,
        BuiltinError::Download {
            kind: TransferErrorKind::Transient,
            ..
        }
    ));
}

#[test]
fn transient_errors_are_retried_with_warnings() {
    let fx = Fixture::new();
    let drv = fx.sb.read_drv(&fx.instantiate("flaky"));
    let warnings = std::cell::RefCell::new(Vec::new());
    let sink = |m: &daemon::builtins::LogMessage| warnings.borrow_mut().push(m.clone());
    let before = fx.server.hits();
    let (_, result) = fx.sb.run_ours_with(&drv, "flaky", |ctx| {
        ctx.fetch.tries = 3;
        ctx.fetch.base_retry = Duration::from_millis(1);
        ctx.log = &sink;
    });
    assert!(matches!(
        result,
        Err(BuiltinError::Download {
            kind: TransferErrorKind::Transient,
            ..
        })
    ));
    assert_eq!(fx.server.hits() - before, 3);
    let warnings = warnings.into_inner();
    assert_eq!(warnings.len(), 2);
    let first = &warnings[0];
    assert_eq!(first.level, Verbosity::Warn);
    assert!(first.text.starts_with(&format!(
        "error: unable to download '{}': HTTP error 503 ('Service Unavailable')",
        fx.server.url("/flaky")
    )));
    assert!(first.text.ends_with(" ms"), "{}", first.text);
    assert!(
        first
            .nix
            .starts_with("\x1b[35;1mwarning:\x1b[0m \x1b[31;1merror:\x1b[0m ")
    );
}

#[test]
fn wrong_hash_is_reported_like_nix() {
    let fx = Fixture::new();
    let (ok, err) = fx.nix_build("wrongHash", &[]);
    assert!(!ok);
    let drv_path = fx.instantiate("wrongHash");
    let drv = fx.sb.read_drv(&drv_path);
    let (ours, result) = fx.sb.run_ours(&drv, "wrong");
    result.expect("the download itself works");
    let DerivationOutput::CAFixed { hash, .. } = &drv.outputs["out"] else {
        panic!("not a fixed output");
    };
    let e = verify_fixed_output(&drv_path, &out_path(&drv), &ours, hash).expect_err("mismatch");
    let what = e.text().what_plain();
    assert!(err.contains(&what), "ours: {what}\nNix:\n{err}");
}

#[test]
fn missing_attributes_and_unknown_builders() {
    let sb = NixSandbox::new("");
    let drv_env = BTreeMap::from([("out".to_owned(), "/nix/store/x".to_owned())]);
    let ctx = daemon::builtins::BuiltinContext::new(
        nix_formats::StoreDir::default(),
        sb.store_root(),
        sb.path("out"),
    );
    let e = daemon::builtins::run_builtin("builtin:fetchurl", &drv_env, &ctx).unwrap_err();
    assert_eq!(e.to_string(), "attribute 'url' missing");
    assert_eq!(
        e.nix_log_text(),
        "\x1b[31;1merror:\x1b[0m attribute '\x1b[35;1murl\x1b[0m' missing"
    );
    let e = daemon::builtins::run_builtin("builtin:unpack-channel", &drv_env, &ctx).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsupported builtin builder 'unpack-channel'"
    );
}
