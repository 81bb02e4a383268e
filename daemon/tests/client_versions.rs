//! A client that announces protocol 1.35 — what every Lix release sends,
//! frozen there for good — against `pkgchain-daemon` over its socket,
//! byte by byte as the reference describes (`nix-worker-protocol.md` §1.2,
//! §7.5): Lix waits for the daemon's version before sending its own, needs
//! a daemon announcing at least 1.35, always reads the version string and
//! the trust flag, exchanges no features, and gets 1.35 encodings back
//! (a BuildResult without the 1.37 CPU times). Every reply must be decoded
//! to its last byte at 1.35, or the next op would read garbage. The same
//! session runs at 1.37 (Nix 2.20 – 2.23, CPU times included) and at 1.38
//! with the version sent early and the empty feature lists (Nix 2.24 on).
//!
//! The daemon runs with `--no-mount` on a temporary state directory and
//! socket; nothing under `/nix` is touched.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix_formats::content_address::{ContentAddress, ContentAddressMethod};
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::store_path::{StoreDir, StorePath};
use nix_formats::wire::{
    BuildMode, BuildStatus, ClientConfig, ClientHandshake, ClientSettings, DaemonInfo, DecodeError,
    Decoder, DerivedPath, FrameEncoder, HandshakeStatus, KeyedBuildResult, ProtocolVersion,
    Request, StderrMsg, Trust, UnkeyedValidPathInfo, WireContext, WireDecode, encode_into,
};

