//! Tests of the wire module as a whole: golden vectors from Nix,
//! round-trip properties for every type at every version we serve, and
//! the handshake in every delivery pattern.

mod arb;
mod captures;
mod golden;
mod handshake;
mod requests;
mod roundtrip;
mod stderr;

use std::fmt::Debug;
use std::path::Path;

use super::{DecodeError, Decoder, WireContext, WireDecode, WireEncode, encode_to_vec};
use crate::store_path::StorePath;
use crate::wire::ProtocolVersion;

/// Every version of a client we serve.
pub(super) const MINORS: std::ops::RangeInclusive<u8> = 21..=38;

pub(super) fn cx(minor: u8) -> WireContext {
    WireContext::new(ProtocolVersion::v1(minor))
}

pub(super) fn data(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wire")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub(super) fn path(base: &str) -> StorePath {
    StorePath::from_base_name(base).expect("test store path")
}

/// Encodes `v`, decodes it back, and checks: same value, all bytes used,
/// canonical, and every strict prefix of the bytes is `Incomplete` with a
/// `needed` count that the missing bytes can satisfy.
pub(super) fn check_round_trip<T>(v: &T, cx: &WireContext) -> Vec<u8>
where
    T: WireEncode + WireDecode + PartialEq + Debug,
{
    let bytes = encode_to_vec(cx, v).expect("encodable at this version");
    let mut d = Decoder::new(&bytes, cx);
    let back = T::decode(&mut d).unwrap_or_else(|e| panic!("decode {v:?} at {}: {e}", cx.version));
    assert_eq!(&back, v, "at {}", cx.version);
    assert_eq!(d.pos(), bytes.len(), "{v:?} left bytes at {}", cx.version);
    assert!(
        d.is_canonical(),
        "our own encoding of {v:?} is not canonical"
    );
    assert_eq!(encode_to_vec(cx, &back).expect("re-encode"), bytes);
    check_prefixes::<T>(&bytes, cx);
    bytes
}

/// Every strict prefix of a valid encoding says "need more", never an
/// error and never a panic.
pub(super) fn check_prefixes<T: WireDecode + Debug>(bytes: &[u8], cx: &WireContext) {
    for len in 0..bytes.len() {
        match T::decode(&mut Decoder::new(&bytes[..len], cx)) {
            Err(DecodeError::Incomplete { needed }) => {
                assert!(
                    needed >= 1 && needed <= bytes.len() - len,
                    "prefix {len}/{}: needed {needed}",
                    bytes.len()
                )
            }
            other => panic!(
                "prefix {len} of {} bytes at {}: {other:?}",
                bytes.len(),
                cx.version
            ),
        }
    }
}
