//! Bad and hostile clients against the real `pkgchain-daemon`: garbage,
//! uploads cut off mid-NAR, invalid NARs, forged `.drv`s, huge lengths,
//! endless streams and slowloris connections. After each, a well-behaved
//! client (concurrently where the bad one is still connected, and
//! afterwards) must get correct answers, and nothing half-received may
//! have become valid.
//!
//! Memory is checked as a resource bound: the daemon's peak RSS (VmHWM)
//! may grow by at most [`RSS_BOUND`] over a whole barrage of huge claims.

#![allow(clippy::unwrap_used)]

mod hostile_support;

use std::collections::BTreeSet;
use std::io::Write;

use hostile_support::*;
use nix_formats::content_address::{ContentAddress, FileIngestionMethod};
use nix_formats::derivation::{Derivation, DerivationOutput, DrvHash};
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::store_path::StorePath;
use nix_formats::wire::{
    Encoder, Op, ProtocolVersion, Request, UnkeyedValidPathInfo, ValidPathInfo, WireContext,
};

/// How much the daemon's peak RSS may grow over a barrage of huge claims.
const RSS_BOUND: u64 = 64 << 20;

fn op_bytes(op: Op) -> Vec<u8> {
    op.to_wire().to_le_bytes().to_vec()
}

fn u64_bytes(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// Info for uploading `nar` as `path`.
fn info_for(path: &StorePath, nar: &[u8]) -> ValidPathInfo {
    ValidPathInfo {
        path: path.clone(),
        info: UnkeyedValidPathInfo::new(Hash::sha256(nar), nar.len() as u64),
    }
}

/// Some input-addressed path in the daemon's store that nothing made.
fn some_path(d: &Daemon, name: &str) -> StorePath {
    d.store_dir
        .make_text_path(name, &Hash::sha256(name.as_bytes()), &BTreeSet::new())
        .unwrap()
}

// ---------------------------------------------------------------- case 1

#[test]
fn garbage_instead_of_the_handshake_is_dropped() {
    let mut d = Daemon::start();
    for (i, garbage) in [
        noise(4096, 1),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0; 16],
    ]
    .iter()
    .enumerate()
    {
        let mut c = Client::connect(&d);
        // The daemon may hang up before reading everything.
        let _ = c.send(garbage);
        assert!(c.closed_by_daemon(), "garbage {i} kept the connection open");
        well_behaved(&d, &format!("after-garbage-{i}"));
    }
    // A magic then a version word that is no version.
    let mut c = Client::connect(&d);
    c.send(&u64_bytes(0x6e69_7863)).unwrap();
    c.send(&u64_bytes(0xdead_beef_0000_0000)).unwrap();
    assert!(c.closed_by_daemon());
    well_behaved(&d, "after-bad-version");
    assert!(d.alive());
}

#[test]
fn unknown_ops_get_one_error_then_the_connection_closes() {
    let d = Daemon::start();
    let unknown: Vec<u64> = [0, 2, 15, 17, 48, 1000, u64::MAX, 0x6e69_7863]
        .into_iter()
        .filter(|n| Op::try_from(*n).is_err())
        .collect();
    assert!(unknown.len() >= 6, "test ops must be unknown");
    for version in [V2_8, ProtocolVersion::new(1, 24)] {
        for &op in &unknown {
            let mut c = Client::open(&d, version);
            c.send(&u64_bytes(op)).unwrap();
            // Structured from 1.26 on; message + status before: the
            // client decodes whichever form its version has.
            let msg = c.expect_error();
            assert_eq!(msg, format!("invalid operation {op}"), "version {version}");
            assert!(c.closed_by_daemon(), "op {op} left the stream open");
        }
        well_behaved(&d, &format!("after-unknown-ops-{}", version.minor()));
    }
}

