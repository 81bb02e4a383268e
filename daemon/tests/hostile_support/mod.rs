//! For the hostile-client tests: the real `pkgchain-daemon` on a private
//! state dir, store dir and socket (no FUSE mount, no `/nix` touched), and
//! a raw-bytes client built on `nix_formats::wire`.
//!
//! Timeouts here only keep a broken daemon from hanging the test run;
//! nothing asserts how fast anything happened. `HOSTILE_DAEMON=/path/to/
//! pkgchain-daemon` runs the tests against another build (an older one, to
//! see what it did).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix_formats::content_address::ContentAddress;
use nix_formats::hash::Hash;
use nix_formats::store_path::{StoreDir, StorePath};
use nix_formats::wire::{
    ClientConfig, ClientHandshake, DecodeError, Decoder, ErrorInfo, FrameEncoder, HandshakeStatus,
    ProtocolVersion, Request, StderrMsg, UnkeyedValidPathInfo, WireContext, WireDecode, WireEncode,
    encode_to_vec,
};

/// How long anything may take before the test calls it a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// The protocol Nix 2.8 speaks.
pub const V2_8: ProtocolVersion = ProtocolVersion::new(1, 34);

/// A running daemon; killed and reaped when dropped.
pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub store_dir: StoreDir,
}

