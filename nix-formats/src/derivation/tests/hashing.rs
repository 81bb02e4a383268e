//! Hash modulo, the memo, output kinds and validation errors.

use super::*;
use crate::content_address::FileIngestionMethod;
use crate::hash::{Hash, HashAlgo};

fn fod(
    memo: &mut Memo,
    name: &str,
    builder: &str,
    inputs: &[(&StorePath, &[&str])],
) -> (StorePath, Derivation) {
    let hash = FixedOutputHash {
        method: FileIngestionMethod::Recursive,
        hash: Hash::sha256(b"content"),
    };
    let out = DerivationOutput::fixed(&sd(), name, hash).expect("path");
    let mut drv = Derivation {
        outputs: BTreeMap::from([("out".to_owned(), out.clone())]),
        input_drvs: inputs
            .iter()
            .map(|(p, o)| ((*p).clone(), o.iter().map(|s| s.to_string()).collect()))
            .collect(),
        platform: "x86_64-linux".into(),
        builder: builder.into(),
        ..Derivation::default()
    };
    drv.env.insert("name".into(), name.into());
    drv.env.insert("out".into(), out.fields(&sd()).path.into());
    add(memo, name, drv)
}

fn floating(memo: &mut Memo, name: &str) -> (StorePath, Derivation) {
    let mut drv = Derivation {
        outputs: BTreeMap::from([(
            "out".to_owned(),
            DerivationOutput::CAFloating {
                method: FileIngestionMethod::Recursive,
                algo: HashAlgo::Sha256,
            },
        )]),
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        ..Derivation::default()
    };
    drv.env.insert("name".into(), name.into());
    add(memo, name, drv)
}