#[test]
fn malformed_request_fields_get_an_error_then_close() {
    let d = Daemon::start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a store path", {
            let mut c = Client::connect(&d);
            c.cx.version = V2_8;
            let mut v = op_bytes(Op::IsValidPath);
            v.extend(c.encode("/etc/passwd"));
            v
        }),
        ("not UTF-8", {
            let mut v = op_bytes(Op::QueryPathFromHashPart);
            v.extend(u64_bytes(4));
            v.extend([0xff, 0xfe, 0xfd, 0xfc, 0, 0, 0, 0]);
            v
        }),
        ("non-zero padding", {
            let mut v = op_bytes(Op::QueryPathFromHashPart);
            v.extend(u64_bytes(1));
            v.extend(b"aXXXXXXX");
            v
        }),
        ("bad content-address method", {
            let c = Client::connect(&d);
            let mut v = op_bytes(Op::AddToStore);
            v.extend(c.encode("x"));
            v.extend(c.encode("fixed:r:sha257"));
            v
        }),
    ];
    for (what, bytes) in cases {
        let mut c = Client::open(&d, V2_8);
        c.send(&bytes).unwrap();
        let msg = c.expect_error();
        assert!(
            msg.starts_with("error reading request of operation"),
            "{what}: {msg}"
        );
        assert!(c.closed_by_daemon(), "{what}: connection left open");
        well_behaved(&d, &format!("after-{}", what.replace(' ', "-")));
    }
}

// ---------------------------------------------------------------- case 2

/// The three ways a NAR is uploaded at protocol 1.34, and a flat file
/// (named after the ops).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy)]
enum Upload {
    AddToStoreNar,
    AddToStore,
    AddMultipleToStore,
    /// AddToStore `fixed:sha256`: the payload is the file itself, so only
    /// the end of the stream says it is complete.
    AddToStoreFlat,
}

impl Upload {
    /// The ways a NAR is uploaded.
    const NAR: [Upload; 3] = [
        Upload::AddToStoreNar,
        Upload::AddToStore,
        Upload::AddMultipleToStore,
    ];

    /// The request and the framed payload's bytes for uploading `nar` (at
    /// `path` where the op names it); and the path the upload would
    /// create.
    fn build(
        self,
        c: &Client,
        d: &Daemon,
        name: &str,
        nar: &[u8],
    ) -> (Vec<u8>, Vec<u8>, StorePath) {
        let ca_path = d
            .store_dir
            .make_fixed_output_path(
                name,
                FileIngestionMethod::Recursive,
                &Hash::sha256(nar),
                &BTreeSet::new(),
                false,
            )
            .unwrap();
        let mut info = info_for(&ca_path, nar);
        info.info.ca = Some(ContentAddress::Fixed {
            method: FileIngestionMethod::Recursive,
            hash: Hash::sha256(nar),
        });
        match self {
            Upload::AddToStoreNar => {
                let req = c.encode(&Request::AddToStoreNar {
                    info,
                    repair: false,
                    dont_check_sigs: true,
                });
                (req, nar.to_vec(), ca_path)
            }
            Upload::AddToStore => {
                let req = c.encode(&Request::AddToStore {
                    name: name.to_owned(),
                    method: nix_formats::content_address::ContentAddressMethod::Fixed(
                        FileIngestionMethod::Recursive,
                    ),
                    algo: HashAlgo::Sha256,
                    references: BTreeSet::new(),
                    repair: false,
                });
                (req, nar.to_vec(), ca_path)
            }
            Upload::AddToStoreFlat => {
                let contents = match nix_formats::nar::Node::parse(nar) {
                    Ok(nix_formats::nar::Node::Regular { contents, .. }) => contents,
                    _ => nar.to_vec(),
                };
                let path = d
                    .store_dir
                    .make_fixed_output_path(
                        name,
                        FileIngestionMethod::Flat,
                        &Hash::sha256(&contents),
                        &BTreeSet::new(),
                        false,
                    )
                    .unwrap();
                let req = c.encode(&Request::AddToStore {
                    name: name.to_owned(),
                    method: nix_formats::content_address::ContentAddressMethod::Fixed(
                        FileIngestionMethod::Flat,
                    ),
                    algo: HashAlgo::Sha256,
                    references: BTreeSet::new(),
                    repair: false,
                });
                (req, contents, path)
            }
            Upload::AddMultipleToStore => {
                let (req, payload) = multiple_upload(c, &info, nar);
                (req, payload, ca_path)
            }
        }
    }

    /// Reads the op's successful reply (after STDERR_LAST).
    fn read_reply(self, c: &mut Client) {
        if let Upload::AddToStore | Upload::AddToStoreFlat = self {
            let _: ValidPathInfo = c.read().expect("AddToStore reply");
        }
    }
}

