//! Vectors computed by Nix 2.8 (shared/reference/nix-worker-protocol.md §5.4,
//! re-derived by shared/tools/worker-protocol/verify.py from the real files).

use super::*;
use crate::content_address::FileIngestionMethod;
use crate::hash::{Hash, HashAlgo};

const SCRIPT: &str = "/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh";
const SRCDIR: &str = "/nix/store/jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir";
const FOD_HASH: &str = "1f636e9f20d09560d42ad111b96de1020091b901efbb67593b155886d6a4e5e0";
const FOD_OUT: &str = "/nix/store/wxw2ksk8kz5fk7b32lrd2bi34amx3m8y-fod-test";

/// The on-disk text of trivial2 (nonce n2), byte for byte.
const TRIVIAL2: &str = concat!(
    r#"Derive([("out","/nix/store/rv0l4f72n0ybmnvrv24ad4q89g0y4fiv-trivial2","","")],[],"#,
    r#"["/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh","/nix/store/jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir"],"#,
    r#""x86_64-linux","/bin/sh",["/nix/store/fxcbk40d9jdfssp87nfq506279vbh33d-script.sh"],"#,
    r#"[("builder","/bin/sh"),("name","trivial2"),("nonce","n2"),"#,
    r#"("out","/nix/store/rv0l4f72n0ybmnvrv24ad4q89g0y4fiv-trivial2"),"#,
    r#"("srcdir","/nix/store/jsknzjnpb97vk23rgsmvj9gx2ad79y7g-srcdir"),("system","x86_64-linux")])"#
);

fn trivial2(memo: &mut Memo, nonce: &str) -> (StorePath, Derivation) {
    let (script, srcdir) = (sp(SCRIPT), sp(SRCDIR));
    let env = [("nonce", nonce), ("srcdir", SRCDIR)];
    instantiate(
        memo,
        "trivial2",
        &["out"],
        &[],
        &[&script, &srcdir],
        &[SCRIPT],
        &env,
    )
}

#[test]
fn trivial2_text_paths_and_drv_output_id() {
    let mut memo = memo();
    let (path, drv) = trivial2(&mut memo, "n2");
    assert_eq!(
        String::from_utf8(drv.to_aterm(&sd())).expect("utf8"),
        TRIVIAL2
    );
    assert_eq!(reparse(TRIVIAL2.as_bytes()), drv);
    assert_eq!(
        sd().display(&path),
        "/nix/store/kwz5bfh26zlkv5gihjq8l223hd1n264n-trivial2.drv"
    );
    let masked = drv.hash_modulo(&sd(), true, &mut memo).expect("hash");
    let paths = drv.output_paths(&sd(), "trivial2", &masked).expect("paths");
    let out = paths["out"].as_ref().expect("known");
    assert_eq!(
        sd().display(out),
        "/nix/store/rv0l4f72n0ybmnvrv24ad4q89g0y4fiv-trivial2"
    );
    drv.validate(&sd(), &path, &mut memo).expect("valid");

    let (_, n3) = trivial2(&mut memo, "n3");
    let masked = n3.hash_modulo(&sd(), true, &mut memo).expect("hash");
    let ids: Vec<String> = masked.output_ids().map(|id| id.to_string()).collect();
    let id = "sha256:f0f26028dfeee72078f02db78ec7817e962b24a04d3da06b8351d90f14530559!out";
    assert_eq!(ids, [id]);
    assert_eq!(id.parse::<DrvOutputId>().expect("parses").to_string(), id);
    let DerivationOutput::InputAddressed(p) = &n3.outputs["out"] else {
        panic!("input-addressed")
    };
    assert_eq!(
        sd().display(p),
        "/nix/store/8hk4zmbigwnxslz1f914df96sjl2ypfy-trivial2"
    );
}

fn chain_a(memo: &mut Memo) -> (StorePath, Derivation) {
    let env = [("outputs", "out dev")];
    instantiate(
        memo,
        "chain-a",
        &["out", "dev"],
        &[],
        &[],
        &["-c", "echo a > $out"],
        &env,
    )
}

