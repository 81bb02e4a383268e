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