/// NAR tokens as the grammar writes them (length, bytes, padding).
/// An AddMultipleToStore request of one path, and its payload (the count,
/// the info at 1.16, then `nar`) still to be framed.
fn multiple_upload(c: &Client, info: &ValidPathInfo, nar: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let req = c.encode(&Request::AddMultipleToStore {
        repair: false,
        dont_check_sigs: true,
    });
    let item_cx = WireContext {
        version: ProtocolVersion::new(1, 16),
        ..c.cx.clone()
    };
    let mut payload = Vec::new();
    let mut e = Encoder::new(&mut payload, &item_cx);
    e.u64(1);
    e.encode(info).unwrap();
    payload.extend_from_slice(nar);
    (req, payload)
}

fn tokens(ts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for t in ts {
        v.extend(u64_bytes(t.len() as u64));
        v.extend_from_slice(t);
        v.resize(v.len() + (8 - t.len() % 8) % 8, 0);
    }
    v
}

fn frames(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    nix_formats::wire::FrameEncoder::default().write(&mut out, data);
    out
}

#[test]
fn uploads_cut_off_mid_nar_leave_nothing_behind() {
    let mut d = Daemon::start();
    let all = Upload::NAR.into_iter().chain([Upload::AddToStoreFlat]);
    for (i, up) in all.enumerate() {
        let contents = noise(3 << 20, 10 + i as u64);
        let nar = file_nar(&contents);
        let name = format!("cut-off-{i}");
        let mut c = Client::open(&d, V2_8);
        let (req, payload, path) = up.build(&c, &d, &name, &nar);
        c.send(&req).unwrap();
        // Two and a half chunks of the file, then silence.
        c.send(&frames(&payload[..payload.len() - (payload.len() / 3)]))
            .unwrap();
        well_behaved(&d, &format!("during-cut-off-{i}"));
        drop(c);
        // Whatever the daemon was still doing with the upload is over once
        // it has shut down cleanly.
        d.restart();
        assert!(d.temp_pins().is_empty(), "{up:?}: temp pins left behind");
        let mut good = Client::open(&d, V2_8);
        assert!(
            !good.is_valid(&path),
            "{up:?}: a half-uploaded path became valid"
        );
        let registered: Vec<String> = d
            .catalogue()
            .all_paths()
            .unwrap()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| {
                p.split_once('-')
                    .is_some_and(|(_, name)| name.starts_with("cut-off-"))
            })
            .collect();
        assert!(
            registered.is_empty(),
            "{up:?}: the cut-off upload was registered as {registered:?}"
        );
        let first_chunk = store_ipfs::unixfs::cid_of(store_ipfs::unixfs::RAW, &contents[..1 << 20]);
        assert!(
            !d.catalogue().has_block(&first_chunk).unwrap(),
            "{up:?}: a block of the cut-off upload was registered"
        );
        well_behaved(&d, &format!("after-cut-off-{i}"));

        // The same upload complete succeeds (so the test above could fail).
        let mut c = Client::open(&d, V2_8);
        let (req, payload, path) = up.build(&c, &d, &format!("whole-{i}"), &nar);
        c.send(&req).unwrap();
        c.send_framed(&payload).unwrap();
        c.read_stderr().unwrap_or_else(|e| {
            panic!(
                "{up:?} of a whole NAR failed: {}",
                String::from_utf8_lossy(&e.message)
            )
        });
        up.read_reply(&mut c);
        assert!(c.is_valid(&path), "{up:?}: the whole upload is not valid");
    }
}