impl Daemon {
    pub fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let (state, socket, store) = (root.join("state"), root.join("socket"), root.join("store"));
        let conf = root.join("etc");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(conf.join("nix.conf"), "trusted-users = root\n").unwrap();
        let child = Self::spawn(root);
        let store_dir = StoreDir::new(store.to_str().unwrap()).unwrap();
        let mut d = Daemon {
            child,
            dir,
            socket,
            state,
            store_dir,
        };
        d.wait_listening();
        d
    }

    /// Stops the daemon as a service manager would (SIGTERM: it finishes
    /// the work in flight, then exits), so that everything it was doing
    /// is over, then starts it again on the same state.
    pub fn restart(&mut self) {
        self.restart_after(|_| {});
    }

    /// Like [`Daemon::restart`], with `between` run on the state directory
    /// while no daemon runs.
    pub fn restart_after(&mut self, between: impl FnOnce(&std::path::Path)) {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .expect("SIGTERM the daemon");
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "daemon exited with {status}\n{}",
            self.log()
        );
        between(&self.state);
        self.child = Self::spawn(self.dir.path());
        self.wait_listening();
    }

    fn spawn(root: &std::path::Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("daemon.log"))
            .unwrap();
        let bin = std::env::var_os("HOSTILE_DAEMON").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_pkgchain-daemon")),
            PathBuf::from,
        );
        Command::new(bin)
            .arg("--state-dir")
            .arg(root.join("state"))
            .arg("--socket")
            .arg(root.join("socket"))
            .arg("--store-dir")
            .arg(root.join("store"))
            .arg("--no-mount")
            .env("NIX_CONF_DIR", root.join("etc"))
            .env("NIX_STATE_DIR", root.join("var"))
            .env("NIX_LOG_DIR", root.join("var/log"))
            .env_remove("NIX_DAEMON_SOCKET_PATH")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start pkgchain-daemon")
    }

    fn wait_listening(&mut self) {
        let start = Instant::now();
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("daemon exited at start: {status}\n{}", self.log());
            }
            assert!(start.elapsed() < HANG_GUARD, "daemon never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// A field of `/proc/<pid>/status`, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    /// Whether the daemon process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Files in `pins/temp` (adds in progress).
    pub fn temp_pins(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state.join("pins/temp")) {
            Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until no add is in progress (every temp pin is gone).
    pub fn wait_no_temp_pins(&self) {
        let start = Instant::now();
        while !self.temp_pins().is_empty() {
            assert!(
                start.elapsed() < HANG_GUARD,
                "temp pins left behind: {:?}",
                self.temp_pins()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The catalogue, opened read-side by the test.
    pub fn catalogue(&self) -> store_ipfs::catalogue::Catalogue {
        store_ipfs::catalogue::Catalogue::open(&self.state).expect("open catalogue")
    }

    /// Runs the real `nix-store` client (Nix from `PATH`) against this
    /// daemon: its socket, its store directory, its `nix.conf`.
    pub fn nix_store(&self, args: &[&str]) -> std::process::Output {
        Command::new("nix-store")
            .args(args)
            .env("NIX_REMOTE", format!("unix://{}", self.socket.display()))
            .env("NIX_STORE_DIR", self.store_dir.as_str())
            .env("NIX_CONF_DIR", self.dir.path().join("etc"))
            .env("NIX_STATE_DIR", self.dir.path().join("client-var"))
            .env("HOME", self.dir.path())
            .output()
            .expect("nix-store must be installed")
    }

    /// [`Daemon::nix_store`] that must succeed; its standard output,
    /// trimmed.
    pub fn nix_store_ok(&self, args: &[&str]) -> String {
        let out = self.nix_store(args);
        assert!(
            out.status.success(),
            "nix-store {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("nix-store prints text")
            .trim()
            .to_owned()
    }

    /// `nix-store --verify --check-contents` succeeds and reports nothing
    /// wrong.
    pub fn verify_clean(&self) {
        let out = self.nix_store(&["--verify", "--check-contents"]);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success() && !said.contains("error") && !said.contains("modified"),
            "{said}"
        );
    }

    pub fn path(&self, p: &StorePath) -> String {
        self.store_dir.display(p)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw connection.
pub struct Client {
    pub stream: UnixStream,
    pub cx: WireContext,
    input: Vec<u8>,
}

impl Client {
    /// Connects without a handshake.
    pub fn connect(d: &Daemon) -> Client {
        let stream = UnixStream::connect(&d.socket).expect("connect to the daemon");
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
        let cx = WireContext {
            store_dir: d.store_dir.clone(),
            ..WireContext::new(V2_8)
        };
        Client {
            stream,
            cx,
            input: Vec::new(),
        }
    }

    /// Connects and completes the handshake at `version` (the daemon's
    /// opening STDERR_LAST included).
    pub fn open(d: &Daemon, version: ProtocolVersion) -> Client {
        let mut c = Client::connect(d);
        let mut out = Vec::new();
        let mut hs = ClientHandshake::new(ClientConfig::new(version), &mut out);
        c.send(&out).expect("send handshake");
        out.clear();
        let negotiated = loop {
            let (used, status) = hs.advance(&c.input, &mut out).expect("handshake");
            c.input.drain(..used);
            c.send(&out).expect("send handshake");
            out.clear();
            match status {
                HandshakeStatus::Done(info) => break info.negotiated.version,
                HandshakeStatus::NeedMore { .. } => c.fill().expect("daemon hung up in handshake"),
            }
        };
        c.cx.version = negotiated;
        c.read_stderr().expect("handshake ends with STDERR_LAST");
        c
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn encode<T: WireEncode + ?Sized>(&self, v: &T) -> Vec<u8> {
        encode_to_vec(&self.cx, v).expect("encodable at this version")
    }

    pub fn send_request(&mut self, req: &Request) {
        let bytes = self.encode(req);
        self.send(&bytes).expect("send request");
    }

    /// Sends `data` as a framed stream, with its terminator.
    pub fn send_framed(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::new();
        let mut enc = FrameEncoder::default();
        enc.write(&mut out, data);
        enc.finish(&mut out);
        self.send(&out)
    }

    /// Reads more bytes; an error at end of stream.
    fn fill(&mut self) -> std::io::Result<()> {
        let mut buf = [0u8; 64 * 1024];
        let n = self.stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.input.extend_from_slice(&buf[..n]);
        Ok(())
    }

    /// Decodes one value, reading as needed.
    pub fn read_with<T>(
        &mut self,
        mut f: impl FnMut(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> std::io::Result<T> {
        loop {
            let cx = self.cx.clone();
            let mut d = Decoder::new(&self.input, &cx);
            match f(&mut d) {
                Ok(v) => {
                    let used = d.pos();
                    self.input.drain(..used);
                    return Ok(v);
                }
                Err(DecodeError::Incomplete { .. }) => self.fill()?,
                Err(e) => panic!("daemon sent something undecodable: {e}"),
            }
        }
    }

    pub fn read<T: WireDecode>(&mut self) -> std::io::Result<T> {
        self.read_with(T::decode)
    }

    /// Reads stderr messages up to STDERR_LAST (Ok) or STDERR_ERROR (Err).
    /// Panics if the connection ends first.
    pub fn read_stderr(&mut self) -> Result<(), ErrorInfo> {
        loop {
            match self.read::<StderrMsg>().expect("stderr message") {
                StderrMsg::Last => return Ok(()),
                StderrMsg::Error(e) => return Err(e),
                _ => {}
            }
        }
    }

    /// Reads stderr messages up to STDERR_LAST, returning what came in
    /// STDERR_WRITE messages.
    pub fn read_writes(&mut self) -> Result<Vec<u8>, ErrorInfo> {
        let mut data = Vec::new();
        loop {
            match self.read::<StderrMsg>().expect("stderr message") {
                StderrMsg::Last => return Ok(data),
                StderrMsg::Error(e) => return Err(e),
                StderrMsg::Write(chunk) => data.extend_from_slice(&chunk),
                _ => {}
            }
        }
    }

    /// Like [`Client::read_stderr`], expecting an error; its message.
    pub fn expect_error(&mut self) -> String {
        match self.read_stderr() {
            Ok(()) => panic!("the daemon accepted what it should have refused"),
            Err(e) => String::from_utf8_lossy(&e.message).into_owned(),
        }
    }

    /// Bytes received and not decoded yet.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.input)
    }

    /// Reads stderr messages up to an error and returns its message; `None`
    /// if the daemon hung up first. Panics on success.
    pub fn try_error(&mut self) -> Option<String> {
        loop {
            match self.read::<StderrMsg>() {
                Err(_) => return None,
                Ok(StderrMsg::Last) => panic!("the daemon accepted what it should have refused"),
                Ok(StderrMsg::Error(e)) => {
                    return Some(String::from_utf8_lossy(&e.message).into_owned());
                }
                Ok(_) => {}
            }
        }
    }

    /// Whether the daemon closed the connection (after anything pending).
    pub fn closed_by_daemon(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(e) => panic!("waiting for the daemon to close: {e}"),
            }
        }
    }

    pub fn is_valid(&mut self, p: &StorePath) -> bool {
        self.send_request(&Request::IsValidPath(p.clone()));
        self.read_stderr().expect("IsValidPath succeeds");
        self.read::<bool>().expect("IsValidPath reply")
    }

    pub fn path_info(&mut self, p: &StorePath) -> Option<UnkeyedValidPathInfo> {
        self.send_request(&Request::QueryPathInfo(p.clone()));
        self.read_stderr().expect("QueryPathInfo succeeds");
        if self.read::<bool>().expect("QueryPathInfo reply") {
            Some(self.read().expect("path info"))
        } else {
            None
        }
    }

    /// AddTextToStore; the path or the error message.
    pub fn add_text(&mut self, name: &str, text: &[u8]) -> Result<StorePath, String> {
        self.send_request(&Request::AddTextToStore {
            name: name.to_owned(),
            text: text.to_vec(),
            references: BTreeSet::new(),
        });
        match self.read_stderr() {
            Ok(()) => {
                let shown: String = self.read().expect("AddTextToStore reply");
                Ok(self.cx.store_dir.parse_path(&shown).expect("a store path"))
            }
            Err(e) => Err(String::from_utf8_lossy(&e.message).into_owned()),
        }
    }
}

/// A NAR holding one regular file.
pub fn file_nar(contents: &[u8]) -> Vec<u8> {
    let mut w = nix_formats::nar::NarWriter::new(Vec::new());
    w.regular(false, contents.len() as u64).unwrap();
    w.contents(contents).unwrap();
    w.finish().unwrap()
}

/// Bytes that do not repeat (so no two 1 MiB chunks share a block).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What a well-behaved client does, checked end to end: add a text file,
/// then see it valid with the path info Nix would compute.
pub fn well_behaved(d: &Daemon, tag: &str) {
    let mut c = Client::open(d, V2_8);
    let name = format!("well-behaved-{tag}");
    let text = format!("a well-behaved client ({tag})\n").into_bytes();
    let expected = d
        .store_dir
        .make_text_path(&name, &Hash::sha256(&text), &BTreeSet::new())
        .unwrap();
    let path = c.add_text(&name, &text).expect("AddTextToStore");
    assert_eq!(path, expected, "AddTextToStore named the path wrongly");
    assert!(c.is_valid(&path), "the added path is not valid");
    let nar = file_nar(&text);
    let info = c.path_info(&path).expect("path info of an added path");
    assert_eq!(info.nar_size, nar.len() as u64);
    assert_eq!(info.nar_hash, Hash::sha256(&nar));
    assert_eq!(info.ca, Some(ContentAddress::Text(Hash::sha256(&text))));
}
