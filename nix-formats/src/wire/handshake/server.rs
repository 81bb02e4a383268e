//! The daemon side of the handshake.

use std::collections::BTreeSet;

use super::{HandshakeError, HandshakeStatus, Negotiated, Step, check_peer_version, step_result};
use crate::wire::context::{Limits, WireContext};
use crate::wire::de::Decoder;
use crate::wire::ser::Encoder;
use crate::wire::types::Trust;
use crate::wire::version::{ProtocolVersion, WORKER_MAGIC_1, WORKER_MAGIC_2};

/// What the daemon announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Announced version (default 1.38).
    pub version: ProtocolVersion,
    /// Older clients are refused (default 1.21).
    pub min_client: ProtocolVersion,
    /// Free text sent from 1.33 on, shown by `nix store ping`.
    pub nix_version: String,
    /// Sent from 1.35 on.
    pub trust: Trust,
    /// Sent from 1.38 on (Nix 2.24 – 2.34 send none).
    pub features: BTreeSet<String>,
    pub limits: Limits,
}

impl ServerConfig {
    pub fn new(nix_version: impl Into<String>, trust: Trust) -> Self {
        ServerConfig {
            version: ProtocolVersion::CURRENT,
            min_client: ProtocolVersion::MIN_CLIENT,
            nix_version: nix_version.into(),
            trust,
            features: BTreeSet::new(),
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Magic,
    ClientVersion,
    ClientFeatures,
    CpuAffinity,
    CpuValue,
    ReserveSpace,
    Done,
    Failed,
}

/// The daemon's handshake state machine.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    cx: WireContext,
    progress: Progress,
}

/// The part of the machine a step changes.
#[derive(Debug, Clone)]
struct Progress {
    config: ServerConfig,
    state: State,
    negotiated: Negotiated,
}

impl ServerHandshake {
    pub fn new(config: ServerConfig) -> Self {
        let cx = WireContext {
            limits: config.limits,
            ..WireContext::default()
        };
        let negotiated = Negotiated {
            version: config.version,
            peer_version: config.version,
            features: BTreeSet::new(),
        };
        ServerHandshake {
            cx,
            progress: Progress {
                config,
                state: State::Magic,
                negotiated,
            },
        }
    }

    /// Consumes client bytes from the start of `input` and appends the
    /// daemon's bytes to `out`. Returns how many input bytes were used and
    /// whether the handshake is complete. Once it is, later calls consume
    /// nothing and report `Done` again; once it failed, they fail.
    pub fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, HandshakeStatus<Negotiated>), HandshakeError> {
        let mut used = 0;
        loop {
            let p = &mut self.progress;
            if p.state == State::Done {
                return Ok((used, HandshakeStatus::Done(p.negotiated.clone())));
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
    /// Runs one step; on `Incomplete` nothing of it has taken effect.
    fn step(&mut self, d: &mut Decoder<'_>, e: &mut Encoder<'_>) -> Result<(), HandshakeError> {
        let v = self.negotiated.version;
        self.state = match self.state {
            State::Magic => {
                let found = d.u64()?;
                if found != WORKER_MAGIC_1 {
                    return Err(HandshakeError::BadMagic {
                        expected: WORKER_MAGIC_1,
                        found,
                    });
                }
                e.u64(WORKER_MAGIC_2);
                e.u64(self.config.version.to_wire());
                State::ClientVersion
            }
            State::ClientVersion => {
                let client = check_peer_version(d.u64()?, self.config.min_client)?;
                self.negotiated.peer_version = client;
                self.negotiated.version = client.min(self.config.version);
                if self.negotiated.version.at_least(38) {
                    State::ClientFeatures
                } else {
                    State::CpuAffinity
                }
            }
            State::ClientFeatures => {
                let theirs = d.string_set("client features")?;
                e.strings(&self.config.features);
                self.negotiated.features = theirs
                    .intersection(&self.config.features)
                    .cloned()
                    .collect();
                State::CpuAffinity
            }
            State::CpuAffinity if v.at_least(14) => {
                if d.u64()? != 0 {
                    State::CpuValue
                } else {
                    State::ReserveSpace
                }
            }
            State::CpuAffinity => State::ReserveSpace,
            State::CpuValue => {
                d.u64()?;
                State::ReserveSpace
            }
            State::ReserveSpace => {
                if v.at_least(11) {
                    d.u64()?;
                }
                if v.at_least(33) {
                    e.str(&self.config.nix_version);
                }
                if v.at_least(35) {
                    e.u64(self.config.trust.to_u64());
                }
                State::Done
            }
            State::Done => State::Done,
            State::Failed => return Err(HandshakeError::AlreadyFailed),
        };
        Ok(())
    }
}
