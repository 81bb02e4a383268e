//! Scenarios that move paths in and out of the store: signatures, the
//! export format, binary caches (`nix copy` with `file://`), NAR dumps,
//! verification, repair and optimisation, the rarer `--add-fixed` forms,
//! build logs (written by the daemon, read back by the client), and a
//! `nix-env` profile's closure copied out and back. They are kept apart from `scenarios.rs` (same rules: each is a
//! function returning a [`Scenario`], listed in [`all`] and, by name, in
//! `tests/moving.rs`).
//!
//! Signing uses the fixed key pair `scenarios/keys/compat-test-key-1.*`
//! (made once with `nix-store --generate-binary-cache-key`), so the two
//! runs of a scenario produce the same ed25519 signatures; a freshly
//! generated key is only checked for its shape.

use crate::scenario::{Scenario, Step};

/// `trusted-public-keys` line for the fixed test key.
const TRUSTED_KEY: &str =
    "trusted-public-keys = compat-test-key-1:rRPH/nJes8zZN89Q3mdjtT75UOMNtfjxiopVRic3yZI=";
/// The fixed secret key, relative to the work directory.
const SECRET_KEY: &str = "keys/compat-test-key-1.sec";

/// Every scenario of this module, in a fixed order.
pub fn all() -> Vec<Scenario> {
    vec![
        sign_export_import(),
        binary_cache(),
        dump_restore(),
        verify_optimise(),
        add_fixed_forms(),
        build_logs(),
        profile_closure(),
    ]
}

/// Builds chain.nix's `c` without keeping a root, and lists its closure in
/// `closure.list`.
fn build_closure() -> Step {
    Step::sh(
        "build",
        "nix-build chain.nix -A c -o c && nix-store -q --requisites c > closure.list && rm c && cat closure.list",
    )
}

/// `nix store verify --sigs-needed N` over the closure. It checks paths in
/// parallel, so its messages are sorted (into stdout); its exit code is
/// kept (2: some path is untrusted).
fn sorted_verify(sigs_needed: u32) -> String {
    format!(
        "nix store verify --sigs-needed {sigs_needed} $(cat closure.list) 2> verify.err; rc=$?; sort verify.err; exit $rc"
    )
}

fn sign_export_import() -> Scenario {
    let mut s = Scenario::new(
        "sign_export_import",
        "nix store sign, path-info --sigs/--json, store verify --sigs-needed, then export/delete/import of signed paths",
    )
    .nix_command()
    .step(build_closure())
    .step(Step::sh(
        "generate-key",
        "nix-store --generate-binary-cache-key fresh-key-1 fresh.sec fresh.pub && cut -d: -f1 fresh.pub && cut -d: -f2 fresh.sec | base64 -d | wc -c",
    ))
    .step(Step::sh("unsigned-verify", &sorted_verify(1)).exit(2))
    .step(
        Step::sh(
            "sign",
            &format!("nix store sign --key-file {SECRET_KEY} $(cat closure.list)"),
        )
        .full_stderr(),
    )
    .step(
        Step::sh(
            "sign-again",
            &format!("nix store sign --key-file {SECRET_KEY} $(cat closure.list)"),
        )
        .full_stderr(),
    )
    .step(Step::sh("sigs", "nix path-info --sigs $(cat closure.list)"))
    .step(Step::sh("json", "nix path-info --json $(cat closure.list)"))
    .step(Step::sh("verify", &sorted_verify(1)))
    .step(Step::sh("verify-two", &sorted_verify(2)).exit(2))
    .step(
        Step::sh(
            "sign-fresh-key",
            "nix store sign --key-file fresh.sec $(head -n1 closure.list) && nix path-info --sigs $(head -n1 closure.list) | tr ' ' '\\n' | cut -d: -f1",
        )
        .full_stderr(),
    )
    .step(Step::sh(
        "export",
        "nix-store --export $(cat closure.list) > closure.export && sha256sum < closure.export",
    ))
    .step(Step::sh("delete", "nix-store --delete $(cat closure.list)"))
    .step(Step::sh("import", "nix-store --import < closure.export"))
    .step(Step::sh(
        "sigs-after-import",
        "nix path-info --sigs $(cat closure.list)",
    ))
    .step(Step::sh(
        "json-after-import",
        "nix path-info --json $(cat closure.list)",
    ));
    s.extra_conf.push(TRUSTED_KEY);
    s
}