const LIX: ProtocolVersion = ProtocolVersion::new(1, 35);
const NIX_2_20: ProtocolVersion = ProtocolVersion::new(1, 37);
const NIX_2_24: ProtocolVersion = ProtocolVersion::new(1, 38);

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).expect("conf dir");
        std::fs::write(
            conf.join("nix.conf"),
            "build-users-group =\nsubstituters =\n",
        )
        .expect("nix.conf");
        let socket = dir.path().join("socket");
        let child = Command::new(env!("CARGO_BIN_EXE_pkgchain-daemon"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--socket")
            .arg(&socket)
            .arg("--store-dir")
            .arg("/nix/store")
            .arg("--no-mount")
            .env("NIX_CONF_DIR", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pkgchain-daemon starts");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no socket after 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            _dir: dir,
            socket,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The test is over either way; a daemon that already exited is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking connection that decodes at the negotiated version.
struct Conn {
    sock: UnixStream,
    buf: Vec<u8>,
    cx: WireContext,
}

impl Conn {
    fn fill(&mut self, needed: usize) {
        let mut chunk = vec![0u8; needed.max(4096)];
        let n = self.sock.read(&mut chunk).expect("read from the daemon");
        assert!(n > 0, "the daemon closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn recv<T>(&mut self, f: impl Fn(&mut Decoder<'_>) -> Result<T, DecodeError>) -> T {
        loop {
            let cx = self.cx.clone();
            let mut d = Decoder::new(&self.buf, &cx);
            match f(&mut d) {
                Ok(v) => {
                    let used = d.pos();
                    self.buf.drain(..used);
                    return v;
                }
                Err(DecodeError::Incomplete { needed }) => self.fill(needed),
                Err(e) => panic!("cannot decode the daemon's reply: {e}"),
            }
        }
    }

    fn send(&mut self, req: &Request) {
        let mut out = Vec::new();
        encode_into(&mut out, &self.cx, req)
            .expect("the request encodes at the negotiated version");
        self.sock.write_all(&out).expect("write to the daemon");
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write to the daemon");
    }

    /// Log messages up to STDERR_LAST; an error is a test failure.
    fn until_last(&mut self) -> Vec<StderrMsg> {
        let mut seen = Vec::new();
        loop {
            match self.recv(StderrMsg::decode) {
                StderrMsg::Last => return seen,
                StderrMsg::Error(e) => panic!(
                    "the daemon answered with an error: {}",
                    String::from_utf8_lossy(&e.message)
                ),
                other => seen.push(other),
            }
        }
    }

    fn assert_drained(&self) {
        assert!(
            self.buf.is_empty(),
            "{} bytes left over after the reply",
            self.buf.len()
        );
    }
}

/// Opens a connection at `version`. Below 1.38 (Lix, Nix ≤ 2.23): magic1,
/// then, after the daemon's version, the client's version, cpu-affinity 0
/// and reserveSpace 0. At 1.38 the version goes with magic1.
fn connect(socket: &Path, version: ProtocolVersion) -> (Conn, DaemonInfo) {
    let sock = UnixStream::connect(socket).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut conn = Conn {
        sock,
        buf: Vec::new(),
        cx: WireContext::new(version),
    };
    let config = ClientConfig::new(version);
    let early = config.send_version_early;
    assert_eq!(early, version.at_least(38));
    let mut out = Vec::new();
    let mut hs = ClientHandshake::new(config, &mut out);
    assert_eq!(out.len(), if early { 16 } else { 8 });
    let info = loop {
        conn.send_raw(&std::mem::take(&mut out));
        let (used, status) = hs.advance(&conn.buf, &mut out).expect("handshake");
        conn.buf.drain(..used);
        match status {
            HandshakeStatus::Done(info) => break info,
            HandshakeStatus::NeedMore { needed } => {
                if out.is_empty() {
                    conn.fill(needed);
                }
            }
        }
    };
    conn.send_raw(&out);
    conn.cx = WireContext {
        version: info.negotiated.version,
        store_dir: StoreDir::default(),
        ..conn.cx.clone()
    };
    conn.until_last();
    (conn, info)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[test]
fn a_protocol_1_35_client_is_served_at_1_35() {
    session(LIX);
}

#[test]
fn a_protocol_1_37_client_is_served_at_1_37() {
    session(NIX_2_20);
}

#[test]
fn a_protocol_1_38_client_is_served_at_1_38() {
    session(NIX_2_24);
}

fn session(version: ProtocolVersion) {
    let daemon = Daemon::start();
    let (mut c, info) = connect(&daemon.socket, version);

    // Lix ≥ 2.94 refuses daemons below 1.35; it reads the version string
    // and the trust flag unconditionally.
    assert!(info.negotiated.peer_version >= LIX, "{info:?}");
    assert_eq!(info.negotiated.version, version);
    assert!(info.negotiated.features.is_empty());
    assert!(
        info.nix_version.as_deref().is_some_and(|v| !v.is_empty()),
        "{info:?}"
    );
    let expected_trust = if running_as_root() {
        Trust::Trusted
    } else {
        Trust::NotTrusted
    };
    assert_eq!(info.trust, expected_trust);

    c.send(&Request::SetOptions(ClientSettings::default()));
    c.until_last();
    c.assert_drained();

    // AddToStore in its ≥ 1.25 form: fields, then the framed contents.
    let text = b"served at protocol 1.35\n";
    c.send(&Request::AddToStore {
        name: "lix.txt".into(),
        method: ContentAddressMethod::Text,
        algo: HashAlgo::Sha256,
        references: BTreeSet::new(),
        repair: false,
    });
    let mut framed = Vec::new();
    let mut frames = FrameEncoder::new(4096);
    frames.write(&mut framed, text);
    frames.finish(&mut framed);
    c.send_raw(&framed);
    c.until_last();
    let added = c.recv(nix_formats::wire::ValidPathInfo::decode);
    c.assert_drained();
    let sd = StoreDir::default();
    let expected = sd
        .make_text_path("lix.txt", &Hash::sha256(text), &BTreeSet::new())
        .expect("a valid name");
    assert_eq!(added.path, expected);
    assert_eq!(
        added.info.ca,
        Some(ContentAddress::Text(Hash::sha256(text)))
    );

    // QueryPathInfo: a `valid` flag, then the info with its ≥ 1.16 fields.
    c.send(&Request::QueryPathInfo(expected.clone()));
    c.until_last();
    assert!(c.recv(|d| d.bool()));
    let info = c.recv(UnkeyedValidPathInfo::decode);
    c.assert_drained();
    assert_eq!(info.ca, Some(ContentAddress::Text(Hash::sha256(text))));
    assert!(info.sigs.is_empty());

    // QueryValidPaths with the ≥ 1.27 substitute flag.
    let missing: StorePath = sd
        .parse_path("/nix/store/00000000000000000000000000000000-missing")
        .expect("a valid path");
    c.send(&Request::QueryValidPaths {
        paths: BTreeSet::from([expected.clone(), missing.clone()]),
        substitute: false,
    });
    c.until_last();
    let valid = c.recv(|d| d.path_set("valid paths"));
    c.assert_drained();
    assert_eq!(valid, BTreeSet::from([expected.clone()]));

    // BuildPathsWithResults: a BuildResult as the version knows it (timings
    // from 1.29, CPU times from 1.37, then builtOutputs).
    c.send(&Request::BuildPathsWithResults {
        paths: vec![
            DerivedPath::Opaque(expected.clone()),
            DerivedPath::Opaque(missing),
        ],
        mode: BuildMode::Normal,
    });
    c.until_last();
    let results = c.recv(|d| d.list("results", KeyedBuildResult::decode));
    c.assert_drained();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].result.status, BuildStatus::AlreadyValid);
    assert_eq!(results[1].result.status, BuildStatus::NoSubstituters);

    // The stream is still in step: one more op on the same connection.
    c.send(&Request::IsValidPath(expected));
    c.until_last();
    assert!(c.recv(|d| d.bool()));
    c.assert_drained();
}

/// A NAR of one regular file.
fn file_nar(contents: &[u8]) -> Vec<u8> {
    let mut nar = Vec::new();
    nix_formats::nar::regular_file_nar(false, contents.len() as u64, contents)
        .read_to_end(&mut nar)
        .expect("an in-memory NAR");
    nar
}

/// Answers the daemon's STDERR_READ requests from `data`, at most `step`
/// bytes each, as a Nix 2.3 client does from its NAR source, until
/// STDERR_LAST or STDERR_ERROR. A request once `data` is all sent fails
/// the test: a real client's source throws there. Returns the error's
/// message, if any, and how many requests came.
fn serve_reads(c: &mut Conn, data: &[u8], step: usize) -> (Option<String>, usize) {
    let mut sent = 0;
    let mut requests = 0;
    loop {
        match c.recv(StderrMsg::decode) {
            StderrMsg::Read(wanted) => {
                requests += 1;
                assert!(
                    sent < data.len(),
                    "the daemon asked for more after the whole NAR ({} bytes) was sent",
                    data.len()
                );
                let wanted = usize::try_from(wanted).expect("a small request");
                let n = wanted.min(step).min(data.len() - sent);
                let mut out = Vec::new();
                nix_formats::wire::encode_read_reply(
                    &mut nix_formats::wire::Encoder::new(&mut out, &c.cx),
                    &data[sent..sent + n],
                );
                c.send_raw(&out);
                sent += n;
            }
            StderrMsg::Last => return (None, requests),
            StderrMsg::Error(e) => {
                return (
                    Some(String::from_utf8_lossy(&e.message).into_owned()),
                    requests,
                );
            }
            _ => {}
        }
    }
}

/// Protocol 1.21–1.22 (Nix 2.3): AddToStoreNar's NAR is pulled by the
/// daemon with STDERR_READ, never past its end; a NAR that does not match
/// its info is refused and the session goes on.
#[test]
fn protocol_1_21_and_1_22_uploads_are_pulled_with_stderr_read() {
    let daemon = Daemon::start();
    let sd = StoreDir::default();
    for minor in [21, 22] {
        let (mut c, info) = connect(&daemon.socket, ProtocolVersion::new(1, minor));
        assert_eq!(info.negotiated.version, ProtocolVersion::new(1, minor));
        c.send(&Request::SetOptions(ClientSettings::default()));
        c.until_last();

        // Large enough for several requests of 64 KiB.
        let contents: Vec<u8> = (0..200_000u32)
            .map(|i| (i * 7 + minor as u32) as u8)
            .collect();
        let nar = file_nar(&contents);
        let ca = ContentAddress::Fixed {
            method: nix_formats::content_address::FileIngestionMethod::Recursive,
            hash: Hash::sha256(&nar),
        };
        let path = sd
            .make_path_from_ca("pulled", &ca, &BTreeSet::new(), false)
            .expect("a valid name");
        let mut upload = UnkeyedValidPathInfo::new(Hash::sha256(&nar), nar.len() as u64);
        upload.ca = Some(ca);
        c.send(&Request::AddToStoreNar {
            info: nix_formats::wire::ValidPathInfo {
                path: path.clone(),
                info: upload.clone(),
            },
            repair: false,
            dont_check_sigs: false,
        });
        // Answers smaller than asked, as a client may give.
        let (err, requests) = serve_reads(&mut c, &nar, 50_000);
        assert_eq!(err, None, "at 1.{minor}");
        assert!(requests >= 4, "{requests} requests at 1.{minor}");
        c.assert_drained();

        c.send(&Request::QueryPathInfo(path.clone()));
        c.until_last();
        assert!(c.recv(|d| d.bool()));
        let got = c.recv(UnkeyedValidPathInfo::decode);
        c.assert_drained();
        assert_eq!(got.nar_hash, Hash::sha256(&nar));
        assert_eq!(got.nar_size, nar.len() as u64);
        assert_eq!(got.ca, Some(ca));

        // The same info with other bytes of the same length: refused,
        // nothing registered, and the connection still answers.
        let mut forged = nar.clone();
        let last = forged.len() - 20;
        forged[last] ^= 1;
        let other = sd
            .make_path_from_ca(
                "pulled-forged",
                &ContentAddress::Fixed {
                    method: nix_formats::content_address::FileIngestionMethod::Recursive,
                    hash: Hash::sha256(&nar),
                },
                &BTreeSet::new(),
                false,
            )
            .expect("a valid name");
        c.send(&Request::AddToStoreNar {
            info: nix_formats::wire::ValidPathInfo {
                path: other.clone(),
                info: upload,
            },
            repair: false,
            dont_check_sigs: false,
        });
        let (err, _) = serve_reads(&mut c, &forged, 1 << 20);
        let err = err.expect("a NAR that does not match its hash is refused");
        assert!(err.contains("hash mismatch"), "{err}");
        c.send(&Request::IsValidPath(other));
        c.until_last();
        assert!(!c.recv(|d| d.bool()));
        c.assert_drained();
    }
}

/// ImportPaths (what clients before 1.18 send for `nix-store --import`;
/// `nix-daemon` takes it from any client): the export stream is pulled with
/// STDERR_READ, never past its end marker, and every path in it becomes
/// valid with its references and deriver; the reply lists them.
#[test]
fn import_paths_pulls_an_export_stream() {
    if !running_as_root() {
        // Untrusted clients need signatures, which exports do not carry.
        eprintln!("import_paths_pulls_an_export_stream: needs a trusted client (root); not run");
        return;
    }
    let daemon = Daemon::start();
    let sd = StoreDir::default();
    let (mut c, _) = connect(&daemon.socket, ProtocolVersion::new(1, 21));
    c.send(&Request::SetOptions(ClientSettings::default()));
    c.until_last();

    let dep = sd
        .make_text_path("imported-dep", &Hash::sha256(b"dep"), &BTreeSet::new())
        .expect("a valid name");
    let top = sd
        .make_text_path("imported-top", &Hash::sha256(b"top"), &BTreeSet::new())
        .expect("a valid name");
    let deriver = sd
        .make_text_path("imported-top.drv", &Hash::sha256(b"drv"), &BTreeSet::new())
        .expect("a valid name");
    let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let items = [
        nix_formats::export::ExportItem {
            nar: file_nar(&big),
            path: dep.clone(),
            references: BTreeSet::new(),
            deriver: None,
        },
        nix_formats::export::ExportItem {
            nar: file_nar(sd.display(&dep).as_bytes()),
            path: top.clone(),
            references: BTreeSet::from([dep.clone()]),
            deriver: Some(deriver.clone()),
        },
    ];
    let mut export = Vec::new();
    nix_formats::export::write_export(&sd, &items, &mut export).expect("an export stream");

    c.send_raw(&27u64.to_le_bytes());
    let (err, requests) = serve_reads(&mut c, &export, 40_000);
    assert_eq!(err, None);
    assert!(requests >= 4, "{requests} requests");
    let imported = c.recv(|d| d.strings("imported paths"));
    c.assert_drained();
    assert_eq!(imported, vec![sd.display(&dep), sd.display(&top)]);

    for item in &items {
        c.send(&Request::QueryPathInfo(item.path.clone()));
        c.until_last();
        assert!(c.recv(|d| d.bool()));
        let got = c.recv(UnkeyedValidPathInfo::decode);
        assert_eq!(got.nar_hash, Hash::sha256(&item.nar));
        assert_eq!(got.nar_size, item.nar.len() as u64);
        assert_eq!(got.references, item.references);
        assert_eq!(got.deriver, item.deriver);
    }
    c.assert_drained();

    // A damaged NAR inside the stream (a byte of its header changed): an
    // error that says so, and the path it would have been is not valid.
    let broken = sd
        .make_text_path(
            "imported-broken",
            &Hash::sha256(b"broken"),
            &BTreeSet::new(),
        )
        .expect("a valid name");
    let mut nar = file_nar(b"never valid");
    nar[20] ^= 0x20;
    let mut export = Vec::new();
    let item = nix_formats::export::ExportItem {
        nar,
        path: broken.clone(),
        references: BTreeSet::new(),
        deriver: None,
    };
    nix_formats::export::write_export(&sd, &[item], &mut export).expect("an export stream");
    c.send_raw(&27u64.to_le_bytes());
    let (err, _) = serve_reads(&mut c, &export, 40_000);
    assert!(
        err.as_deref().is_some_and(|e| e.contains("bad archive")),
        "{err:?}"
    );
    c.send(&Request::IsValidPath(broken));
    c.until_last();
    assert!(!c.recv(|d| d.bool()));
    c.assert_drained();

    // Not an export stream: an error, and the session goes on.
    c.send_raw(&27u64.to_le_bytes());
    let (err, _) = serve_reads(&mut c, &7u64.to_le_bytes(), 8);
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("created by 'nix-store --export'")),
        "{err:?}"
    );
    c.send(&Request::IsValidPath(top));
    c.until_last();
    assert!(c.recv(|d| d.bool()));
    c.assert_drained();
}

/// AddToStore with a recursive (NAR) content address: the path is made
/// from the hash of the NAR in the requested algorithm — sha256 is the
/// NAR hash itself, any other is hashed separately — and the recorded NAR
/// hash is always the NAR's sha256.
#[test]
fn recursive_adds_name_the_path_by_the_requested_algorithm() {
    use nix_formats::content_address::FileIngestionMethod;
    let daemon = Daemon::start();
    let sd = StoreDir::default();
    let (mut c, _) = connect(&daemon.socket, NIX_2_24);
    c.send(&Request::SetOptions(ClientSettings::default()));
    c.until_last();
    let nar = file_nar(b"hashed in more than one way\n");
    for algo in [
        HashAlgo::Sha256,
        HashAlgo::Sha1,
        HashAlgo::Sha512,
        HashAlgo::Md5,
    ] {
        c.send(&Request::AddToStore {
            name: "recursive".into(),
            method: ContentAddressMethod::Fixed(FileIngestionMethod::Recursive),
            algo,
            references: BTreeSet::new(),
            repair: false,
        });
        let mut framed = Vec::new();
        let mut frames = FrameEncoder::new(16);
        frames.write(&mut framed, &nar);
        frames.finish(&mut framed);
        c.send_raw(&framed);
        c.until_last();
        let added = c.recv(nix_formats::wire::ValidPathInfo::decode);
        c.assert_drained();
        let ca = ContentAddress::Fixed {
            method: FileIngestionMethod::Recursive,
            hash: Hash::of_bytes(algo, &nar),
        };
        let expected = sd
            .make_path_from_ca("recursive", &ca, &BTreeSet::new(), false)
            .expect("a valid name");
        assert_eq!(added.path, expected, "{algo}");
        assert_eq!(added.info.ca, Some(ca), "{algo}");
        assert_eq!(added.info.nar_hash, Hash::sha256(&nar), "{algo}");
        assert_eq!(added.info.nar_size, nar.len() as u64, "{algo}");
    }
}