#[test]
fn multi_output_chain_with_escapes() {
    let mut memo = memo();
    let (a_path, a) = chain_a(&mut memo);
    assert_eq!(
        sd().display(&a_path),
        "/nix/store/f0hdwssn0i103qp3mkhnix42c0q5mjx0-chain-a.drv"
    );
    let out = |d: &Derivation, o: &str| match &d.outputs[o] {
        DerivationOutput::InputAddressed(p) => sd().display(p),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        out(&a, "out"),
        "/nix/store/n387sy5sh4ci7xss5yncg0jiq5ylaw8n-chain-a"
    );
    let a_dev = out(&a, "dev");
    assert_eq!(
        a_dev,
        "/nix/store/0rhq6xryk5dm7hdwjzj9sy4mjrg2sxf7-chain-a-dev"
    );

    let cmd = format!("echo {a_dev} \t\"quoted\"\\ > $out");
    let env = [("weird", "line1\nline2\r\t\\\"")];
    let (b_path, b) = instantiate(
        &mut memo,
        "chain-b",
        &["out"],
        &[(&a_path, &["dev"])],
        &[],
        &["-c", &cmd],
        &env,
    );
    assert_eq!(
        out(&b, "out"),
        "/nix/store/1f6kz7qp358qxhnmf4xsxxh1jsskic9q-chain-b"
    );
    assert_eq!(
        sd().display(&b_path),
        "/nix/store/r51lvh0dkxac3gq9y4gz343lawyvcfr3-chain-b.drv"
    );
    let text = b.to_aterm(&sd());
    let expected_tail = br#"("weird","line1\nline2\r\t\\\"")])"#;
    assert!(text.ends_with(expected_tail), "{}", text.escape_ascii());
    assert_eq!(reparse(&text), b);
    b.validate(&sd(), &b_path, &mut memo).expect("valid");
}

fn fod_test(memo: &mut Memo) -> (StorePath, Derivation) {
    let hash = FixedOutputHash {
        method: FileIngestionMethod::Flat,
        hash: Hash::parse_digest(HashAlgo::Sha256, FOD_HASH).expect("hex"),
    };
    let out = DerivationOutput::fixed(&sd(), "fod-test", hash).expect("path");
    let env = [
        ("builder", "/bin/sh"),
        ("name", "fod-test"),
        ("out", FOD_OUT),
        ("outputHash", FOD_HASH),
        ("outputHashAlgo", "sha256"),
        ("outputHashMode", "flat"),
        ("system", "x86_64-linux"),
    ];
    let drv = Derivation {
        outputs: BTreeMap::from([("out".to_owned(), out)]),
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec!["-c".into(), "printf 'fixed output\\n' > $out".into()],
        env: env
            .iter()
            .map(|(k, v)| (BString::from(*k), BString::from(*v)))
            .collect(),
        ..Derivation::default()
    };
    add(memo, "fod-test", drv)
}

#[test]
fn fixed_output_and_its_dependent() {
    let mut memo = memo();
    let (fod_path, fod) = fod_test(&mut memo);
    let fields = fod.outputs["out"].fields(&sd());
    assert_eq!(
        (fields.path.as_str(), fields.hash_algo.as_str()),
        (FOD_OUT, "sha256")
    );
    fod.validate(&sd(), &fod_path, &mut memo).expect("valid");
    let text = fod.to_aterm(&sd());
    assert_eq!(reparse(&text), fod);

    // Its hash modulo is the same masked or not, and ignores its inputs.
    let h = fod.hash_modulo(&sd(), false, &mut memo).expect("hash");
    assert_eq!(h, fod.hash_modulo(&sd(), true, &mut memo).expect("hash"));
    let expected = Hash::sha256(format!("fixed:out:sha256:{FOD_HASH}:{FOD_OUT}").as_bytes());
    assert_eq!(h.hashes["out"], expected);

    let cmd = format!("cat {FOD_OUT} > $out; echo {FOD_OUT} >> $out");
    let (path, uses) = instantiate(
        &mut memo,
        "uses-fod",
        &["out"],
        &[(&fod_path, &["out"])],
        &[],
        &["-c", &cmd],
        &[],
    );
    let masked = uses.hash_modulo(&sd(), true, &mut memo).expect("hash");
    let id = masked.output_ids().next().expect("one output").to_string();
    assert_eq!(
        id,
        "sha256:4f7a18d915e9d936dec9f8e6dbdd40b7b5ed3039b2695e98c057a6879b4ca10d!out"
    );
    let paths = uses
        .output_paths(&sd(), "uses-fod", &masked)
        .expect("paths");
    assert_eq!(
        sd().display(paths["out"].as_ref().expect("known")),
        "/nix/store/6i0iwd3x2yk6lf5kjnnc3gplnd11rsxw-uses-fod"
    );
    uses.validate(&sd(), &path, &mut memo).expect("valid");
}

/// The fuzz seeds are real `.drv` files written by Nix 2.8; each must be
/// read, printed back byte for byte, and hashed.
#[test]
fn fuzz_seeds_are_real_derivations() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/aterm");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "drv") {
            let drv = reparse(&std::fs::read(&path).expect("read seed"));
            drv.derivation_type().expect("a valid derivation type");
            seen += 1;
        }
    }
    assert!(seen >= 8, "only {seen} .drv seeds");
}