/// Invalid archives: each refused with an error; the connection goes on.
#[test]
fn invalid_nars_are_refused_and_the_session_continues() {
    let d = Daemon::start();
    let mut bad_magic = file_nar(b"hello");
    bad_magic[8 + 12] = b'2'; // nix-archive-2
    let unsorted = tokens(&[
        b"nix-archive-1",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"b",
        b"node",
        b"(",
        b"type",
        b"symlink",
        b"target",
        b"x",
        b")",
        b")",
        b"entry",
        b"(",
        b"name",
        b"a",
        b"node",
        b"(",
        b"type",
        b"symlink",
        b"target",
        b"x",
        b")",
        b")",
        b")",
    ]);
    let mut huge_name = tokens(&[
        b"nix-archive-1",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
    ]);
    huge_name.extend(u64_bytes(1 << 62));
    huge_name.extend([b'a'; 4096]);
    let mut endless_token = tokens(&[b"nix-archive-1", b"("]);
    endless_token.extend(u64_bytes(1 << 40));
    endless_token.extend([b't'; 4096]);
    let cases: [(&str, Vec<u8>); 4] = [
        ("bad magic", bad_magic),
        ("unsorted entries", unsorted),
        ("huge name length", huge_name),
        ("huge token length", endless_token),
    ];
    for up in Upload::NAR {
        let mut c = Client::open(&d, V2_8);
        for (what, nar) in &cases {
            let (req, payload, path) = up.build(&c, &d, "invalid", nar);
            c.send(&req).unwrap();
            c.send_framed(&payload).unwrap();
            let msg = c.expect_error();
            assert!(
                msg.contains("NAR") || msg.contains("archive"),
                "{up:?} {what}: unclear error {msg:?}"
            );
            assert!(!c.is_valid(&path), "{up:?} {what}: became valid");
        }
        well_behaved(&d, &format!("after-invalid-{up:?}"));
    }
    d.wait_no_temp_pins();
}

// ---------------------------------------------------------------- case 3

/// A derivation with its correct output path, and the same one claiming
/// another path.
fn drvs(d: &Daemon, name: &str) -> (Derivation, Derivation, StorePath) {
    let mut drv = Derivation {
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec!["-c".into(), "echo forged > $out".into()],
        ..Default::default()
    };
    drv.outputs.insert("out".into(), DerivationOutput::Deferred);
    drv.env.insert("name".into(), name.into());
    drv.env.insert("builder".into(), "/bin/sh".into());
    drv.env.insert("system".into(), "x86_64-linux".into());
    let mut no_inputs =
        |_: &StorePath| -> Result<DrvHash, std::io::Error> { Err(std::io::Error::other("none")) };
    drv.fill_input_addressed_outputs(&d.store_dir, name, &mut no_inputs)
        .unwrap();
    let victim = some_path(d, "someone-elses-output");
    let mut forged = drv.clone();
    forged.outputs.insert(
        "out".into(),
        DerivationOutput::InputAddressed(victim.clone()),
    );
    forged
        .env
        .insert("out".into(), d.store_dir.display(&victim).into());
    (drv, forged, victim)
}

#[test]
fn forged_derivations_are_refused() {
    let d = Daemon::start();
    let name = "forged";
    let (honest, forged, victim) = drvs(&d, name);
    let sd = &d.store_dir;
    let forged_text = forged.to_aterm(sd);
    let forged_path = forged.drv_path(sd, name).unwrap();
    let honest_path = honest.drv_path(sd, name).unwrap();
    let expected_msg = |path: &StorePath| {
        format!(
            "derivation '{}' has incorrect output '{}', should be '{}'",
            sd.display(path),
            sd.display(&victim),
            honest.outputs["out"].fields(sd).path,
        )
    };

    // AddTextToStore.
    let mut c = Client::open(&d, V2_8);
    let msg = c
        .add_text(&format!("{name}.drv"), &forged_text)
        .expect_err("a forged .drv was accepted");
    assert_eq!(msg, expected_msg(&forged_path));
    assert!(!c.is_valid(&forged_path));

    // AddToStoreNar, as a trusted client that asks not to check sigs.
    let nar = file_nar(&forged_text);
    let mut info = info_for(&forged_path, &nar);
    info.info.ca = Some(ContentAddress::Text(Hash::sha256(&forged_text)));
    c.send_request(&Request::AddToStoreNar {
        info: info.clone(),
        repair: false,
        dont_check_sigs: true,
    });
    c.send_framed(&nar).unwrap();
    assert_eq!(c.expect_error(), expected_msg(&forged_path));
    assert!(
        !c.is_valid(&forged_path),
        "AddToStoreNar registered a forged .drv"
    );

    // AddMultipleToStore.
    let (req, payload) = multiple_upload(&c, &info, &nar);
    c.send(&req).unwrap();
    c.send_framed(&payload).unwrap();
    assert_eq!(c.expect_error(), expected_msg(&forged_path));
    assert!(!c.is_valid(&forged_path));
    assert!(d.catalogue().path_info(&forged_path).unwrap().is_none());

    // The honest one goes in (the refusals are not blanket ones).
    let honest_text = honest.to_aterm(sd);
    assert_eq!(
        c.add_text(&format!("{name}.drv"), &honest_text),
        Ok(honest_path.clone())
    );
    assert!(c.is_valid(&honest_path));
    well_behaved(&d, "after-forged");
}

