//! Fuzz entry for the daemon's side of a connection: arbitrary client
//! bytes go through the server handshake, then are read as a sequence of
//! op requests with their framed payloads.
//!
//! Invariants: nothing panics; lengths above the (deliberately small)
//! limits are refused; the handshake gives the same result and the same
//! bytes whether the input arrives at once or byte by byte; every request
//! that decodes re-encodes to exactly its bytes when they were canonical,
//! and to bytes that decode to the same request otherwise; framed streams
//! re-encode to their bytes.

use crate::wire::{
    Decoder, FrameDecoder, FrameEvent, HandshakeStatus, Limits, Negotiated, Payload,
    ProtocolVersion, Request, ServerConfig, ServerHandshake, Trust, ValidPathInfo, WireContext,
    decode_read_reply, encode_to_vec,
};

const LIMITS: Limits = Limits {
    max_string_len: 1 << 16,
    max_collection_len: 1 << 10,
    max_frame_len: 1 << 16,
    max_message_len: 1 << 18,
};

/// How much of the input is also fed to a second handshake byte by byte.
const BYTEWISE_WINDOW: usize = 2048;

/// How many requests one input may hold before we stop reading.
const MAX_REQUESTS: usize = 64;

pub fn wire_session(data: &[u8]) {
    let Some((used, negotiated)) = handshake(data) else {
        return;
    };
    let cx = WireContext {
        limits: LIMITS,
        ..WireContext::new(negotiated.version)
    };
    let mut rest = &data[used..];
    for _ in 0..MAX_REQUESTS {
        let Some(n) = request(rest, &cx) else { return };
        rest = &rest[n..];
    }
}

fn server() -> ServerHandshake {
    let mut config = ServerConfig::new("fuzz", Trust::Trusted);
    config.limits = LIMITS;
    ServerHandshake::new(config)
}

/// Runs the server handshake at once and byte by byte; both must agree.
fn handshake(data: &[u8]) -> Option<(usize, Negotiated)> {
    let mut out = Vec::new();
    let whole = server().advance(data, &mut out);

    let mut hs = server();
    let (mut out_bytewise, mut buf, mut consumed) = (Vec::new(), Vec::new(), 0);
    let mut bytewise = None;
    for &b in data.iter().take(BYTEWISE_WINDOW) {
        buf.push(b);
        match hs.advance(&buf, &mut out_bytewise) {
            Ok((used, status)) => {
                buf.drain(..used);
                consumed += used;
                if let HandshakeStatus::Done(n) = status {
                    bytewise = Some(Ok((consumed, n)));
                    break;
                }
            }
            Err(e) => {
                bytewise = Some(Err(e));
                break;
            }
        }
    }

    match (whole, bytewise) {
        (Ok((used, HandshakeStatus::Done(n))), Some(Ok((used_b, n_b)))) => {
            assert_eq!(
                (used, &n),
                (used_b, &n_b),
                "handshake result depends on delivery"
            );
            assert_eq!(out, out_bytewise, "handshake output depends on delivery");
            assert!(
                n.version >= ProtocolVersion::MIN_CLIENT && n.version <= ProtocolVersion::CURRENT
            );
            Some((used, n))
        }
        (Ok((_, HandshakeStatus::Done(_))), None) => None, // done only beyond the byte-by-byte window
        (Err(e), Some(Err(e_b))) => {
            assert_eq!(e, e_b, "handshake error depends on delivery");
            None
        }
        (Ok((_, HandshakeStatus::NeedMore { .. })), None) => {
            if data.len() <= BYTEWISE_WINDOW {
                assert_eq!(out, out_bytewise, "handshake output depends on delivery");
            }
            None
        }
        (Err(_), None) => None, // failed beyond the byte-by-byte window
        (whole, bytewise) => {
            panic!("handshake disagrees: at once {whole:?}, byte by byte {bytewise:?}")
        }
    }
}

/// Decodes one request and its payload from the start of `input`;
/// returns the bytes used, or `None` when the session cannot go on.
fn request(input: &[u8], cx: &WireContext) -> Option<usize> {
    let mut d = Decoder::new(input, cx);
    let req = Request::decode(&mut d).ok()?;
    let n = d.pos();
    check_reencoding(&req, &input[..n], d.is_canonical(), cx);
    let payload = match req.payload(cx.version) {
        Payload::None => 0,
        Payload::Framed => framed(
            &input[n..],
            cx,
            matches!(req, Request::AddMultipleToStore { .. }),
        )?,
        Payload::StderrRead => read_replies(&input[n..], cx)?,
        // The NAR grammar belongs to the nar module.
        Payload::InlineNar => return None,
    };
    Some(n + payload)
}

fn check_reencoding(req: &Request, bytes: &[u8], canonical: bool, cx: &WireContext) {
    let again = encode_to_vec(cx, req).expect("a decoded request is encodable at its version");
    if canonical {
        assert_eq!(
            again, bytes,
            "canonical request re-encodes differently: {req:?}"
        );
    } else {
        let mut d = Decoder::new(&again, cx);
        let back = Request::decode(&mut d).expect("our encoding decodes");
        assert_eq!(&back, req);
        assert!(d.is_canonical() && d.pos() == again.len());
    }
}

/// Reads a framed stream to its terminator and checks that framing the
/// same chunks again gives the same bytes. For AddMultipleToStore, also
/// reads the item count and the first item's path info (at 1.16).
fn framed(input: &[u8], cx: &WireContext, multiple: bool) -> Option<usize> {
    let mut dec = FrameDecoder::new(cx.limits.max_frame_len);
    let (mut used, mut reframed, mut payload) = (0, Vec::new(), Vec::new());
    loop {
        let (n, ev) = dec.decode(&input[used..]).ok()?;
        used += n;
        match ev {
            FrameEvent::Data(chunk) => {
                // Fed at once, each chunk is one whole frame.
                reframed.extend_from_slice(&(chunk.len() as u64).to_le_bytes());
                reframed.extend_from_slice(chunk);
                payload.extend_from_slice(chunk);
            }
            FrameEvent::NeedMore { .. } => return None,
            FrameEvent::End => break,
        }
    }
    reframed.extend_from_slice(&0u64.to_le_bytes());
    assert_eq!(reframed, &input[..used]);
    assert_eq!(dec.payload_len(), payload.len() as u64);
    if multiple {
        let cx16 = cx.at_version(ProtocolVersion::v1(16));
        let mut d = Decoder::new(&payload, &cx16);
        if d.u64().is_ok() {
            let start = d.pos();
            if let Ok(info) = d.decode::<ValidPathInfo>() {
                if d.is_canonical() {
                    let again = encode_to_vec(&cx16, &info).expect("path info encodes");
                    assert_eq!(again, &payload[start..d.pos()]);
                }
            }
        }
    }
    Some(used)
}

/// The client's answers to STDERR_READ requests of 64 KiB, up to the
/// empty answer that means end of file.
fn read_replies(input: &[u8], cx: &WireContext) -> Option<usize> {
    let mut d = Decoder::new(input, cx);
    loop {
        if decode_read_reply(&mut d, 1 << 16).ok()?.is_empty() {
            return Some(d.pos());
        }
    }
}
