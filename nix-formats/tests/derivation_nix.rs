//! Derivations checked against the real Nix (2.8): `nix-instantiate` writes
//! `.drv` files into a private store (`--store local?root=<tmp>`, so the
//! machine's /nix is not touched while paths still read `/nix/store/…`), and
//! for each one we check that
//!
//! * reading then printing gives the file's bytes;
//! * our `.drv` path is the one Nix printed;
//! * our output paths are the ones in the file and from `nix-store -q --outputs`;
//! * `validate()` accepts it.
//!
//! Then we forge output paths and check that both Nix (registering the text
//! with `builtins.toFile`) and `validate()` refuse it with the same message.
//!
//! These tests need Nix installed and fail (never skip) without it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use nix_formats::derivation::{
    Derivation, DrvHash, DrvHashMemo, DrvHashResolver, ParseError, drv_name_from_path,
};
use nix_formats::store_path::{StoreDir, StorePath};

/// A private Nix store in a temporary directory.
struct NixStore {
    tmp: tempfile::TempDir,
}

impl NixStore {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let conf = tmp.path().join("conf");
        std::fs::create_dir_all(&conf).expect("conf dir");
        let settings = "experimental-features = nix-command ca-derivations impure-derivations\n\
                        build-users-group =\nsubstituters =\n";
        std::fs::write(conf.join("nix.conf"), settings).expect("nix.conf");
        NixStore { tmp }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let home = self.tmp.path().join("home");
        Command::new(tool)
            .arg("--store")
            .arg(format!("local?root={}", self.root().display()))
            .args(args)
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_PATH")
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("NIX_CONF_DIR", self.tmp.path().join("conf"))
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {tool}: Nix 2.8 must be installed for this test: {e}")
            })
    }

    fn run_ok(&self, tool: &str, args: &[&str]) -> String {
        let out = self.run(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Instantiates the expression in `expr` (bytes, not necessarily UTF-8)
    /// and returns the `.drv` paths Nix printed.
    fn instantiate(&self, expr: &[u8]) -> Vec<String> {
        let file = self.tmp.path().join("expr.nix");
        std::fs::write(&file, expr).expect("write expression");
        let file = file.to_str().expect("utf-8 temp path");
        self.run_ok("nix-instantiate", &[file])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The bytes of a store file, as Nix wrote it under the root.
    fn read(&self, store_path: &str) -> Vec<u8> {
        let rel = store_path.trim_start_matches('/');
        std::fs::read(self.root().join(rel)).unwrap_or_else(|e| panic!("read {store_path}: {e}"))
    }

    fn parse(&self, path: &StorePath) -> Result<Derivation, ParseError> {
        let sd = StoreDir::default();
        Derivation::from_aterm(&self.read(&sd.display(path)), &sd)
    }

    /// Adds `text` as a `.drv` through Nix (which checks its outputs) and
    /// returns Nix's error, if any.
    fn register_text(&self, name: &str, text: &[u8]) -> Result<(), String> {
        let file = self.tmp.path().join(format!("{name}.txt"));
        std::fs::write(&file, text).expect("write text");
        let expr = format!(
            "derivation {{ name = \"w\"; system = \"x\"; builder = \"/bin/sh\"; \
             args = [ (builtins.toFile \"{name}\" (builtins.readFile {})) ]; }}",
            file.display()
        );
        let out = self.run("nix-instantiate", &["-E", &expr]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

const EXPR: &str = r#"
let
  sh = "/bin/sh";
  sys = "x86_64-linux";
  drv = attrs: derivation ({ system = sys; builder = sh; } // attrs);
  src = builtins.toFile "src.txt" "hello";
in rec {
  trivial = drv { name = "trivial"; args = [ "-c" "echo hi > $out" ]; };
  multi = drv { name = "multi"; outputs = [ "out" "dev" "lib" ]; args = [ "-c" "x" ]; };
  escapes = drv {
    name = "escapes";
    args = [ "-c" "echo ${multi.dev} \t\"q\"\\ > $out" ];
    weird = "line1\nline2\r\t\\\"$dollar \${x} ünï€ 🙂";
    ctl = "a@CTL@b";
  };
  both = drv { name = "both"; args = [ "${multi.dev}" "${multi.lib}" "${escapes}" ]; };
  fod-flat = drv { name = "fod-flat"; args = [ "-c" "x" ]; outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "1f636e9f20d09560d42ad111b96de1020091b901efbb67593b155886d6a4e5e0"; };
  fod-rec = drv { name = "fod-rec"; outputHashMode = "recursive";
    outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; };
  fod-sha1 = drv { name = "fod-sha1"; outputHashAlgo = "sha1"; outputHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; };
  fod-sha512 = drv { name = "fod-sha512"; outputHashAlgo = "sha512"; outputHashMode = "recursive";
    outputHash = builtins.hashString "sha512" ""; };
  fod-with-input = drv { name = "fod-with-input"; outputHashAlgo = "sha256"; args = [ "${trivial}" ];
    outputHash = builtins.hashString "sha256" "x"; };
  uses-fod = drv { name = "uses-fod"; args = [ "-c" "cat ${fod-flat} ${fod-rec} ${fod-sha1} ${fod-sha512} ${fod-with-input}" ]; };
  ca = drv { name = "ca"; __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256"; };
  uses-ca = drv { name = "uses-ca"; args = [ "${ca}" ]; };
  impure = drv { name = "impure"; __impure = true; };
  structured = drv { name = "structured"; __structuredAttrs = true; outputs = [ "out" "lib" ]; list = [ 1 "two" ]; };
  with-srcs = drv { name = "with-srcs"; args = [ src ./expr.nix ]; };
}
"#;

/// Every attribute of `EXPR`, i.e. the derivation names Nix must print.
const NAMES: &[&str] = &[
    "both",
    "ca",
    "escapes",
    "fod-flat",
    "fod-rec",
    "fod-sha1",
    "fod-sha512",
    "fod-with-input",
    "impure",
    "multi",
    "structured",
    "trivial",
    "uses-ca",
    "uses-fod",
    "with-srcs",
];

#[test]
fn nix_instantiated_derivations_round_trip_hash_and_validate() {
    let store = NixStore::new();
    let sd = StoreDir::default();
    // Control bytes and invalid UTF-8 in an environment value.
    let expr: Vec<u8> = EXPR.replace("@CTL@", "\u{1}\u{7f}").into_bytes();
    let at = expr
        .windows(5)
        .position(|w| w == b"a\x01\x7fb\"")
        .expect("marker");
    let expr = [&expr[..at + 1], &[0xff, 0xfe], &expr[at + 1..]].concat();
    let printed = store.instantiate(&expr);

    let mut names: Vec<String> = Vec::new();
    let mut memo = DrvHashMemo::new(sd.clone(), |p: &StorePath| store.parse(p));
    for drv_path_str in &printed {
        let drv_path = sd
            .parse_path(drv_path_str)
            .expect("Nix printed a store path");
        let name = drv_name_from_path(&drv_path).expect(".drv").to_owned();
        let text = store.read(drv_path_str);
        let drv =
            Derivation::from_aterm(&text, &sd).unwrap_or_else(|e| panic!("{drv_path_str}: {e}"));
        assert_eq!(
            drv.to_aterm(&sd).escape_ascii().to_string(),
            text.escape_ascii().to_string(),
            "{name}"
        );
        assert_eq!(
            sd.display(&drv.drv_path(&sd, &name).expect("drv path")),
            *drv_path_str,
            "{name}"
        );
        drv.validate(&sd, &drv_path, &mut memo)
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        let masked = drv.hash_modulo(&sd, true, &mut memo).expect("hash modulo");
        let ours = drv.output_paths(&sd, &name, &masked).expect("output paths");
        let written: BTreeMap<String, String> = drv
            .outputs
            .iter()
            .map(|(o, out)| (o.clone(), out.fields(&sd).path))
            .collect();
        let ours_shown: BTreeMap<String, String> = ours
            .iter()
            .map(|(o, p)| {
                (
                    o.clone(),
                    p.as_ref().map(|p| sd.display(p)).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(ours_shown, written, "{name}");
        let ty = drv.derivation_type().expect("type");
        if ty.has_known_output_paths() {
            let listed = store.run_ok("nix-store", &["-q", "--outputs", drv_path_str]);
            let mut listed: Vec<&str> = listed.lines().collect();
            let mut ours: Vec<&str> = ours_shown.values().map(String::as_str).collect();
            listed.sort_unstable();
            ours.sort_unstable();
            assert_eq!(ours, listed, "{name}");
        }
        // The memo's unmasked hash is the one dependents use.
        assert_eq!(
            memo.drv_hash(&drv_path).expect("hash"),
            drv.hash_modulo(&sd, false, &mut memo).expect("hash")
        );
        names.push(name);
    }
    names.sort();
    assert_eq!(names, NAMES);

    let escapes = printed
        .iter()
        .find(|p| p.ends_with("-escapes.drv"))
        .expect("escapes");
    let text = store.read(escapes);
    let needle = [b"a".as_slice(), &[0xff, 0xfe, 0x01, 0x7f], b"b"].concat();
    assert!(
        text.windows(needle.len()).any(|w| w == needle),
        "raw bytes kept: {}",
        text.escape_ascii()
    );
}

#[test]
fn forged_outputs_are_refused_like_nix() {
    let store = NixStore::new();
    let sd = StoreDir::default();
    let printed = store.instantiate(
        br#"derivation { name = "victim"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo hi > $out" ]; }"#,
    );
    let good = store.read(&printed[0]);
    store
        .register_text("victim.drv", &good)
        .expect("Nix registers the genuine text");
    let drv = Derivation::from_aterm(&good, &sd).expect("parses");
    let real_hash = drv.outputs["out"].fields(&sd).path[11..43].to_owned();
    let forged_hash = "00000000000000000000000000000000";
    let good_str = String::from_utf8(good).expect("utf-8");
    let forged_env_entry = format!("(\"out\",\"/nix/store/{forged_hash}-victim\")");

    let cases = [
        // Output and variable both forged.
        (
            good_str.replace(&real_hash, forged_hash),
            "has incorrect output",
        ),
        // Only the variable forged.
        (
            good_str.replace(
                &format!("(\"out\",\"/nix/store/{real_hash}-victim\")"),
                &forged_env_entry,
            ),
            "has incorrect environment variable",
        ),
    ];
    let mut no_inputs = |p: &StorePath| -> Result<DrvHash, std::io::Error> {
        panic!("no inputs expected, asked for {p}")
    };
    for (text, what) in cases {
        let nix_error = store
            .register_text("victim.drv", text.as_bytes())
            .expect_err("Nix refuses the forgery");
        let forged = Derivation::from_aterm(text.as_bytes(), &sd).expect("still well-formed");
        let path = forged.drv_path(&sd, "victim").expect("path");
        let ours = forged
            .validate(&sd, &path, &mut no_inputs)
            .expect_err("we refuse the forgery")
            .to_string();
        assert!(ours.contains(what), "{ours}");
        assert!(
            nix_error.contains(&ours),
            "Nix said:\n{nix_error}\nwe said:\n{ours}"
        );
    }
}

/// Forms Nix 2.8's parser accepts but never writes; we refuse them so that
/// reading then printing is the identity (see `derivation::parse`).
#[test]
fn non_canonical_texts_nix_reads_are_refused() {
    let store = NixStore::new();
    let sd = StoreDir::default();
    let printed = store.instantiate(
        br#"derivation { name = "lax"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo hi > $out" ]; }"#,
    );
    let good = String::from_utf8(store.read(&printed[0])).expect("utf-8");
    for text in [
        format!("{good}trailing"),
        good.replacen("Derive([", "Derive([,", 1),
        good.replacen("echo", "\\echo", 1),
    ] {
        store
            .register_text("lax.drv", text.as_bytes())
            .expect("Nix 2.8 accepts it");
        assert!(
            Derivation::from_aterm(text.as_bytes(), &sd).is_err(),
            "{text}"
        );
    }
}