// ---------------------------------------------------------------- case 4

/// Sends `bytes` on a fresh connection and expects one error, then the end.
fn refused(d: &Daemon, what: &str, bytes: &[u8]) -> String {
    let mut c = Client::open(d, V2_8);
    let _ = c.send(bytes);
    let msg = match c.try_error() {
        Some(m) => m,
        None => panic!("{what}: the daemon hung up without an error"),
    };
    assert!(c.closed_by_daemon(), "{what}: connection left open");
    msg
}

/// Runs `f` against a fresh daemon and checks that its peak RSS grew by
/// less than [`RSS_BOUND`].
fn within_memory(what: &str, f: impl FnOnce(&Daemon)) {
    let d = Daemon::start();
    well_behaved(&d, "warm-up");
    let before = d.peak_rss();
    f(&d);
    well_behaved(&d, &format!("after-{}", what.replace(' ', "-")));
    let after = d.peak_rss();
    println!(
        "{what}: daemon peak RSS {} KiB before, {} KiB after (+{} KiB)",
        before >> 10,
        after >> 10,
        (after - before) >> 10
    );
    assert!(
        after - before < RSS_BOUND,
        "{what}: peak RSS grew by {} MiB",
        (after - before) >> 20
    );
}

#[test]
fn huge_lengths_are_refused_before_anything_is_allocated() {
    within_memory("huge lengths", |d| {
        let c = Client::connect(d);

        // A name of 2^60 bytes.
        let mut b = op_bytes(Op::AddTextToStore);
        b.extend(u64_bytes(1 << 60));
        b.extend([b'n'; 4096]);
        let msg = refused(d, "name 2^60", &b);
        assert!(msg.contains("exceeds the limit"), "{msg}");

        // A text of 2^60 bytes.
        let mut b = op_bytes(Op::AddTextToStore);
        b.extend(c.encode("huge.txt"));
        b.extend(u64_bytes(1 << 60));
        b.extend([b't'; 4096]);
        let msg = refused(d, "text 2^60", &b);
        assert!(msg.contains("exceeds the limit"), "{msg}");

        // A set of 2^40 paths.
        let mut b = op_bytes(Op::QueryValidPaths);
        b.extend(u64_bytes(1 << 40));
        b.extend(c.encode(&some_path(d, "one")));
        let msg = refused(d, "list 2^40", &b);
        assert!(msg.contains("exceed the limit"), "{msg}");

        // A frame of 2^50 bytes.
        let p = some_path(d, "frame");
        let mut b = c.encode(&Request::AddToStoreNar {
            info: info_for(&p, b""),
            repair: false,
            dont_check_sigs: true,
        });
        b.extend(u64_bytes(1 << 50));
        b.extend([0u8; 4096]);
        let msg = refused(d, "frame 2^50", &b);
        assert!(msg.contains("frame"), "{msg}");
    });
}

/// Lengths under the limits, claimed and never sent, on many connections
/// at once: memory follows what arrives, not what is claimed.
#[test]
fn claimed_lengths_cost_only_what_arrives() {
    within_memory("claimed lengths", |d| {
        let mut stalled = Vec::new();
        for i in 0..16 {
            let mut s = Client::open(d, V2_8);
            let mut b = op_bytes(Op::AddTextToStore);
            b.extend(s.encode(&format!("claimed-{i}")));
            b.extend(u64_bytes(60 << 20));
            b.extend(noise(64 << 10, i));
            s.send(&b).unwrap();
            stalled.push(s);
        }
        well_behaved(d, "during-claims");
        // Still waiting for the rest, not refused.
        for s in &mut stalled {
            s.stream.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 1];
            let r = std::io::Read::read(&mut s.stream, &mut buf);
            assert!(
                matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                "a claim within the limits was answered: {r:?}"
            );
        }
    });
}

/// An endless file in a NAR declared small: the daemon stops reading once
/// the upload passes the declared size.
#[test]
fn endless_nars_stop_at_their_declared_size() {
    within_memory("endless NAR", |d| {
        endless_nar_upload(d, Upload::AddToStoreNar);
        endless_nar_upload(d, Upload::AddMultipleToStore);
    });
}

