use super::*;
use nix_formats::StoreDir;

const OUT: &str = "/nix/store/7yszd4ww3dpyxbr8ig3bpbb1xxvk6n3m-t";
const OUT_DEV: &str = "/nix/store/1ci8blwv2ib6xjrrr4qhdlaxfnp8cbfa-t-dev";
const FIXED: &str = "/nix/store/3r9ivp4h33qzmb8m8v0crc1pm0gm8v2d-f";

fn drv(outputs: &str, env: &str) -> Derivation {
    let text = format!(
        "Derive([{outputs}],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo /1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9\"],[{env}])"
    );
    Derivation::from_aterm(text.as_bytes(), &StoreDir::default()).expect("test derivation parses")
}

fn cfg() -> EnvConfig {
    let mut c = EnvConfig::new("/tmp/nix-build-t.drv-0");
    c.cores = 4;
    c.outputs.insert("out".into(), OUT.into());
    c
}

fn env_of(inv: &BuilderInvocation) -> Vec<(String, String)> {
    inv.env
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

#[test]
fn placeholder_is_nixs() {
    assert_eq!(
        hash_placeholder("out"),
        "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9"
    );
}

#[test]
fn plain_derivation_gets_nixs_variables_and_its_own() {
    let d = drv(
        &format!("(\"out\",\"{OUT}\",\"\",\"\")"),
        &format!(
            "(\"HOME\",\"/mine\"),(\"PWD\",\"/elsewhere\"),(\"TERM\",\"dumb\"),(\"name\",\"t\"),(\"out\",\"{OUT}\")"
        ),
    );
    let inv = builder_invocation(&d, &cfg(), None).expect("env");
    assert!(!inv.network);
    assert!(inv.files.is_empty());
    // The derivation overrides HOME but not PWD or TERM (Nix sets those after).
    assert_eq!(
        env_of(&inv),
        pairs(&[
            ("HOME", "/mine"),
            ("NIX_BUILD_CORES", "4"),
            ("NIX_BUILD_TOP", "/build"),
            ("NIX_LOG_FD", "2"),
            ("NIX_STORE", "/nix/store"),
            ("PATH", "/path-not-set"),
            ("PWD", "/build"),
            ("TEMP", "/build"),
            ("TEMPDIR", "/build"),
            ("TERM", "xterm-256color"),
            ("TMP", "/build"),
            ("TMPDIR", "/build"),
            ("name", "t"),
            ("out", OUT),
        ])
    );
    assert_eq!(inv.args[1], format!("echo {OUT}").into_bytes());
}

#[test]
fn pass_as_file_writes_attr_files() {
    let d = drv(
        &format!("(\"out\",\"{OUT}\",\"\",\"\")"),
        "(\"foo\",\"big /1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9\"),(\"passAsFile\",\"foo  missing\")",
    );
    let inv = builder_invocation(&d, &cfg(), None).expect("env");
    let env = env_of(&inv);
    assert!(!env.iter().any(|(k, _)| k == "foo"));
    assert!(env.contains(&(
        "fooPath".into(),
        "/build/.attr-1bp7cri8hplaz6hbz0v4f0nl44rl84q1sg25kgwqzipzd1mv89ic".into()
    )));
    assert!(env.contains(&("passAsFile".into(), "foo  missing".into())));
    assert_eq!(
        inv.files,
        vec![BuildDirFile {
            name: ".attr-1bp7cri8hplaz6hbz0v4f0nl44rl84q1sg25kgwqzipzd1mv89ic".into(),
            contents: format!("big {OUT}").into_bytes(),
            owned_by_builder: true,
        }]
    );
}

#[test]
fn fixed_output_keeps_network_and_impure_vars() {
    let d = drv(
        &format!(
            "(\"out\",\"{FIXED}\",\"r:sha256\",\"0000000000000000000000000000000000000000000000000000000000000000\")"
        ),
        "(\"impureEnvVars\",\"http_proxy NO_SUCH\"),(\"name\",\"f\")",
    );
    let mut c = cfg();
    c.host_env
        .insert(b"http_proxy".to_vec(), b"http://p:3128".to_vec());
    let inv = builder_invocation(&d, &c, None).expect("env");
    assert!(inv.network);
    let env = env_of(&inv);
    assert!(env.contains(&("NIX_OUTPUT_CHECKED".into(), "1".into())));
    assert!(env.contains(&("http_proxy".into(), "http://p:3128".into())));
    assert!(env.contains(&("NO_SUCH".into(), String::new())));
}

#[test]
fn impure_vars_are_ignored_when_sandboxed() {
    let d = drv(
        &format!("(\"out\",\"{OUT}\",\"\",\"\")"),
        "(\"impureEnvVars\",\"http_proxy\")",
    );
    let mut c = cfg();
    c.host_env.insert(b"http_proxy".to_vec(), b"x".to_vec());
    let inv = builder_invocation(&d, &c, None).expect("env");
    assert!(!env_of(&inv).iter().any(|(k, _)| k == "http_proxy"));
}

#[test]
fn structured_attrs_write_json_and_sh() {
    let json = r#"{\"name\":\"t\",\"n\":3,\"f\":1.5,\"b\":true,\"no\":false,\"z\":null,\"l\":[\"a'b\",2],\"o\":{\"k\":\"v\"},\"nested\":[[1]],\"bad-name\":1,\"impureEnvVars\":[\"X\"]}"#;
    let d = drv(
        &format!("(\"dev\",\"{OUT_DEV}\",\"\",\"\"),(\"out\",\"{OUT}\",\"\",\"\")"),
        &format!("(\"__json\",\"{json}\"),(\"out\",\"{OUT}\")"),
    );
    let mut c = cfg();
    c.outputs.insert("dev".into(), OUT_DEV.into());
    let inv = builder_invocation(&d, &c, None).expect("env");
    let env = env_of(&inv);
    // Structured mode: the derivation's own variables are not passed.
    assert!(!env.iter().any(|(k, _)| k == "out" || k == "__json"));
    assert!(env.contains(&(
        "NIX_ATTRS_SH_FILE".into(),
        "/tmp/nix-build-t.drv-0/.attrs.sh".into()
    )));
    let sh = String::from_utf8(inv.files[0].contents.clone()).expect("utf-8");
    assert_eq!(
        sh,
        format!(
            "declare b=1\n\
             declare -a impureEnvVars=('X' )\n\
             declare -a l=('a'\\''b' 2 )\n\
             declare n=3\n\
             declare name='t'\n\
             declare no=\n\
             declare -A o=(['k']='v' )\n\
             declare -A outputs=(['dev']='{OUT_DEV}' ['out']='{OUT}' )\n\
             declare z=''\n"
        )
    );
    let json = String::from_utf8(inv.files[1].contents.clone()).expect("utf-8");
    assert!(
        json.starts_with("{\"b\":true,\"bad-name\":1,\"f\":1.5,"),
        "{json}"
    );
    assert!(json.contains(&format!(
        "\"outputs\":{{\"dev\":\"{OUT_DEV}\",\"out\":\"{OUT}\"}}"
    )));
}

#[test]
fn export_references_graph_needs_the_store() {
    struct Fake;
    impl ReferencesGraph for Fake {
        fn registration(&self, p: &str) -> Result<Vec<u8>, String> {
            Ok(format!("{p}\n\n0\n").into_bytes())
        }
        fn path_info_json(&self, _: &[String]) -> Result<serde_json::Value, String> {
            Ok(serde_json::Value::Null)
        }
    }
    let d = drv(
        &format!("(\"out\",\"{OUT}\",\"\",\"\")"),
        &format!("(\"exportReferencesGraph\",\"closure {OUT_DEV}/bin/x\")"),
    );
    assert!(matches!(
        builder_invocation(&d, &cfg(), None),
        Err(EnvError::NoReferencesGraph)
    ));
    let inv = builder_invocation(&d, &cfg(), Some(&Fake)).expect("env");
    assert_eq!(inv.files[0].name, "closure");
    assert_eq!(
        inv.files[0].contents,
        format!("{OUT_DEV}\n\n0\n").into_bytes()
    );
    assert!(!inv.files[0].owned_by_builder);

    let d = drv(
        &format!("(\"out\",\"{OUT}\",\"\",\"\")"),
        "(\"exportReferencesGraph\",\"x /etc/passwd\")",
    );
    assert!(matches!(
        builder_invocation(&d, &cfg(), Some(&Fake)),
        Err(EnvError::ExportNotInStore(_))
    ));
}