fn binary_cache() -> Scenario {
    let mut s = Scenario::new(
        "binary_cache",
        "nix copy --to file:// (unsigned and signed), then --from into the emptied store: refused unsigned, accepted signed or with --no-check-sigs",
    )
    .nix_command()
    .step(build_closure())
    .step(
        Step::sh(
            "copy-to-unsigned",
            "nix copy --to file://$PWD/unsigned $(cat closure.list)",
        )
        .full_stderr(),
    )
    .step(Step::sh(
        "sign",
        &format!("nix store sign --key-file {SECRET_KEY} $(cat closure.list)"),
    ))
    .step(Step::sh(
        "copy-to-signed",
        "nix copy --to file://$PWD/signed $(cat closure.list)",
    ))
    .step(Step::sh(
        "cache-files",
        "cd signed && find . | sort && cat nix-cache-info && for f in *.narinfo; do cat $f; done",
    ))
    .step(Step::sh(
        "unsigned-narinfos",
        "cd unsigned && for f in *.narinfo; do cat $f; done",
    ))
    .step(Step::sh(
        "narinfo-query",
        "nix path-info --store file://$PWD/signed --json $(cat closure.list)",
    ))
    .step(Step::sh("delete", "nix-store --delete $(cat closure.list)"))
    .step(
        Step::sh(
            "from-unsigned",
            "nix copy --from file://$PWD/unsigned $(cat closure.list)",
        )
        .exit(1),
    )
    .step(Step::sh("still-gone", "nix-store --check-validity $(cat closure.list)").exit(1))
    .step(Step::sh(
        "from-signed",
        "nix copy --from file://$PWD/signed $(cat closure.list)",
    ))
    .step(Step::sh("sigs", "nix path-info --sigs $(cat closure.list)"))
    .step(Step::sh("delete-again", "nix-store --delete $(cat closure.list)"))
    .step(Step::sh(
        "from-unsigned-no-check",
        "nix copy --no-check-sigs --from file://$PWD/unsigned $(cat closure.list)",
    ))
    .step(Step::sh(
        "sigs-unsigned",
        "nix path-info --sigs $(cat closure.list)",
    ))
    .step(Step::sh(
        "run",
        "sh $(tail -n1 $(tail -n1 closure.list))",
    ));
    s.extra_conf.push(TRUSTED_KEY);
    s
}

fn dump_restore() -> Scenario {
    Scenario::new(
        "dump_restore",
        "nix-store --dump of store paths (directory, executable, symlink, flat file) and --restore of the NARs",
    )
    .step(Step::sh("build", "nix-build sources.nix -A copy"))
    .step(Step::sh(
        "dump",
        "nix-store --dump result > result.nar && sha256sum < result.nar && wc -c < result.nar",
    ))
    .step(Step::sh(
        "restore",
        "nix-store --restore restored < result.nar && find restored -printf '%p %y %m %s %l\\n' | sort",
    ))
    .step(Step::sh(
        "dump-restored",
        "nix-store --dump restored | sha256sum",
    ))
    .step(Step::sh(
        "add-restored",
        "nix-store --add restored && nix-hash --type sha256 restored",
    ))
    .step(
        Step::sh(
            "restore-over",
            "nix-store --restore restored < result.nar",
        )
        .exit(1),
    )
    .step(
        Step::sh(
            "dump-flat",
            "nix-store --dump $(nix-store --add-fixed sha256 srcdir/hello.txt)",
        )
        .stdout_hash(),
    )
    .step(
        Step::sh(
            "dump-exec",
            "nix-store --dump $(nix-store --add srcdir/bin/run.sh)",
        )
        .stdout_hash(),
    )
    .step(
        Step::sh(
            "restore-file",
            "nix-store --dump $(nix-store --add srcdir/bin/run.sh) | nix-store --restore run.sh && test -x run.sh && cat run.sh",
        ),
    )
    .step(
        Step::sh(
            "dump-missing",
            "nix-store --dump /nix/store/00000000000000000000000000000000-missing",
        )
        .exit(1),
    )
}

fn verify_optimise() -> Scenario {
    Scenario::new(
        "verify_optimise",
        "nix-store --verify [--check-contents] [--repair], --verify-path, --repair-path and --optimise on a healthy store",
    )
    .nix_command()
    .step(Step::sh("build", "nix-build chain.nix -A c"))
    .step(Step::sh("add", "nix-store --add srcdir && nix-store --add-fixed sha256 srcdir/hello.txt"))
    .step(Step::sh("verify", "nix-store --verify").full_stderr())
    .step(Step::sh("check-contents", "nix-store --verify --check-contents").full_stderr())
    .step(
        Step::sh(
            "check-contents-verbose",
            "nix-store -v --verify --check-contents 2>&1 | sort",
        ),
    )
    .step(Step::sh("repair", "nix-store --verify --check-contents --repair").full_stderr())
    .step(Step::sh(
        "verify-path",
        "nix-store --verify-path $(nix-store -q --requisites result)",
    ))
    .step(
        Step::sh(
            "repair-path",
            "nix-store --repair-path $(readlink result)",
        )
        .any_exit()
        .full_stderr(),
    )
    .step(Step::sh("optimise", "nix-store --optimise").full_stderr())
    .step(Step::sh("store-optimise", "nix store optimise").full_stderr())
    // `nix store verify` checks paths on a thread pool in the client, so
    // the order of its "checking" lines varies from run to run (with either
    // daemon): compare them sorted, with the exit code kept.
    .step(
        Step::sh(
            "store-verify",
            "nix store verify -r ./result 2> verify.err; rc=$?; sort verify.err >&2; exit $rc",
        )
        .full_stderr(),
    )
    .step(Step::sh("verify-after", "nix-store --verify --check-contents").full_stderr())
}

