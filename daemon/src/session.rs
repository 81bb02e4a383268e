//! One client connection: handshake, then ops until the client hangs up.
//!
//! Errors are decided in one place ([`OpError`]): a *recoverable* error is
//! sent as STDERR_ERROR and the session goes on; a *fatal* one (the request
//! could not be read, the socket failed) ends the connection after telling
//! the client once, if it still can.

use std::sync::{Arc, Mutex};

use nix_formats::wire::{
    ClientSettings, DecodeError, ErrorInfo, HandshakeStatus, Op, ProtocolVersion, Request,
    ServerConfig, ServerHandshake, StderrMsg, Trust, WireContext, WireEncode, encode_into,
};
use store_ipfs::store::Store;

use crate::io::{Wire, WireIoError};
use crate::shared::Shared;
use crate::wording::Wording;

/// Who is on the other end (from SO_PEERCRED).
#[derive(Debug, Clone)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub user: String,
    pub trusted: bool,
}

/// How an op failed.
#[derive(Debug)]
pub enum OpError {
    /// Sent to the client; the session continues.
    Client(ErrorInfo),
    /// The connection cannot continue.
    Fatal(WireIoError),
}

impl From<WireIoError> for OpError {
    fn from(e: WireIoError) -> Self {
        OpError::Fatal(e)
    }
}

/// A client-visible error with Nix's wording.
pub fn client_err(msg: impl Into<String>) -> OpError {
    OpError::Client(ErrorInfo::new(msg.into().into_bytes()))
}

/// Formats an error with its causes, as Nix prints nested errors.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Per-connection state.
#[derive(Debug)]
pub struct Session {
    pub shared: Arc<Shared>,
    pub wire: Wire,
    pub cx: WireContext,
    pub peer: Peer,
    pub id: u64,
    pub options: Option<ClientSettings>,
    store: Option<Arc<Mutex<crate::shared::PooledStore>>>,
}

impl Session {
    pub fn version(&self) -> ProtocolVersion {
        self.cx.version
    }

    /// Whose words this client expects (see [`crate::wording`]).
    pub fn wording(&self) -> Wording {
        Wording::for_version(self.cx.version)
    }

    /// This connection's store handle (its own SQLite connection, from the
    /// daemon's pool), taken on first use and given back when the
    /// connection ends.
    pub fn store(&mut self) -> Result<Arc<Mutex<crate::shared::PooledStore>>, OpError> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let s = self
            .shared
            .stores
            .take()
            .map_err(|e| client_err(chain(&e)))?;
        let s = Arc::new(Mutex::new(s));
        self.store = Some(s.clone());
        Ok(s)
    }

    /// Runs store work on a blocking thread.
    pub async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Store, &Shared) -> Result<T, OpError> + Send + 'static,
    ) -> Result<T, OpError> {
        let store = self.store()?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = store.lock().expect("store lock");
            f(&mut s, &shared)
        })
        .await
        .map_err(|e| client_err(format!("internal error: {e}")))?
    }

    /// Runs a short catalogue read (a few indexed lookups) right here, on
    /// the session's task: handing it to a blocking thread and back costs
    /// two thread wake-ups, more than the lookup itself (a client walking a
    /// closure sends one QueryPathInfo per path). The store handle is this
    /// session's own, so the lock is free; readers of a WAL database do not
    /// wait for writers. Anything that may touch block files or take long
    /// goes through [`Session::blocking`].
    pub fn quick<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let store = self.store()?;
        let mut s = store.lock().expect("store lock");
        f(&mut s)
    }

    /// Queues a stderr message.
    pub fn log(&mut self, msg: &StderrMsg) {
        encode_into(&mut self.wire.out, &self.cx, msg).expect("stderr messages always encode");
    }

    /// Queues a log line (filtered by the client's verbosity, as Nix does).
    pub fn log_line(&mut self, level: nix_formats::wire::Verbosity, text: &str) {
        let verbosity = self
            .options
            .as_ref()
            .map_or(nix_formats::wire::Verbosity::Info, |o| o.verbosity);
        if level <= verbosity {
            self.log(&StderrMsg::line(text.as_bytes().to_vec()));
        }
    }

    /// Ends an op successfully: STDERR_LAST, then the reply.
    pub fn reply<T: WireEncode + ?Sized>(&mut self, v: &T) -> Result<(), OpError> {
        self.log(&StderrMsg::Last);
        encode_into(&mut self.wire.out, &self.cx, v)
            .map_err(|e| client_err(format!("cannot encode reply: {e}")))
    }

    /// Ends an op successfully with no reply payload.
    pub fn done(&mut self) {
        self.log(&StderrMsg::Last);
    }

    pub fn u64_reply(&mut self, v: u64) -> Result<(), OpError> {
        self.reply(&v)
    }
}

