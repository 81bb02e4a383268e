//! The reader refuses what Nix refuses, and the non-canonical forms Nix
//! reads but never writes; it reports where, and never panics.

use super::*;

const OUT: &str = "/nix/store/9xihpalydimads2iv81zbya54ykbkjlh-trivial";
const GOOD: &str = concat!(
    r#"Derive([("out","/nix/store/9xihpalydimads2iv81zbya54ykbkjlh-trivial","","")],[],[],"x86_64-linux","/bin/sh","#,
    r#"["-c","echo hi > $out"],[("builder","/bin/sh"),("name","trivial"),"#,
    r#"("out","/nix/store/9xihpalydimads2iv81zbya54ykbkjlh-trivial"),("system","x86_64-linux")])"#
);

fn err(text: &[u8]) -> ParseError {
    match Derivation::from_aterm(text, &sd()) {
        Ok(d) => panic!("accepted {}: {d:?}", text.escape_ascii()),
        Err(e) => e,
    }
}

fn edit(from: &str, to: &str) -> Vec<u8> {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1).into_bytes()
}

#[test]
fn reads_real_text() {
    let drv = reparse(GOOD.as_bytes());
    assert_eq!(drv.name(), Some("trivial"));
    assert_eq!(
        drv.env_var("out").map(|v| v.to_string()),
        Some(OUT.to_owned())
    );
}