/// A failed upload is drained to its end (as Nix does, so the session can
/// go on), without keeping what it drains.
#[test]
fn failed_uploads_are_drained_without_being_kept() {
    within_memory("drained upload", |d| {
        let mut s = Client::open(d, V2_8);
        let (req, _, path) = Upload::AddToStore.build(&s, d, "drained", b"not a nar");
        s.send(&req).unwrap();
        let junk = noise(1 << 20, 99);
        let frame = frames(&junk);
        for _ in 0..256 {
            s.send(&frame).unwrap();
        }
        s.send(&u64_bytes(0)).unwrap();
        let msg = s.expect_error();
        assert!(msg.contains("NAR"), "{msg}");
        assert!(!s.is_valid(&path));
    });
}

/// Uploads a NAR whose one file claims 2^40 bytes, declaring a narSize of
/// 4 KiB, with 64 KiB frames until the daemon stops reading. Fails if the
/// daemon takes 256 MiB without objecting.
fn endless_nar_upload(d: &Daemon, up: Upload) {
    let mut c = Client::open(d, V2_8);
    let mut header = tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]);
    header.extend(u64_bytes(1 << 40));
    let p = some_path(d, &format!("endless-{up:?}"));
    let info = ValidPathInfo {
        path: p.clone(),
        info: UnkeyedValidPathInfo::new(Hash::sha256(b"whatever"), 4096),
    };
    let (req, mut payload) = match up {
        Upload::AddToStoreNar => (
            c.encode(&Request::AddToStoreNar {
                info,
                repair: false,
                dont_check_sigs: true,
            }),
            header,
        ),
        _ => multiple_upload(&c, &info, &header),
    };
    c.send(&req).unwrap();
    c.send(&frames(&payload)).unwrap();
    payload = noise(64 << 10, 7);
    let frame = frames(&payload);
    let mut sent = 0u64;
    let stopped = loop {
        if c.stream.write_all(&frame).is_err() {
            break true;
        }
        sent += frame.len() as u64;
        if sent > 256 << 20 {
            break false;
        }
    };
    assert!(
        stopped,
        "{up:?}: the daemon took {sent} bytes for a NAR declared as 4096"
    );
    let msg = c.expect_error();
    assert!(msg.contains("4096"), "{up:?}: unclear error {msg:?}");
    drop(c);
    let mut good = Client::open(d, V2_8);
    assert!(!good.is_valid(&p));
    d.wait_no_temp_pins();
}

// ---------------------------------------------------------------- case 5

#[test]
fn slowloris_connections_do_not_block_others() {
    let d = Daemon::start();
    let mut idle = Vec::new();
    for i in 0..50u64 {
        let mut c = Client::connect(&d);
        // Half of the magic, or the magic and half of the version.
        let mut b = u64_bytes(0x6e69_7863).to_vec();
        if i % 2 == 0 {
            b.truncate(4);
        } else {
            b.extend(&V2_8.to_wire().to_le_bytes()[..4]);
        }
        c.send(&b).unwrap();
        idle.push(c);
    }
    for i in 0..50u64 {
        // Half a request after a complete handshake.
        let mut c = Client::open(&d, V2_8);
        let mut b = op_bytes(Op::AddTextToStore);
        b.extend(c.encode(&format!("half-{i}")));
        b.extend(u64_bytes(1000));
        b.extend([b'x'; 500]);
        c.send(&b).unwrap();
        idle.push(c);
    }
    // Served while all 100 stall; the client's read timeout is the only
    // guard against a hang.
    let guarded = std::thread::scope(|s| {
        let h = s.spawn(|| {
            for i in 0..5 {
                well_behaved(&d, &format!("beside-slowloris-{i}"));
            }
        });
        h.join()
    });
    assert!(guarded.is_ok(), "a well-behaved client was not served");
    drop(idle);
    well_behaved(&d, "after-slowloris");
    let mut d = d;
    assert!(d.alive());
}

