//! The client side of the handshake (used by our tests and tools).

use std::collections::BTreeSet;

use super::{HandshakeError, HandshakeStatus, Negotiated, Step, check_peer_version, step_result};
use crate::wire::context::{Limits, WireContext};
use crate::wire::de::{Decoder, WireDecode};
use crate::wire::ser::Encoder;
use crate::wire::types::Trust;
use crate::wire::version::{ProtocolVersion, WORKER_MAGIC_1, WORKER_MAGIC_2};

/// How the client opens the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Announced version (default 1.38).
    pub version: ProtocolVersion,
    /// Older daemons are refused (default 1.21).
    pub min_daemon: ProtocolVersion,
    /// Sent from 1.38 on.
    pub features: BTreeSet<String>,
    /// Send the version together with magic1, as Nix ≥ 2.24 does (true),
    /// or only after reading the daemon's version, as Nix 2.8 – 2.23 and
    /// Lix do (false).
    pub send_version_early: bool,
    pub limits: Limits,
}

impl ClientConfig {
    pub fn new(version: ProtocolVersion) -> Self {
        ClientConfig {
            version,
            min_daemon: ProtocolVersion::MIN_DAEMON,
            features: BTreeSet::new(),
            send_version_early: version.at_least(38),
            limits: Limits::default(),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::new(ProtocolVersion::CURRENT)
    }
}

/// What the client learnt about the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    pub negotiated: Negotiated,
    /// The daemon's Nix version string (≥ 1.33).
    pub nix_version: Option<String>,
    /// Whether the daemon trusts us (≥ 1.35; `Unknown` before).
    pub trust: Trust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Magic,
    DaemonVersion,
    DaemonFeatures,
    NixVersion,
    Trust,
    Done,
    Failed,
}

/// The client's handshake state machine.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    cx: WireContext,
    progress: Progress,
}

/// The part of the machine a step changes.
#[derive(Debug, Clone)]
struct Progress {
    config: ClientConfig,
    state: State,
    info: DaemonInfo,
}

impl ClientHandshake {
    /// Starts the handshake, appending the client's first bytes to `out`.
    pub fn new(config: ClientConfig, out: &mut Vec<u8>) -> Self {
        let cx = WireContext {
            limits: config.limits,
            ..WireContext::default()
        };
        {
            let mut e = Encoder::new(out, &cx);
            e.u64(WORKER_MAGIC_1);
            if config.send_version_early {
                e.u64(config.version.to_wire());
            }
        }
        let negotiated = Negotiated {
            version: config.version,
            peer_version: config.version,
            features: BTreeSet::new(),
        };
        let info = DaemonInfo {
            negotiated,
            nix_version: None,
            trust: Trust::Unknown,
        };
        ClientHandshake {
            cx,
            progress: Progress {
                config,
                state: State::Magic,
                info,
            },
        }
    }

    /// Consumes daemon bytes from the start of `input`, appending the
    /// client's answers to `out`; see [`super::ServerHandshake::advance`].
    pub fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, HandshakeStatus<DaemonInfo>), HandshakeError> {
        let mut used = 0;
        loop {
            let p = &mut self.progress;
            if p.state == State::Done {
                return Ok((used, HandshakeStatus::Done(p.info.clone())));
            }
            let mut d = Decoder::new(&input[used..], &self.cx);
            let mut e = Encoder::new(out, &self.cx);
            match step_result(p.step(&mut d, &mut e)) {
                Ok(Step::Continue) => used += d.pos(),
                Ok(Step::Wait(needed)) => return Ok((used, HandshakeStatus::NeedMore { needed })),
                Err(err) => {
                    p.state = State::Failed;
                    return Err(err);
                }
            }
        }
    }
}

impl Progress {
    fn after_features(&self) -> State {
        let v = self.info.negotiated.version;
        if v.at_least(33) {
            State::NixVersion
        } else {
            State::Done
        }
    }

    /// The obsolete cpu-affinity flag and reserveSpace, both 0.
    fn write_obsolete_fields(&self, e: &mut Encoder<'_>) {
        let v = self.info.negotiated.version;
        if v.at_least(14) {
            e.u64(0);
        }
        if v.at_least(11) {
            e.u64(0);
        }
    }

    fn step(&mut self, d: &mut Decoder<'_>, e: &mut Encoder<'_>) -> Result<(), HandshakeError> {
        self.state = match self.state {
            State::Magic => {
                let found = d.u64()?;
                if found != WORKER_MAGIC_2 {
                    return Err(HandshakeError::BadMagic {
                        expected: WORKER_MAGIC_2,
                        found,
                    });
                }
                State::DaemonVersion
            }
            State::DaemonVersion => {
                let daemon = check_peer_version(d.u64()?, self.config.min_daemon)?;
                if !self.config.send_version_early {
                    e.u64(self.config.version.to_wire());
                }
                self.info.negotiated.peer_version = daemon;
                self.info.negotiated.version = daemon.min(self.config.version);
                if self.info.negotiated.version.at_least(38) {
                    e.strings(&self.config.features);
                    State::DaemonFeatures
                } else {
                    self.write_obsolete_fields(e);
                    self.after_features()
                }
            }
            State::DaemonFeatures => {
                let theirs = d.string_set("daemon features")?;
                self.info.negotiated.features = theirs
                    .intersection(&self.config.features)
                    .cloned()
                    .collect();
                self.write_obsolete_fields(e);
                self.after_features()
            }
            State::NixVersion => {
                self.info.nix_version = Some(d.string("daemon Nix version")?);
                if self.info.negotiated.version.at_least(35) {
                    State::Trust
                } else {
                    State::Done
                }
            }
            State::Trust => {
                self.info.trust = Trust::decode(d)?;
                State::Done
            }
            State::Done => State::Done,
            State::Failed => return Err(HandshakeError::AlreadyFailed),
        };
        Ok(())
    }
}