/// Serves one connection to the end.
pub async fn serve(stream: tokio::net::UnixStream, shared: Arc<Shared>, peer: Peer) {
    let id = shared.new_conn_id();
    match rustix::io::dup(&stream) {
        Ok(fd) => shared.open_conn(id, fd),
        Err(e) => eprintln!("pkgchain-daemon: connection {id}: duplicating its socket: {e}"),
    }
    let wire = Wire::new(stream);
    let mut s = Session {
        shared: shared.clone(),
        wire,
        cx: WireContext::new(ProtocolVersion::CURRENT),
        peer,
        id,
        options: None,
        store: None,
    };
    if let Err(e) = run(&mut s).await {
        match e {
            WireIoError::Eof => {}
            other => eprintln!("pkgchain-daemon: connection {id}: {}", chain(&other)),
        }
    }
    let _ = s.wire.flush().await;
    shared.drop_temp_roots(id);
}

async fn handshake(s: &mut Session) -> Result<(), WireIoError> {
    let trust = if s.peer.trusted {
        Trust::Trusted
    } else {
        Trust::NotTrusted
    };
    let mut hs = ServerHandshake::new(ServerConfig::new(s.shared.version.clone(), trust));
    let negotiated = loop {
        let (input, out) = s.wire.split();
        let (used, status) = hs
            .advance(input, out)
            .map_err(|e| WireIoError::Protocol(e.to_string()))?;
        s.wire.consume(used);
        match status {
            HandshakeStatus::Done(n) => break n,
            HandshakeStatus::NeedMore { needed } => s.wire.fill(needed).await?,
        }
    };
    s.cx = WireContext {
        version: negotiated.version,
        store_dir: s.shared.store_dir.clone(),
        ..s.cx.clone()
    };
    // Clients up to protocol 1.34 (Nix ≤ 2.14) expect the daemon to have
    // made their per-user directories and its own user's (the 2.8 daemon's
    // store does on opening); later daemons leave that to the client.
    if !negotiated.version.at_least(35) {
        let uid = rustix::process::getuid().as_raw();
        let me = crate::server::user_name(uid);
        let made = crate::ops::roots::create_user_dirs(&s.shared, &me, uid)
            .and_then(|()| crate::ops::roots::create_peer_dirs(&s.shared, &s.peer));
        if let Err(e) = made {
            eprintln!(
                "pkgchain-daemon: creating the per-user directories of '{}': {e}",
                s.peer.user
            );
        }
    }
    s.log(&StderrMsg::Last);
    s.wire.flush().await?;
    Ok(())
}

async fn run(s: &mut Session) -> Result<(), WireIoError> {
    handshake(s).await?;
    loop {
        s.wire.flush().await?;
        let op_num = s.wire.read_u64(&s.cx).await?;
        let cx = s.cx.clone();
        let req = match Op::try_from(op_num) {
            Err(_) => {
                // An unknown op desynchronises the stream: say so once, close.
                let msg = format!("invalid operation {op_num}");
                return Err(last_word(s, WireIoError::Protocol(msg)).await);
            }
            Ok(op) => match s.wire.read(&cx, |d| Request::decode_fields(op, d)).await {
                Ok(r) => r,
                Err(WireIoError::Decode(e)) => {
                    let msg = request_error(op, &e);
                    return Err(last_word(s, WireIoError::Protocol(msg)).await);
                }
                Err(e) => return Err(e),
            },
        };
        match crate::ops::dispatch(s, req).await {
            Ok(()) => {}
            Err(OpError::Client(info)) => s.log(&StderrMsg::Error(info)),
            Err(OpError::Fatal(e)) => return Err(last_word(s, e).await),
        }
    }
}

/// How long the daemon tries to deliver its last error to a client whose
/// connection it ends (the client may have stopped reading).
const LAST_WORD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Tells the client why its connection ends when that is something it
/// did, then hands the error back.
async fn last_word(s: &mut Session, e: WireIoError) -> WireIoError {
    if let WireIoError::Protocol(msg) = &e {
        s.log(&StderrMsg::Error(ErrorInfo::new(msg.clone().into_bytes())));
        let _ = tokio::time::timeout(LAST_WORD_TIMEOUT, s.wire.flush()).await;
    }
    e
}

fn request_error(op: Op, e: &DecodeError) -> String {
    format!("error reading request of operation {op:?}: {e}")
}
