//! Real Nix 2.8 traffic (tests/data/wire/nix-2.8-*.bin), replayed in both
//! directions: our daemon-side handshake answers the real client with the
//! real daemon's bytes, our client-side handshake sends the real client's
//! bytes, and every request, stderr message and reply decodes and encodes
//! back to exactly what was on the wire.

use super::data;
use crate::wire::*;

/// Decodes one value at `*pos`, checks it is canonical and that `encode`
/// gives back its bytes, and moves `*pos` past it.
fn take<T>(
    bytes: &[u8],
    pos: &mut usize,
    cx: &WireContext,
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    encode: impl FnOnce(&mut Encoder<'_>, &T),
) -> T {
    let mut d = Decoder::new(&bytes[*pos..], cx);
    let v = decode(&mut d).unwrap_or_else(|e| panic!("at {}: {e}", *pos));
    assert!(d.is_canonical(), "non-canonical bytes at {}", *pos);
    let mut again = Vec::new();
    encode(&mut Encoder::new(&mut again, cx), &v);
    assert_eq!(
        again,
        &bytes[*pos..*pos + d.pos()],
        "re-encoding at {}",
        *pos
    );
    *pos += d.pos();
    v
}

fn take_value<T: WireDecode + WireEncode>(bytes: &[u8], pos: &mut usize, cx: &WireContext) -> T {
    take(bytes, pos, cx, T::decode, |e, v| {
        v.encode(e).expect("encodable")
    })
}

/// The reply that follows STDERR_LAST for the ops these captures use.
fn reply(op: Op, d: &mut Decoder<'_>, e: &mut Encoder<'_>) -> Result<(), DecodeError> {
    match op {
        Op::SetOptions => {}
        Op::AddToStore => e.encode(&d.decode::<ValidPathInfo>()?).expect("info"),
        Op::QueryMissing => {
            for field in ["willBuild", "willSubstitute", "unknown"] {
                e.path_set(&d.path_set(field)?);
            }
            e.u64(d.u64()?); // downloadSize
            e.u64(d.u64()?); // narSize
        }
        Op::QueryPathInfo => {
            let valid = d.bool()?;
            e.bool(valid);
            if valid {
                e.encode(&d.decode::<UnkeyedValidPathInfo>()?)
                    .expect("info");
            }
        }
        Op::BuildPaths | Op::AddTempRoot | Op::AddIndirectRoot | Op::EnsurePath => e.u64(d.u64()?),
        Op::QueryDerivationOutputMap => {
            let m = d.map(
                "outputs",
                |d| d.string("output"),
                |d| d.opt_store_path("path"),
            )?;
            e.u64(m.len() as u64);
            for (name, p) in &m {
                e.str(name);
                e.opt_store_path(p.as_ref());
            }
        }
        Op::BuildPathsWithResults => e
            .encode(&d.decode::<Vec<KeyedBuildResult>>()?)
            .expect("results"),
        Op::QueryReferrers => e.path_set(&d.path_set("referrers")?),
        other => panic!("no reply decoder for {other}"),
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Replay {
    ops: Vec<Op>,
    /// Per op (the handshake first): the stderr messages it produced.
    logs: Vec<Vec<StderrMsg>>,
    replies: Vec<Vec<u8>>,
}

fn replay(name: &str) -> Replay {
    let client = data(&format!("nix-2.8-{name}.client.bin"));
    let server = data(&format!("nix-2.8-{name}.server.bin"));
    let v = ProtocolVersion::v1(34);

    // Our daemon, announcing what 2.8 announced, answers as 2.8 did.
    let mut config = ServerConfig::new("2.8.0", Trust::Unknown);
    config.version = v;
    let mut ours = Vec::new();
    let (mut c, st) = ServerHandshake::new(config)
        .advance(&client, &mut ours)
        .expect("server handshake");
    assert!(matches!(st, HandshakeStatus::Done(Negotiated { version, .. }) if version == v));
    assert_eq!(ours, server[..ours.len()], "{name}: daemon handshake bytes");

    // Our client, waiting for magic2 as 2.8 does, says what 2.8 said.
    let config = ClientConfig {
        send_version_early: false,
        ..ClientConfig::new(v)
    };
    let mut said = Vec::new();
    let mut hs = ClientHandshake::new(config, &mut said);
    let (mut s, st) = hs.advance(&server, &mut said).expect("client handshake");
    let HandshakeStatus::Done(info) = st else {
        panic!("{name}: client handshake not done")
    };
    assert_eq!(info.nix_version.as_deref(), Some("2.8.0"));
    assert_eq!(
        (s, said.as_slice()),
        (ours.len(), &client[..c]),
        "{name}: client handshake bytes"
    );

    let cx = WireContext::new(v);
    let mut replay = Replay::default();
    let stderr_window = |s: &mut usize| {
        let mut log = Vec::new();
        loop {
            let m: StderrMsg = take_value(&server, s, &cx);
            let end = matches!(m, StderrMsg::Last | StderrMsg::Error(_));
            let failed = matches!(m, StderrMsg::Error(_));
            log.push(m);
            if end {
                return (log, failed);
            }
        }
    };
    let (log, _) = stderr_window(&mut s);
    replay.logs.push(log);

    while c < client.len() {
        let req: Request = take_value(&client, &mut c, &cx);
        match req.payload(v) {
            Payload::None => {}
            Payload::Framed => {
                let mut frames = FrameDecoder::new(cx.limits.max_frame_len);
                loop {
                    let (n, ev) = frames.decode(&client[c..]).expect("valid frames");
                    c += n;
                    match ev {
                        FrameEvent::Data(_) => {}
                        FrameEvent::End => break,
                        FrameEvent::NeedMore { .. } => panic!("{name}: framed stream cut short"),
                    }
                }
            }
            other => panic!("{name}: unexpected payload {other:?}"),
        }
        let (log, failed) = stderr_window(&mut s);
        replay.logs.push(log);
        replay.ops.push(req.op());
        if !failed {
            let start = s;
            replay.replies.push(take(
                &server,
                &mut s,
                &cx,
                |d| {
                    let mut out = Vec::new();
                    reply(req.op(), d, &mut Encoder::new(&mut out, &cx))?;
                    Ok(out)
                },
                |e, out| e.raw(out),
            ));
            assert!(s >= start);
        }
    }
    assert_eq!(s, server.len(), "{name}: daemon bytes left over");
    replay
}

#[test]
fn nix_build() {
    let r = replay("nix-build");
    use Op::*;
    assert_eq!(
        r.ops,
        [
            SetOptions,
            AddToStore,
            QueryMissing,
            QueryPathInfo,
            BuildPaths,
            QueryDerivationOutputMap,
            AddTempRoot,
            AddIndirectRoot
        ]
    );
    let build_log = &r.logs[5];
    assert!(build_log.iter().any(|m| matches!(m,
        StderrMsg::Result { result_type: ResultType::BuildLogLine, fields, .. } if fields == &[Field::from("building")])));
    assert!(build_log.iter().any(|m| matches!(
        m,
        StderrMsg::StartActivity(StartActivity {
            activity_type: ActivityType::Build,
            ..
        })
    )));
    assert_eq!(build_log.last(), Some(&StderrMsg::Last));
}

#[test]
fn nix_build_failing() {
    let r = replay("nix-build-fail");
    assert_eq!(r.ops.last(), Some(&Op::BuildPaths));
    let Some(StderrMsg::Error(err)) = r.logs.last().and_then(|l| l.last()) else {
        panic!("no error")
    };
    assert_eq!(err.level, Verbosity::Error);
    assert!(err.traces.is_empty());
    let msg = String::from_utf8_lossy(&err.message);
    assert!(
        msg.contains("failed with exit code 1") && msg.contains("last 2 log lines"),
        "{msg}"
    );
}

#[test]
fn nix_build_new_cli() {
    let r = replay("nix-build-new-cli");
    use Op::*;
    assert_eq!(
        r.ops,
        [
            SetOptions,
            AddToStore,
            BuildPathsWithResults,
            AddTempRoot,
            AddIndirectRoot
        ]
    );
    // Warnings about the unreachable cache arrive as plain log lines.
    assert!(
        r.logs[3]
            .iter()
            .any(|m| matches!(m, StderrMsg::Next(l) if l.ends_with(b"\n")))
    );
    let cx = WireContext::new(ProtocolVersion::v1(34));
    let (results, _) = decode_prefix::<Vec<KeyedBuildResult>>(&r.replies[2], &cx).expect("results");
    assert_eq!(results.len(), 1);
    let res = &results[0].result;
    assert_eq!((res.status, res.times_built), (BuildStatus::Built, 1));
    assert!(res.stop_time >= res.start_time && res.start_time > 0);
    assert_eq!(res.built_outputs.len(), 1);
    let (id, json) = res.built_outputs.iter().next().expect("one output");
    assert!(id.starts_with("sha256:") && id.ends_with("!out"), "{id}");
    assert!(
        json.contains("\"outPath\":\"2l3vcvrfx1j4rr0v2fhn62z2i94q2jx7-pc-wire-new-cli\""),
        "{json}"
    );
}

#[test]
fn queries_and_ping() {
    assert_eq!(
        replay("query-references").ops,
        [Op::SetOptions, Op::QueryPathInfo]
    );
    assert_eq!(
        replay("query-referrers").ops,
        [Op::SetOptions, Op::QueryReferrers]
    );
    let ping = replay("store-ping");
    assert_eq!(ping.ops, [Op::SetOptions]);
    assert_eq!(
        ping.logs,
        vec![vec![StderrMsg::Last], vec![StderrMsg::Last]]
    );
}