#[test]
fn bytes_trickled_one_at_a_time_still_make_a_request() {
    // A request sent byte by byte is still served (the daemon waits, it
    // does not give up or misparse), beside a normal client.
    let d = Daemon::start();
    let mut c = Client::open(&d, V2_8);
    let text = b"trickled\n".to_vec();
    let bytes = c.encode(&Request::AddTextToStore {
        name: "trickled".into(),
        text: text.clone(),
        references: BTreeSet::new(),
    });
    for (i, b) in bytes.iter().enumerate() {
        c.send(std::slice::from_ref(b)).unwrap();
        if i == bytes.len() / 2 {
            well_behaved(&d, "beside-trickle");
        }
    }
    c.read_stderr().expect("trickled request served");
    let shown: String = c.read().unwrap();
    assert_eq!(
        shown,
        d.path(
            &d.store_dir
                .make_text_path("trickled", &Hash::sha256(&text), &BTreeSet::new())
                .unwrap()
        )
    );
}

// ------------------------------------------------- big paths, both ways

/// A tree of many files goes in with memory bounded by what is in flight,
/// not by how many files pass: a small file's block is as large as the file
/// (a buffer sized for a whole chunk, once handed on with each small file,
/// held the daemon at +118 MiB while it added the Rust toolchain).
#[test]
fn many_files_are_streamed_in_within_bounded_memory() {
    use nix_formats::nar::Node;
    let mut entries = std::collections::BTreeMap::new();
    for i in 0..160u64 {
        let big = noise(700 << 10, i + 1);
        entries.insert(
            format!("{i:04}-big").into_bytes(),
            Node::Regular {
                executable: false,
                contents: big,
            },
        );
        for j in 0..30u64 {
            entries.insert(
                format!("{i:04}-small-{j}").into_bytes(),
                Node::Regular {
                    executable: false,
                    contents: noise(100, 1000 + i * 30 + j),
                },
            );
        }
    }
    let mut w = nix_formats::nar::NarWriter::new(Vec::new());
    Node::Directory(entries).write(&mut w).unwrap();
    let nar = w.finish().unwrap();
    within_memory("many files", |d| {
        let mut c = Client::open(d, V2_8);
        let (req, payload, path) = Upload::AddToStoreNar.build(&c, d, "many-files", &nar);
        c.send(&req).unwrap();
        c.send_framed(&payload).unwrap();
        c.read_stderr().expect("AddToStoreNar of many files");
        assert!(c.is_valid(&path));
    });
}

/// A path larger than [`RSS_BOUND`] goes in (as a NAR, and as a flat
/// file) and comes back out (NarFromPath) without the daemon ever holding
/// it whole: memory stays bounded whatever the path's size.
#[test]
fn big_paths_are_streamed_in_and_out() {
    let size = 96 << 20;
    let contents = noise(size, 5);
    within_memory("big paths", |d| {
        let mut c = Client::open(d, V2_8);
        // In as a NAR.
        let nar = file_nar(&contents);
        let (req, payload, path) = Upload::AddToStoreNar.build(&c, d, "big-nar", &nar);
        c.send(&req).unwrap();
        c.send_framed(&payload).unwrap();
        c.read_stderr().expect("AddToStoreNar of a big NAR");
        assert!(c.is_valid(&path));

        // In as a flat file.
        c.send_request(&Request::AddToStore {
            name: "big-flat".into(),
            method: nix_formats::content_address::ContentAddressMethod::Fixed(
                FileIngestionMethod::Flat,
            ),
            algo: HashAlgo::Sha256,
            references: BTreeSet::new(),
            repair: false,
        });
        c.send_framed(&contents).unwrap();
        c.read_stderr().expect("AddToStore of a big flat file");
        let added: ValidPathInfo = c.read().unwrap();
        let flat_path = d
            .store_dir
            .make_fixed_output_path(
                "big-flat",
                FileIngestionMethod::Flat,
                &Hash::sha256(&contents),
                &BTreeSet::new(),
                false,
            )
            .unwrap();
        assert_eq!(added.path, flat_path);
        assert_eq!(added.info.nar_hash, Hash::sha256(&nar));
        assert_eq!(added.info.nar_size, nar.len() as u64);

        // Out again, to a client that takes its time reading.
        c.send_request(&Request::NarFromPath(flat_path));
        std::thread::sleep(std::time::Duration::from_millis(500));
        c.read_stderr().expect("NarFromPath");
        let mut got = vec![0u8; nar.len()];
        let mut have = 0;
        let pending = c.take_pending();
        got[..pending.len()].copy_from_slice(&pending);
        have += pending.len();
        std::io::Read::read_exact(&mut c.stream, &mut got[have..]).unwrap();
        assert!(got == nar, "NarFromPath sent other bytes");
        assert!(c.is_valid(&path), "the session goes on after NarFromPath");
        drop(got);

        // The export format through STDERR_WRITE (ExportPath).
        c.send_request(&Request::ExportPath {
            path: path.clone(),
            sign: 0,
        });
        let exported = c.read_writes().expect("ExportPath");
        assert_eq!(c.read::<u64>().unwrap(), 1);
        let mut expected = Vec::new();
        nix_formats::export::write_export(
            &d.store_dir,
            &[nix_formats::export::ExportItem {
                nar: nar.clone(),
                path: path.clone(),
                references: BTreeSet::new(),
                deriver: None,
            }],
            &mut expected,
        )
        .unwrap();
        expected.truncate(expected.len() - 8);
        assert!(exported == expected, "ExportPath sent other bytes");
    });
}