fn add_fixed_forms() -> Scenario {
    Scenario::new(
        "add_fixed_forms",
        "nix-store --add-fixed with every hash algorithm, flat and --recursive, on files and directories; nix store add-file/add-path",
    )
    .nix_command()
    .step(Step::sh(
        "flat",
        "for a in md5 sha1 sha256 sha512; do nix-store --add-fixed $a srcdir/hello.txt; done",
    ))
    .step(Step::sh(
        "recursive-file",
        "for a in md5 sha1 sha256 sha512; do nix-store --add-fixed --recursive $a srcdir/hello.txt; done",
    ))
    .step(Step::sh(
        "recursive-dir",
        "for a in sha1 sha256 sha512; do nix-store --add-fixed --recursive $a srcdir; done",
    ))
    .step(Step::sh(
        "recursive-exec",
        "nix-store --add-fixed --recursive sha256 srcdir/bin/run.sh",
    ))
    .step(Step::sh(
        "several",
        "nix-store --add-fixed sha256 srcdir/hello.txt srcdir/bin/run.sh",
    ))
    .step(
        Step::sh("missing", "nix-store --add-fixed sha256 srcdir/missing.txt")
            .exit(1)
            .full_stderr(),
    )
    .step(Step::sh("add-file", "nix store add-file srcdir/hello.txt"))
    .step(Step::sh("add-path", "nix store add-path srcdir"))
    .step(Step::sh(
        "add-path-named",
        "nix store add-path --name renamed srcdir",
    ))
    .step(Step::sh(
        "json",
        "nix path-info --json $(nix-store --add-fixed --recursive sha1 srcdir) $(nix-store --add-fixed md5 srcdir/hello.txt)",
    ))
}

fn build_logs() -> Scenario {
    Scenario::new(
        "build_logs",
        "build logs read back with nix-store -l and nix log, and the failure message's pointer to them with nix-command on",
    )
    .nix_command()
    .step(Step::sh("build", "nix-build chain.nix -A a"))
    .step(Step::sh("log", "nix-store -l $(nix-instantiate chain.nix -A a)"))
    .step(Step::sh("log-by-output", "nix-store -l result"))
    .step(Step::sh("nix-log", "nix log ./result"))
    .step(Step::sh("fail", "nix-build fail.nix").exit(1).full_stderr())
    .step(Step::sh("fail-log", "nix-store -l $(nix-instantiate fail.nix)"))
    .step(Step::sh("fail-nix-log", "nix log -f fail.nix"))
    .step(
        Step::sh(
            "no-log",
            "nix-store -l $(nix-store --add srcdir/hello.txt)",
        )
        .exit(1),
    )
}

fn profile_closure() -> Scenario {
    Scenario::new(
        "profile_closure",
        "nix-env installs into a profile (builtin:buildenv); with the profile gone, GC listings, nix-store --delete of a closure still referred to by the older generation, --gc, then the closure back from a file:// cache into a new profile",
    )
    .nix_command()
    .step(Step::sh(
        "install",
        "nix-env -p ./profile -f chain.nix -iA c && nix-env -p ./profile -f chain.nix -iA b",
    ))
    .step(Step::sh("query", "nix-env -p ./profile -q"))
    .step(Step::sh(
        "generations",
        "nix-env -p ./profile --list-generations | cut -c1-8",
    ))
    .step(Step::sh(
        "closure",
        "nix-store -q --requisites $(readlink -f profile) | tee closure.list",
    ))
    .step(Step::sh("manifest", "cat profile/manifest.nix"))
    .step(Step::sh(
        "copy-out",
        "nix copy --to file://$PWD/cache $(readlink -f profile)",
    ))
    .step(Step::sh("drop-links", "rm profile profile-*-link"))
    .step(Step::sh("live", "nix-store --gc --print-live | sort"))
    .step(Step::sh("dead", "nix-store --gc --print-dead | sort"))
    .step(
        Step::sh(
            "delete-closure",
            "nix-store --delete /nix/store/00000000000000000000000000000000-missing $(cat closure.list)",
        )
        .exit(1),
    )
    .step(Step::sh(
        "delete-missing",
        "nix-store --delete /nix/store/00000000000000000000000000000000-missing",
    ))
    .step(Step::sh("gc", "nix-store --gc"))
    .step(Step::sh("gone", "nix-store --check-validity $(cat closure.list)").exit(1))
    .step(Step::sh(
        "copy-back",
        "nix copy --no-check-sigs --from file://$PWD/cache $(tail -n1 closure.list)",
    ))
    .step(Step::sh("listing", "find $(tail -n1 closure.list) | sort"))
    .step(Step::sh(
        "new-profile",
        "nix-env -p ./again --set $(tail -n1 closure.list) && nix-env -p ./again -q",
    ))
}
