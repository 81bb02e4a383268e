//! The handshake: every client minor we serve, both client styles, every
//! delivery pattern; the bytes Nix 2.8 sent; Nix's handshake vectors.

use super::{MINORS, data};
use crate::wire::*;

fn u64s(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn string(s: &str) -> Vec<u8> {
    let mut v = u64s(&[s.len() as u64]);
    v.extend_from_slice(s.as_bytes());
    v.resize(v.len().next_multiple_of(8), 0);
    v
}

/// What a client of `minor` sends, written from the reference (§1.2), not
/// from our client code.
fn spec_client_bytes(minor: u8) -> Vec<u8> {
    let mut v = u64s(&[WORKER_MAGIC_1, 0x100 | u64::from(minor)]);
    if minor >= 38 {
        v.extend(u64s(&[0])); // no features
    }
    v.extend(u64s(&[0, 0])); // cpu affinity, reserveSpace
    v
}

/// What our daemon (announcing 1.38) answers a client of `minor`.
fn spec_server_bytes(minor: u8, nix_version: &str, trust: Trust) -> Vec<u8> {
    let mut v = u64s(&[WORKER_MAGIC_2, 0x126]);
    if minor >= 38 {
        v.extend(u64s(&[0]));
    }
    if minor >= 33 {
        v.extend(string(nix_version));
    }
    if minor >= 35 {
        v.extend(u64s(&[trust.to_u64()]));
    }
    v
}

fn server() -> ServerHandshake {
    ServerHandshake::new(ServerConfig::new("2.24.0-pkgchain", Trust::Trusted))
}

/// Feeds `input` to the server `chunk` bytes at a time (keeping unconsumed
/// bytes, as a connection loop would). Returns the server's output, the
/// result, and the bytes left over.
fn feed_server(
    hs: &mut ServerHandshake,
    input: &[u8],
    chunk: usize,
) -> (Vec<u8>, Option<Negotiated>, Vec<u8>) {
    let (mut out, mut buf, mut pos) = (Vec::new(), Vec::new(), 0);
    while pos < input.len() {
        let end = (pos + chunk.max(1)).min(input.len());
        buf.extend_from_slice(&input[pos..end]);
        pos = end;
        let (used, status) = hs.advance(&buf, &mut out).expect("valid handshake");
        buf.drain(..used);
        if let HandshakeStatus::Done(n) = status {
            buf.extend_from_slice(&input[pos..]);
            return (out, Some(n), buf);
        }
    }
    (out, None, buf)
}

#[test]
fn server_for_every_client_minor_and_delivery() {
    let trailer = u64s(&[Op::SetOptions.to_wire()]);
    for minor in MINORS {
        let mut input = spec_client_bytes(minor);
        input.extend_from_slice(&trailer);
        for chunk in [input.len(), 1, 3, 8] {
            let mut hs = server();
            let (out, n, left) = feed_server(&mut hs, &input, chunk);
            let n = n.unwrap_or_else(|| panic!("1.{minor} chunk {chunk}: not done"));
            assert_eq!(n.version, ProtocolVersion::v1(minor));
            assert_eq!(n.peer_version, ProtocolVersion::v1(minor));
            assert!(n.features.is_empty());
            assert_eq!(
                out,
                spec_server_bytes(minor, "2.24.0-pkgchain", Trust::Trusted),
                "1.{minor} chunk {chunk}"
            );
            assert_eq!(
                left, trailer,
                "1.{minor}: the first op must stay unconsumed"
            );
            // Done is sticky and consumes nothing more.
            let (used, again) = hs.advance(&left, &mut Vec::new()).expect("done");
            assert_eq!((used, again), (0, HandshakeStatus::Done(n)));
        }
    }
}

#[test]
fn server_answers_magic_before_the_client_version_arrives() {
    // Nix 2.8 – 2.23 send magic1 and wait.
    let mut hs = server();
    let mut out = Vec::new();
    let (used, status) = hs
        .advance(&u64s(&[WORKER_MAGIC_1]), &mut out)
        .expect("magic");
    assert_eq!((used, status), (8, HandshakeStatus::NeedMore { needed: 8 }));
    assert_eq!(out, u64s(&[WORKER_MAGIC_2, 0x126]));
}

#[test]
fn cpu_affinity_value_is_skipped_when_flagged() {
    let input = u64s(&[WORKER_MAGIC_1, 0x122, 1, 7, 0]);
    let (out, n, left) = feed_server(&mut server(), &input, 1);
    assert_eq!(n.map(|n| n.version), Some(ProtocolVersion::v1(34)));
    assert!(left.is_empty());
    assert_eq!(
        out,
        spec_server_bytes(34, "2.24.0-pkgchain", Trust::Trusted)
    );
}

#[test]
fn reproduces_the_nix_2_8_daemon_bytes() {
    // §1.2: a 2.8 client (1.34) and a 2.8 daemon. Client: magic1, 1.34, 0, 0.
    let client = u64s(&[WORKER_MAGIC_1, 0x122, 0, 0]);
    let measured = [
        "6f69786400000000",
        "2201000000000000",
        "0500000000000000",
        "322e382e30000000",
        "73746c6100000000",
    ]
    .concat();
    let stderr_last = StderrMsg::Last;

    // Announcing 1.34 like 2.8 did, we say exactly what it said.
    let mut config = ServerConfig::new("2.8.0", Trust::Unknown);
    config.version = ProtocolVersion::v1(34);
    let (mut out, n, _) = feed_server(&mut ServerHandshake::new(config), &client, client.len());
    assert_eq!(n.map(|n| n.version), Some(ProtocolVersion::v1(34)));
    encode_into(
        &mut out,
        &WireContext::new(ProtocolVersion::v1(34)),
        &stderr_last,
    )
    .expect("LAST");
    assert_eq!(hex(&out), measured);

    // Announcing 1.38, only the version word differs; 1.34 is negotiated.
    let (mut out, n, _) = feed_server(
        &mut ServerHandshake::new(ServerConfig::new("2.8.0", Trust::Unknown)),
        &client,
        8,
    );
    assert_eq!(n.map(|n| n.version), Some(ProtocolVersion::v1(34)));
    encode_into(
        &mut out,
        &WireContext::new(ProtocolVersion::v1(34)),
        &stderr_last,
    )
    .expect("LAST");
    let ours = hex(&out);
    assert_eq!(ours[..16], measured[..16]);
    assert_eq!(&ours[16..32], "2601000000000000");
    assert_eq!(ours[32..], measured[32..]);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn refuses_what_it_cannot_serve() {
    let cases = [
        (
            u64s(&[0x1234]),
            HandshakeError::BadMagic {
                expected: WORKER_MAGIC_1,
                found: 0x1234,
            },
        ),
        (
            u64s(&[WORKER_MAGIC_1, 0x114]),
            HandshakeError::PeerTooOld {
                found: ProtocolVersion::v1(20),
                minimum: ProtocolVersion::v1(21),
            },
        ),
        (
            u64s(&[WORKER_MAGIC_1, 0x226]),
            HandshakeError::UnsupportedMajor {
                found: ProtocolVersion::new(2, 38),
            },
        ),
        (
            u64s(&[WORKER_MAGIC_1, 0x1_0126]),
            HandshakeError::BadVersion(0x1_0126),
        ),
    ];
    for (input, expected) in cases {
        let mut hs = server();
        assert_eq!(
            hs.advance(&input, &mut Vec::new()).map(|_| ()),
            Err(expected)
        );
        assert_eq!(
            hs.advance(&input, &mut Vec::new()).map(|_| ()),
            Err(HandshakeError::AlreadyFailed)
        );
    }
    let msg = HandshakeError::PeerTooOld {
        found: ProtocolVersion::v1(20),
        minimum: ProtocolVersion::v1(21),
    };
    assert_eq!(
        msg.to_string(),
        "peer speaks protocol 1.20, older than the oldest supported (1.21)"
    );
    // A feature list above the collection limit is refused before it arrives.
    let mut config = ServerConfig::new("x", Trust::Unknown);
    config.limits.max_collection_len = 2;
    let r =
        ServerHandshake::new(config).advance(&u64s(&[WORKER_MAGIC_1, 0x126, 3]), &mut Vec::new());
    assert!(matches!(
        r,
        Err(HandshakeError::Decode(DecodeError::TooMany {
            count: 3,
            ..
        }))
    ));
}

#[test]
fn features_are_intersected() {
    let mut config = ServerConfig::new("x", Trust::Unknown);
    config.features = ["a", "b"].iter().map(|s| s.to_string()).collect();
    let mut input = u64s(&[WORKER_MAGIC_1, 0x126, 2]);
    input.extend(string("b"));
    input.extend(string("c"));
    input.extend(u64s(&[0, 0]));
    let (out, n, _) = feed_server(&mut ServerHandshake::new(config), &input, 5);
    let n = n.expect("done");
    assert_eq!(n.features, ["b".to_string()].into_iter().collect());
    let mut expected = u64s(&[WORKER_MAGIC_2, 0x126, 2]);
    expected.extend(string("a"));
    expected.extend(string("b"));
    expected.extend(string("x"));
    expected.extend(u64s(&[0]));
    assert_eq!(out, expected);
}

/// Runs our client against our server, delivering bytes in `chunk`-sized
/// pieces each way, until both are done.
fn converse(client: ClientConfig, server: ServerConfig, chunk: usize) -> (DaemonInfo, Negotiated) {
    let mut to_server = Vec::new();
    let mut c = ClientHandshake::new(client, &mut to_server);
    let mut s = ServerHandshake::new(server);
    let (mut to_client, mut s_in, mut c_in) = (Vec::new(), Vec::new(), Vec::new());
    let (mut c_done, mut s_done) = (None, None);
    for _ in 0..10_000 {
        if c_done.is_some() && s_done.is_some() {
            break;
        }
        let n = chunk.min(to_server.len());
        s_in.extend(to_server.drain(..n));
        let (used, st) = s.advance(&s_in, &mut to_client).expect("server");
        s_in.drain(..used);
        if let HandshakeStatus::Done(x) = st {
            s_done = Some(x);
        }
        let n = chunk.min(to_client.len());
        c_in.extend(to_client.drain(..n));
        let (used, st) = c.advance(&c_in, &mut to_server).expect("client");
        c_in.drain(..used);
        if let HandshakeStatus::Done(x) = st {
            c_done = Some(x);
        }
    }
    assert!(to_server.is_empty() && to_client.is_empty() && s_in.is_empty() && c_in.is_empty());
    (c_done.expect("client done"), s_done.expect("server done"))
}

#[test]
fn our_client_against_our_server() {
    for minor in MINORS.chain([39, 200]) {
        for early in [false, true] {
            for chunk in [1, 7, 1 << 10] {
                let mut cc = ClientConfig::new(ProtocolVersion::v1(minor));
                cc.send_version_early = early;
                let (info, n) = converse(cc, ServerConfig::new("2.24.0", Trust::NotTrusted), chunk);
                let v = ProtocolVersion::v1(minor.min(38));
                assert_eq!((info.negotiated.version, n.version), (v, v));
                assert_eq!(info.negotiated.peer_version, ProtocolVersion::CURRENT);
                assert_eq!(n.peer_version, ProtocolVersion::v1(minor));
                assert_eq!(
                    info.nix_version.as_deref(),
                    (minor >= 33).then_some("2.24.0")
                );
                assert_eq!(
                    info.trust,
                    if minor >= 35 {
                        Trust::NotTrusted
                    } else {
                        Trust::Unknown
                    }
                );
            }
        }
    }
}

#[test]
fn client_bytes_match_the_reference() {
    for minor in MINORS {
        let mut out = Vec::new();
        let mut c = ClientHandshake::new(ClientConfig::new(ProtocolVersion::v1(minor)), &mut out);
        let server_bytes = spec_server_bytes(minor, "v", Trust::Trusted);
        let (used, st) = c.advance(&server_bytes, &mut out).expect("client");
        assert_eq!(used, server_bytes.len());
        assert!(matches!(st, HandshakeStatus::Done(_)));
        assert_eq!(out, spec_client_bytes(minor), "1.{minor}");
    }
}

#[test]
fn nix_handshake_vectors() {
    // handshake-to-client.bin: a daemon speaking 1.10 (Nix's test default).
    let bytes = data("handshake-to-client.bin");
    let mut out = Vec::new();
    let r = ClientHandshake::new(ClientConfig::default(), &mut out).advance(&bytes, &mut out);
    assert_eq!(
        r.map(|_| ()),
        Err(HandshakeError::PeerTooOld {
            found: ProtocolVersion::v1(10),
            minimum: ProtocolVersion::v1(21)
        })
    );
    let old_ok = ClientConfig {
        min_daemon: ProtocolVersion::v1(10),
        ..ClientConfig::default()
    };
    let mut out = Vec::new();
    let (used, st) = ClientHandshake::new(old_ok, &mut out)
        .advance(&bytes, &mut out)
        .expect("1.10 accepted");
    assert_eq!(used, 16);
    let HandshakeStatus::Done(info) = st else {
        panic!("not done")
    };
    assert_eq!(info.negotiated.version, ProtocolVersion::v1(10));
    assert_eq!(info.nix_version, None);
    // At 1.10 nothing follows the client's version word.
    assert_eq!(out, u64s(&[WORKER_MAGIC_1, 0x126]));

    // client-handshake-info_1_*.bin: the daemon's part after the client's
    // fields, for (version string, trust) pairs.
    let tail = |minor: u8, nix: &str, trust: Trust| {
        let mut config = ServerConfig::new(nix, trust);
        config.version = ProtocolVersion::v1(minor);
        let (out, n, _) = feed_server(
            &mut ServerHandshake::new(config),
            &spec_client_bytes(minor),
            8,
        );
        assert!(n.is_some());
        out[16..].to_vec()
    };
    assert_eq!(
        data("client-handshake-info_1_30.bin"),
        tail(30, "foo", Trust::Trusted)
    );
    let expect_33 = [
        tail(33, "foo", Trust::Unknown),
        tail(33, "bar", Trust::Unknown),
    ]
    .concat();
    assert_eq!(data("client-handshake-info_1_33.bin"), expect_33);
    let expect_35 = [
        tail(35, "foo", Trust::NotTrusted),
        tail(35, "bar", Trust::Trusted),
    ]
    .concat();
    assert_eq!(data("client-handshake-info_1_35.bin"), expect_35);
}