/// Each of these was checked to be accepted by Nix 2.8 (`builtins.toFile
/// "x.drv"` registers it) or is something Nix never writes.
#[test]
fn refuses_non_canonical_forms_nix_reads() {
    type Case = (Vec<u8>, fn(&ParseErrorKind) -> bool);
    let cases: Vec<Case> = vec![
        ([GOOD.as_bytes(), b"trailing"].concat(), |k| {
            matches!(k, ParseErrorKind::TrailingData)
        }),
        (edit("Derive([", "Derive([,"), |k| {
            matches!(k, ParseErrorKind::Expected { .. })
        }),
        (edit(r#"["-c","echo"#, r#"["-c""echo"#), |k| {
            matches!(k, ParseErrorKind::Expected { .. })
        }),
        (edit("echo hi", r"\echo hi"), |k| {
            matches!(k, ParseErrorKind::BadEscape { letter: b'e' })
        }),
        (edit("echo hi", "echo\nhi"), |k| {
            matches!(k, ParseErrorKind::MustEscape { byte: b'\n' })
        }),
        (edit("echo hi", "echo\thi"), |k| {
            matches!(k, ParseErrorKind::MustEscape { byte: b'\t' })
        }),
        (
            edit("x86_64-linux\",\"/bin", "x86\\n64-linux\",\"/bin"),
            |k| matches!(k, ParseErrorKind::BadEscape { letter: b'n' }),
        ),
        (
            edit(
                r#"("builder","/bin/sh"),("name","trivial")"#,
                r#"("name","trivial"),("builder","/bin/sh")"#,
            ),
            |k| {
                matches!(
                    k,
                    ParseErrorKind::NotSorted {
                        what: "environment variable",
                        ..
                    }
                )
            },
        ),
        (
            edit(
                r#"("builder","/bin/sh"),"#,
                r#"("builder","/bin/sh"),("builder","/bin/sh"),"#,
            ),
            |k| matches!(k, ParseErrorKind::NotSorted { .. }),
        ),
        (edit(r#"-trivial","","")"#, r#"-trivial","","x")"#), |k| {
            matches!(
                k,
                ParseErrorKind::Output {
                    error: OutputFieldsError::HashWithoutAlgo(_),
                    ..
                }
            )
        }),
        (
            edit(r#"-trivial","","")"#, r#"-trivial","r:sha256","")"#),
            |k| {
                matches!(
                    k,
                    ParseErrorKind::Output {
                        error: OutputFieldsError::UnexpectedPath { .. },
                        ..
                    }
                )
            },
        ),
    ];
    for (text, ok) in cases {
        let e = err(&text);
        assert!(ok(&e.kind), "{}: {e}", text.escape_ascii());
    }
}

#[test]
fn refuses_what_nix_refuses() {
    let e = err(&edit("Derive(", "DrvWithVersion("));
    assert_eq!((e.offset, e.kind), (0, ParseErrorKind::Versioned));
    let e = err(&edit("Derive(", "Derivation("));
    assert_eq!(e.offset, 5);
    assert_eq!(
        e.to_string(),
        "invalid derivation at byte 5: expected 'Derive(', found 'a'"
    );
    let e = err(&edit(
        &format!(r#"("out","{OUT}","","")"#),
        r#"("out","relative","","")"#,
    ));
    assert!(
        matches!(
            &e.kind,
            ParseErrorKind::Output {
                error: OutputFieldsError::BadPath { .. },
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.offset, GOOD.find("\"/nix/store/9xi").expect("path"));
    let e = err(&edit("[],[],\"x86", "[],[\"/tmp/x\"],\"x86"));
    assert!(matches!(e.kind, ParseErrorKind::BadPath { .. }), "{e}");
    let e = err(&edit(
        "[],[],\"x86",
        "[(\"/nix/store/aaaa-x.drv\",[\"out\"])],[],\"x86",
    ));
    assert!(matches!(e.kind, ParseErrorKind::BadPath { .. }), "{e}");
    let e = err(&edit(r#"-trivial","","")"#, r#"-trivial","md4","00")"#));
    assert!(
        matches!(
            e.kind,
            ParseErrorKind::Output {
                error: OutputFieldsError::UnknownAlgo(_),
                ..
            }
        ),
        "{e}"
    );
    // Another store directory.
    let other = StoreDir::new("/gnu/store").expect("dir");
    assert!(matches!(
        Derivation::from_aterm(GOOD.as_bytes(), &other),
        Err(ParseError { .. })
    ));
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
    let good = GOOD.as_bytes();
    for n in 0..good.len() {
        let e = err(&good[..n]);
        assert!(e.offset <= n, "offset {} past the end {n}", e.offset);
    }
    for i in 0..good.len() {
        for b in [b'"', b'\\', b',', b']', b')', 0xff] {
            let mut t = good.to_vec();
            t[i] = b;
            if let Ok(d) = Derivation::from_aterm(&t, &sd()) {
                assert_eq!(d.to_aterm(&sd()), t);
            }
        }
    }
}

#[test]
fn arbitrary_bytes_in_escaped_fields_but_utf8_names() {
    let mut text = edit("echo hi", "echo \u{7f}\u{1}\u{e9} \\\\ \\\" \\n\\r\\t");
    let at = text.windows(4).position(|w| w == b"echo").expect("echo");
    text.insert(at, 0xff);
    let drv = reparse(&text);
    assert!(drv.args[1].to_str().is_none());
    let expected = [
        &[0xff],
        "echo \u{7f}\u{1}\u{e9} \\ \" \n\r\t > $out".as_bytes(),
    ]
    .concat();
    assert_eq!(drv.args[1].as_bytes(), expected);
    let name = [b"Derive([(\"o".as_slice(), &[0xff], b"t\""].concat();
    let text = [
        name.as_slice(),
        &GOOD.as_bytes()[b"Derive([(\"out\"".len()..],
    ]
    .concat();
    let e = err(&text);
    assert!(
        matches!(
            e.kind,
            ParseErrorKind::NotUtf8 {
                what: "output name"
            }
        ),
        "{e}"
    );
    assert_eq!(e.offset, 9);
}

#[test]
fn limits_hold() {
    let sd = sd();
    let limits = ParseLimits {
        max_input_len: GOOD.len() - 1,
        ..ParseLimits::default()
    };
    let e =
        Derivation::from_aterm_with_limits(GOOD.as_bytes(), &sd, limits).expect_err("too large");
    assert!(matches!(e.kind, ParseErrorKind::TooLarge { .. }));
    let limits = ParseLimits {
        max_string_len: OUT.len() - 1,
        ..ParseLimits::default()
    };
    let e = Derivation::from_aterm_with_limits(GOOD.as_bytes(), &sd, limits).expect_err("string");
    assert!(matches!(e.kind, ParseErrorKind::StringTooLong { .. }));
    assert_eq!(e.offset, GOOD.find("\"/nix").expect("path"));
    let limits = ParseLimits {
        max_list_len: 3,
        ..ParseLimits::default()
    };
    let e = Derivation::from_aterm_with_limits(GOOD.as_bytes(), &sd, limits).expect_err("list");
    assert!(matches!(e.kind, ParseErrorKind::ListTooLong { max: 3 }));
    let limits = ParseLimits {
        max_list_len: 4,
        max_string_len: OUT.len(),
        max_input_len: GOOD.len(),
    };
    assert!(Derivation::from_aterm_with_limits(GOOD.as_bytes(), &sd, limits).is_ok());
}
