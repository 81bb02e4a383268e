//! Protocol versions and the constants that open a connection.

use std::fmt;

/// First word a client sends (`"cxin"` in little-endian bytes).
pub const WORKER_MAGIC_1: u64 = 0x6e69_7863;
/// First word the daemon answers with (`"oixd"` in little-endian bytes).
pub const WORKER_MAGIC_2: u64 = 0x6478_696f;

/// A worker-protocol version `major.minor`, sent on the wire as the u64
/// `major << 8 | minor`.
///
/// Ordering is by major, then minor. Both sides of a connection use the
/// smaller of the two announced versions ([`ProtocolVersion::min`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion {
    major: u8,
    minor: u8,
}

impl ProtocolVersion {
    /// The version we announce as a daemon and as a client: 1.38, the one
    /// spoken by Nix 2.24 – 2.34 (with an empty feature set).
    pub const CURRENT: ProtocolVersion = ProtocolVersion::new(1, 38);

    /// The oldest client version we serve: 1.21 (Nix 2.3).
    ///
    /// Below 1.21 AddToStoreNar sends its NAR inline and activities are not
    /// understood; no client still in use needs that, so such clients are
    /// refused during the handshake with [`crate::wire::HandshakeError::PeerTooOld`].
    pub const MIN_CLIENT: ProtocolVersion = ProtocolVersion::new(1, 21);

    /// The oldest daemon version our client side accepts (same bound).
    pub const MIN_DAEMON: ProtocolVersion = ProtocolVersion::new(1, 21);

    pub const fn new(major: u8, minor: u8) -> Self {
        ProtocolVersion { major, minor }
    }

    /// Shorthand for `1.minor`, the only major version there is.
    pub const fn v1(minor: u8) -> Self {
        ProtocolVersion::new(1, minor)
    }

    pub const fn major(self) -> u8 {
        self.major
    }

    pub const fn minor(self) -> u8 {
        self.minor
    }

    /// The negotiated version of two peers: the smaller of the two.
    pub fn min(self, other: ProtocolVersion) -> ProtocolVersion {
        std::cmp::min(self, other)
    }

    /// The u64 sent on the wire.
    pub const fn to_wire(self) -> u64 {
        (self.major as u64) << 8 | self.minor as u64
    }

    /// Reads the u64 sent on the wire. Values that do not fit in 16 bits
    /// are refused (Nix would silently drop the high bits).
    pub fn from_wire(v: u64) -> Option<Self> {
        let major = u8::try_from(v >> 8).ok()?;
        Some(ProtocolVersion::new(major, (v & 0xff) as u8))
    }

    /// Whether this version is at least `1.minor`.
    pub fn at_least(self, minor: u8) -> bool {
        self >= ProtocolVersion::v1(minor)
    }
}

impl Default for ProtocolVersion {
    fn default() -> Self {
        ProtocolVersion::CURRENT
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_and_order() {
        assert_eq!(ProtocolVersion::v1(34).to_wire(), 0x122);
        assert_eq!(ProtocolVersion::CURRENT.to_wire(), 0x126);
        assert_eq!(
            ProtocolVersion::from_wire(0x115),
            Some(ProtocolVersion::v1(21))
        );
        assert_eq!(ProtocolVersion::from_wire(0x1_0126), None);
        assert!(ProtocolVersion::v1(38) > ProtocolVersion::v1(34));
        assert!(ProtocolVersion::new(2, 0) > ProtocolVersion::v1(200));
        assert_eq!(
            ProtocolVersion::v1(38).min(ProtocolVersion::v1(34)),
            ProtocolVersion::v1(34)
        );
        assert_eq!(ProtocolVersion::v1(35).to_string(), "1.35");
        assert!(ProtocolVersion::v1(30).at_least(30) && !ProtocolVersion::v1(29).at_least(30));
    }
}