#[test]
fn inputs_with_equal_hashes_merge_and_outputs_union() {
    let mut memo = memo();
    // Two fixed-output derivations promising the same content under the
    // same name differ as .drv files but hash alike modulo.
    let (f1, _) = fod(&mut memo, "src", "/bin/sh", &[]);
    let (f2, _) = fod(&mut memo, "src", "/bin/bash", &[]);
    assert_ne!(f1, f2);
    let (a, _) = instantiate(&mut memo, "a", &["out", "dev", "lib"], &[], &[], &[], &[]);
    let inputs: [(&StorePath, &[&str]); 3] =
        [(&f1, &["out"]), (&f2, &["out"]), (&a, &["dev", "lib"])];
    let (_, user) = instantiate(&mut memo, "user", &["out"], &inputs, &[], &[], &[]);

    let f_hash = memo.drv_hash(&f1).expect("hash").hashes["out"].to_base16();
    let a_hash = memo.drv_hash(&a).expect("hash").hashes["dev"].to_base16();
    let replaced = ReplacedInputs::from([
        (f_hash, BTreeSet::from(["out".to_owned()])),
        (a_hash, BTreeSet::from(["dev".to_owned(), "lib".to_owned()])),
    ]);
    let opts = WriteOptions {
        mask_outputs: true,
        replaced_inputs: Some(&replaced),
    };
    let expected = Hash::sha256(&user.to_aterm_with(&sd(), opts));
    assert_eq!(
        user.hash_modulo(&sd(), true, &mut memo)
            .expect("hash")
            .hashes["out"],
        expected
    );
    let text = String::from_utf8(user.to_aterm_with(&sd(), opts)).expect("utf8");
    assert_eq!(text.matches("[\"out\"]").count(), 1, "{text}");
    assert!(
        text.contains(r#"["out"])],[],"x86_64-linux""#) && text.contains(r#"("out","")"#),
        "{text}"
    );
}

#[test]
fn memo_skips_inputs_of_fixed_outputs_and_finds_cycles() {
    let mut memo = memo();
    let (missing, _) = instantiate(&mut memo, "gone", &["out"], &[], &[], &[], &[]);
    memo.loader_mut().remove(&missing);
    let (f, _) = fod(&mut memo, "f", "/bin/sh", &[(&missing, &["out"])]);
    assert!(
        memo.drv_hash(&f).is_ok(),
        "a fixed output's inputs are not needed"
    );
    let (user, drv) = instantiate(
        &mut memo,
        "user",
        &["out"],
        &[(&f, &["out"])],
        &[],
        &[],
        &[],
    );
    assert!(memo.cached(&f).is_some());
    drv.validate(&sd(), &user, &mut memo).expect("valid");

    let mut bad = drv.clone();
    bad.input_drvs
        .insert(missing.clone(), BTreeSet::from(["out".to_owned()]));
    let e = bad
        .hash_modulo(&sd(), true, &mut memo)
        .expect_err("missing input");
    assert!(
        matches!(
            &e,
            HashModuloError::Input {
                source: MemoError::Load { .. },
                ..
            }
        ),
        "{e}"
    );

    let mut cyclic = drv.clone();
    cyclic
        .input_drvs
        .insert(user.clone(), BTreeSet::from(["out".to_owned()]));
    let mut m2 = super::memo();
    m2.loader_mut().insert(user.clone(), cyclic);
    assert!(matches!(m2.drv_hash(&user), Err(MemoError::Cycle { .. })));

    let mut m3 = super::memo().with_max_depth(3);
    let mut prev: Option<StorePath> = None;
    for i in 0..5 {
        let inputs: Vec<(&StorePath, &[&str])> =
            prev.iter().map(|p| (p, ["out"].as_slice())).collect();
        prev = Some(instantiate(&mut m3, &format!("d{i}"), &["out"], &inputs, &[], &[], &[]).0);
    }
    let mut m4 = super::memo().with_max_depth(3);
    *m4.loader_mut() = m3.loader().clone();
    let top = prev.expect("chain");
    assert!(matches!(
        m4.drv_hash(&top),
        Err(MemoError::TooDeep { max: 3, .. })
    ));
    let mut m5 = super::memo();
    *m5.loader_mut() = m3.loader().clone();
    assert_eq!(
        m5.drv_hash(&top).expect("hash"),
        m3.drv_hash(&top).expect("hash")
    );
}

#[test]
fn floating_and_impure_derivations_defer() {
    let mut memo = memo();
    let (ca, ca_drv) = floating(&mut memo, "ca");
    let h = memo.drv_hash(&ca).expect("hash");
    assert_eq!(h.kind, DrvHashKind::Deferred);
    assert_eq!(
        ca_drv.derivation_type(),
        Ok(DerivationType::ContentAddressed { fixed: false })
    );
    let (user, drv) = instantiate(
        &mut memo,
        "uses-ca",
        &["out"],
        &[(&ca, &["out"])],
        &[],
        &[],
        &[],
    );
    assert_eq!(drv.outputs["out"], DerivationOutput::Deferred);
    assert_eq!(
        drv.env_var("out").map(|v| v.as_bytes()),
        Some(b"".as_slice())
    );
    assert_eq!(
        drv.derivation_type(),
        Ok(DerivationType::InputAddressed { deferred: true })
    );
    assert_eq!(
        memo.drv_hash(&user).expect("hash").kind,
        DrvHashKind::Deferred
    );
    drv.validate(&sd(), &user, &mut memo)
        .expect("nothing to check");
    let masked = drv.hash_modulo(&sd(), true, &mut memo).expect("hash");
    assert_eq!(
        drv.output_paths(&sd(), "uses-ca", &masked).expect("paths")["out"],
        None
    );

    let mut imp = ca_drv.clone();
    imp.outputs.insert(
        "out".into(),
        DerivationOutput::Impure {
            method: FileIngestionMethod::Recursive,
            algo: HashAlgo::Sha256,
        },
    );
    let h = imp.hash_modulo(&sd(), false, &mut memo).expect("hash");
    assert_eq!(
        (h.kind, h.hashes["out"]),
        (DrvHashKind::Deferred, impure_output_hash())
    );
    assert_eq!(impure_output_hash(), Hash::sha256(b"impure"));

    let built = ca_output_path(
        &sd(),
        "ca",
        "dev",
        FileIngestionMethod::Recursive,
        &Hash::sha256(b"nar"),
        &BTreeSet::new(),
        true,
    )
    .expect("path");
    assert_eq!(built.name(), "ca-dev");
}

#[test]
fn derivation_types_nix_refuses() {
    let mut memo = memo();
    let (_, ia) = instantiate(&mut memo, "x", &["out"], &[], &[], &[], &[]);
    let (_, f) = fod(&mut memo, "f", "/bin/sh", &[]);
    let (_, ca) = floating(&mut memo, "ca");
    let fixed = f.outputs["out"].clone();
    let check = |outputs: Vec<(&str, DerivationOutput)>, want: DerivationTypeError| {
        let drv = Derivation {
            outputs: outputs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            ..ia.clone()
        };
        assert_eq!(drv.derivation_type(), Err(want.clone()));
        let e = drv.hash_modulo(&sd(), true, &mut |_: &StorePath| {
            Ok::<_, UnknownDerivation>(unreachable_hash())
        });
        assert!(matches!(e, Err(HashModuloError::Type(t)) if t == want));
    };
    check(vec![], DerivationTypeError::NoOutputs);
    check(
        vec![("out", fixed.clone()), ("dev", fixed.clone())],
        DerivationTypeError::SeveralFixedOutputs,
    );
    check(
        vec![("bin", fixed.clone())],
        DerivationTypeError::FixedOutputNotOut,
    );
    check(
        vec![("out", fixed), ("dev", ia.outputs["out"].clone())],
        DerivationTypeError::MixedOutputTypes,
    );
    let sha512 = DerivationOutput::CAFloating {
        method: FileIngestionMethod::Flat,
        algo: HashAlgo::Sha512,
    };
    check(
        vec![("out", ca.outputs["out"].clone()), ("dev", sha512)],
        DerivationTypeError::FloatingAlgosDiffer,
    );
}

fn unreachable_hash() -> DrvHash {
    DrvHash {
        hashes: BTreeMap::new(),
        kind: DrvHashKind::Regular,
    }
}

#[test]
fn missing_output_of_an_input() {
    let mut memo = memo();
    let (a, _) = instantiate(&mut memo, "a", &["out"], &[], &[], &[], &[]);
    let (_, mut b) = instantiate(&mut memo, "b", &["out"], &[(&a, &["out"])], &[], &[], &[]);
    b.input_drvs
        .insert(a.clone(), BTreeSet::from(["nope".to_owned()]));
    let e = b
        .hash_modulo(&sd(), true, &mut memo)
        .expect_err("no such output");
    assert_eq!(
        e.to_string(),
        format!(
            "no hash for output 'nope' of derivation '{}'",
            sd().display(&a)
        )
    );
}

#[test]
fn masking_blanks_outputs_and_their_variables_only() {
    let mut memo = memo();
    let (_, drv) = instantiate(
        &mut memo,
        "m",
        &["out", "doc"],
        &[],
        &[],
        &[],
        &[("other", "/nix/store/x")],
    );
    let opts = WriteOptions {
        mask_outputs: true,
        replaced_inputs: None,
    };
    let text = String::from_utf8(drv.to_aterm_with(&sd(), opts)).expect("utf8");
    assert!(
        text.starts_with(r#"Derive([("doc","","",""),("out","","","")],"#),
        "{text}"
    );
    assert!(
        text.contains(r#"("doc",""),"#) && text.contains(r#"("other","/nix/store/x")"#),
        "{text}"
    );
    assert!(text.contains(r#"("out",""),"#), "{text}");
}

#[test]
fn validation_errors_read_like_nix() {
    let mut memo = memo();
    let (path, good) = instantiate(
        &mut memo,
        "trivial",
        &["out"],
        &[],
        &[],
        &["-c", "echo hi > $out"],
        &[],
    );
    let shown = sd().display(&path);
    let real = good.env_var("out").expect("out").to_string();
    let forged_path = sp("/nix/store/00000000000000000000000000000000-trivial");
    let forged = sd().display(&forged_path);

    let mut bad = good.clone();
    bad.outputs.insert(
        "out".into(),
        DerivationOutput::InputAddressed(forged_path.clone()),
    );
    bad.env.insert("out".into(), forged.as_str().into());
    let e = bad.validate(&sd(), &path, &mut memo).expect_err("forged");
    assert_eq!(
        e.to_string(),
        format!("derivation '{shown}' has incorrect output '{forged}', should be '{real}'")
    );

    let mut bad = good.clone();
    bad.env.insert("out".into(), forged.as_str().into());
    let e = bad.validate(&sd(), &path, &mut memo).expect_err("env");
    assert_eq!(
        e.to_string(),
        format!(
            "derivation '{shown}' has incorrect environment variable 'out', should be '{real}'"
        )
    );
    // Dropping the variable changes the masked text, so the path is wrong.
    bad.env.remove(b"out".as_slice());
    assert!(matches!(
        bad.validate(&sd(), &path, &mut memo),
        Err(ValidateError::IncorrectOutput { .. })
    ));

    let mut bad = good.clone();
    bad.env.insert("name".into(), "other".into());
    assert!(matches!(
        bad.validate(&sd(), &path, &mut memo),
        Err(ValidateError::NameMismatch { .. })
    ));
    let not_drv = sp("/nix/store/00000000000000000000000000000000-trivial");
    assert!(matches!(
        good.validate(&sd(), &not_drv, &mut memo),
        Err(ValidateError::NotADerivation(_))
    ));
    let mut no_name = good.clone();
    no_name.env.remove(b"name".as_slice());
    no_name
        .fill_input_addressed_outputs(&sd(), "trivial", &mut memo)
        .expect("filled");
    let no_name_path = no_name.drv_path(&sd(), "trivial").expect("path");
    no_name
        .validate(&sd(), &no_name_path, &mut memo)
        .expect("name comes from the path");

    let (fpath, f) = fod(&mut memo, "f", "/bin/sh", &[]);
    f.validate(&sd(), &fpath, &mut memo).expect("valid");
    let mut bad = f.clone();
    let DerivationOutput::CAFixed { hash, .. } = f.outputs["out"] else {
        panic!("fixed")
    };
    bad.outputs.insert(
        "out".into(),
        DerivationOutput::CAFixed {
            hash,
            path: forged_path,
        },
    );
    assert!(matches!(
        bad.validate(&sd(), &fpath, &mut memo),
        Err(ValidateError::IncorrectOutput { .. })
    ));
    let mut bad = f.clone();
    bad.env.insert("out".into(), "".into());
    assert!(matches!(
        bad.validate(&sd(), &fpath, &mut memo),
        Err(ValidateError::IncorrectEnv { .. })
    ));
    bad.env.remove(b"out".as_slice());
    assert!(matches!(
        bad.validate(&sd(), &fpath, &mut memo),
        Err(ValidateError::IncorrectEnv { .. })
    ));
    let mut bad = f;
    bad.outputs.insert("dev".into(), DerivationOutput::Deferred);
    assert!(matches!(
        bad.validate(&sd(), &fpath, &mut memo),
        Err(ValidateError::Type { .. })
    ));
}

#[test]
fn drv_output_id_errors() {
    assert!(matches!(
        "sha256:00".parse::<DrvOutputId>(),
        Err(DrvOutputIdError::NoSeparator(_))
    ));
    assert!(matches!(
        "sha256:00!out".parse::<DrvOutputId>(),
        Err(DrvOutputIdError::BadHash { .. })
    ));
    assert_eq!(output_path_name("hello", "out"), "hello");
    assert_eq!(output_path_name("hello", "man"), "hello-man");
    assert_eq!(
        drv_name_from_path(&sp("/nix/store/00000000000000000000000000000000-a.drv")),
        Some("a")
    );
}

/// A loader that counts what it is asked for.
struct Counting<'a> {
    drvs: &'a BTreeMap<StorePath, Derivation>,
    loads: std::cell::RefCell<Vec<StorePath>>,
}

impl DrvLoader for &Counting<'_> {
    type Error = UnknownDerivation;

    fn load(&mut self, drv_path: &StorePath) -> Result<Derivation, UnknownDerivation> {
        self.loads.borrow_mut().push(drv_path.clone());
        self.drvs
            .get(drv_path)
            .cloned()
            .ok_or_else(|| UnknownDerivation(drv_path.to_string()))
    }
}

#[test]
fn shared_hashes_spare_later_walks_their_inputs() {
    // A chain a0 <- a1 <- ... <- a5, as a client instantiates it.
    let mut m = memo();
    let mut chain: Vec<(StorePath, Derivation)> = Vec::new();
    for i in 0..6 {
        let name = format!("a{i}");
        let inputs: Vec<(&StorePath, &[&str])> = chain
            .last()
            .map(|(p, _)| (p, &["out"][..]))
            .into_iter()
            .collect();
        let made = instantiate(&mut m, &name, &["out"], &inputs, &[], &[], &[]);
        chain.push(made);
    }
    let drvs = m.loader().clone();
    let shared = std::sync::Arc::new(SharedDrvHashes::new(100));
    // Validating each new derivation, one walk each (as the daemon does
    // per added .drv): with the shared hashes, each walk loads only the
    // derivation just before it.
    for (i, (path, drv)) in chain.iter().enumerate() {
        let counting = Counting {
            drvs: &drvs,
            loads: Default::default(),
        };
        let mut walk = DrvHashMemo::new(sd(), &counting).with_shared(shared.clone());
        drv.validate(&sd(), path, &mut walk).expect("valid");
        let want: Vec<StorePath> = chain[..i]
            .iter()
            .rev()
            .take(1)
            .map(|(p, _)| p.clone())
            .collect();
        assert_eq!(*counting.loads.borrow(), want, "walk {i}");
    }
    assert_eq!(shared.len(), 5);
    // Without them, the last walk reads the whole chain again.
    let counting = Counting {
        drvs: &drvs,
        loads: Default::default(),
    };
    let mut walk = DrvHashMemo::new(sd(), &counting);
    let (path, drv) = &chain[5];
    drv.validate(&sd(), path, &mut walk).expect("valid");
    assert_eq!(counting.loads.borrow().len(), 5);
    // The shared hashes are the ones a fresh walk computes.
    let mut fresh = DrvHashMemo::new(sd(), drvs.clone());
    for (p, _) in &chain[..5] {
        assert_eq!(shared.get(p), Some(fresh.drv_hash(p).expect("hash")));
    }
}

#[test]
fn shared_hashes_are_bounded() {
    let shared = SharedDrvHashes::new(3);
    let mut m = memo();
    let paths: Vec<StorePath> = (0..4)
        .map(|i| instantiate(&mut m, &format!("b{i}"), &["out"], &[], &[], &[], &[]).0)
        .collect();
    for p in &paths {
        shared.insert(p.clone(), m.drv_hash(p).expect("hash"));
    }
    // Full at three: the fourth starts it over.
    assert_eq!(shared.len(), 1);
    assert!(shared.get(&paths[3]).is_some());
    assert!(shared.get(&paths[0]).is_none());
}