/// The pre-1.25 AddToStore, whose NAR follows the request unframed (the
/// daemon finds its end by parsing it).
#[test]
fn legacy_inline_nars_cut_off_or_invalid_leave_nothing_behind() {
    let mut d = Daemon::start();
    let v24 = ProtocolVersion::new(1, 24);
    let contents = noise(3 << 20, 77);
    let nar = file_nar(&contents);
    let sd = d.store_dir.clone();
    let flat_path = |name: &str| {
        sd.make_fixed_output_path(
            name,
            FileIngestionMethod::Flat,
            &Hash::sha256(&contents),
            &BTreeSet::new(),
            false,
        )
        .unwrap()
    };
    let request = |c: &Client, name: &str| {
        c.encode(&Request::AddToStoreLegacy {
            name: name.into(),
            fixed: true,
            recursive: false,
            algo: "sha256".into(),
        })
    };

    // Cut off in the middle of the file.
    let mut c = Client::open(&d, v24);
    c.send(&request(&c, "legacy-cut")).unwrap();
    c.send(&nar[..nar.len() / 2]).unwrap();
    well_behaved(&d, "during-legacy-cut");
    drop(c);
    d.restart();
    assert!(d.temp_pins().is_empty(), "temp pins left behind");
    let mut good = Client::open(&d, V2_8);
    assert!(!good.is_valid(&flat_path("legacy-cut")));
    assert!(
        !d.catalogue()
            .all_paths()
            .unwrap()
            .iter()
            .any(|(p, _)| p.name().starts_with("legacy-cut"))
    );

    // Not a NAR: the stream cannot be followed; an error, then the end.
    let mut c = Client::open(&d, v24);
    c.send(&request(&c, "legacy-bad")).unwrap();
    let mut bad = tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]);
    bad.truncate(bad.len() - 8);
    bad.extend(tokens(&[b"not-contents"]));
    c.send(&bad).unwrap();
    let msg = c.try_error().expect("an error before the end");
    assert!(msg.contains("archive"), "{msg}");
    assert!(c.closed_by_daemon());

    // And whole, it works (so the checks above could fail).
    let mut c = Client::open(&d, v24);
    c.send(&request(&c, "legacy-whole")).unwrap();
    c.send(&nar).unwrap();
    c.read_stderr().expect("legacy AddToStore");
    let shown: String = c.read().unwrap();
    assert_eq!(shown, d.path(&flat_path("legacy-whole")));
    well_behaved(&d, "after-legacy");
}

/// AddBuildLog streams the log to its file (readable by every user, as
/// clients read logs themselves) instead of holding it.
#[test]
fn build_logs_are_streamed_to_their_file() {
    let log = noise(80 << 20, 3);
    within_memory("build log", |d| {
        let drv = some_path(d, "logged.drv");
        let mut c = Client::open(d, V2_8);
        c.send_request(&Request::AddBuildLog(drv.clone()));
        c.send_framed(&log).unwrap();
        c.read_stderr().expect("AddBuildLog");
        assert_eq!(c.read::<u64>().unwrap(), 1);
        let base = drv.to_string();
        let file = d
            .dir
            .path()
            .join("var/log/drvs")
            .join(&base[..2])
            .join(&base[2..]);
        let meta = std::fs::metadata(&file).expect("the log file");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o644
        );
        assert!(
            std::fs::read(&file).unwrap() == log,
            "the log file holds other bytes"
        );
    });
}
