//! The scenarios. Each is a function returning a [`Scenario`]; to add one,
//! write the function, add it to [`all`], and add its name to the
//! `scenario_tests!` list in `tests/scenarios.rs` (a test checks that the two
//! lists agree). Expressions live in `compat-tests/scenarios/*.nix`; steps run
//! in a copy of that directory.

use crate::scenario::{Scenario, Setup, Step};

/// Every scenario, in a fixed order.
pub fn all() -> Vec<Scenario> {
    let mut all = vec![
        trivial(),
        chain(),
        multi_output(),
        sources(),
        to_file(),
        fixed_output(),
        failing_build(),
        import_from_derivation(),
        check(),
        big_input(),
        parallel(),
        instantiate(),
        realise(),
        new_cli(),
        store_add(),
        store_query(),
        export_import(),
        no_sandbox(),
    ];
    all.extend(crate::scenarios_env::all());
    all
}

/// The scenario called `name` (also those run against one daemon only).
pub fn by_name(name: &str) -> Option<Scenario> {
    all()
        .into_iter()
        .chain(crate::scenarios_env::single_daemon())
        .find(|s| s.name == name)
}

fn trivial() -> Scenario {
    Scenario::new(
        "trivial",
        "nix-build of one derivation, twice (the second is a no-op)",
    )
    .step(Step::sh("build", "nix-build trivial.nix"))
    .step(Step::sh("rebuild", "nix-build trivial.nix"))
    .step(Step::sh("cat", "cat result"))
}

fn chain() -> Scenario {
    Scenario::new(
        "chain",
        "a dependency chain whose outputs refer to their inputs (non-empty references)",
    )
    .step(Step::sh("build", "nix-build chain.nix -A c"))
    .step(Step::sh("references", "nix-store -q --references result"))
    .step(Step::sh("requisites", "nix-store -q --requisites result"))
    .step(Step::sh("tree", "nix-store -q --tree result"))
    .step(Step::sh("run", "sh $(tail -n1 result)"))
}

fn multi_output() -> Scenario {
    Scenario::new(
        "multi_output",
        "outputs out and dev, dev referring to out: links, references, --outputs",
    )
    .step(Step::sh("build-out", "nix-build multi.nix -o out-only"))
    .step(Step::sh(
        "build-dev",
        "nix-build multi.nix -A dev -o dev-only",
    ))
    .step(Step::sh("build-all", "nix-build multi.nix -A all"))
    .step(Step::sh("dev-refs", "nix-store -q --references result-dev"))
    .step(Step::sh("out-refs", "nix-store -q --references result"))
    .step(Step::sh(
        "outputs",
        "nix-store -q --outputs $(nix-instantiate multi.nix)",
    ))
    .step(Step::sh("deriver", "nix-store -q --deriver result-dev"))
}

fn sources() -> Scenario {
    Scenario::new(
        "sources",
        "./dir, builtins.path and a filtered builtins.path with executables and symlinks",
    )
    .step(Step::sh(
        "eval-readonly",
        "nix-instantiate --eval -E '\"${(import ./sources.nix).viaPath}\"'",
    ))
    .step(Step::sh("build", "nix-build sources.nix -A copy"))
    .step(Step::sh(
        "listing",
        "find result/ | sort; cat result/exec result/filtered result/link-target result/via-path",
    ))
    .step(Step::sh("add-same", "nix-store --add srcdir"))
    .step(Step::sh(
        "filtered",
        "nix-instantiate --read-write-mode --eval -E '\"${(import ./sources.nix).filtered}\"'",
    ))
    .step(Step::sh("dump", "nix-store --dump $(nix-store --add srcdir)").stdout_hash())
}

fn to_file() -> Scenario {
    Scenario::new(
        "to_file",
        "builtins.toFile whose text refers to another toFile and to busybox",
    )
    .step(Step::sh("build", "nix-build tofile.nix -A run"))
    .step(Step::sh("cat", "cat result"))
    .step(Step::sh(
        "references",
        "nix-store -q --references $(nix-instantiate --read-write-mode --eval -E '\"${(import ./tofile.nix).hello}\"' | tr -d '\"')",
    ))
    .step(Step::sh(
        "drv-references",
        "nix-store -q --references $(nix-instantiate tofile.nix -A run)",
    ))
}

fn fixed_output() -> Scenario {
    Scenario::new(
        "fixed_output",
        "fixed-output derivations: flat, recursive, same hash twice, wrong hash",
    )
    .step(Step::sh("flat", "nix-build fod.nix -A flat -o flat"))
    .step(Step::sh("flat-again", "nix-build fod.nix -A flatAgain -o flat-again"))
    .step(Step::sh("recursive", "nix-build fod.nix -A recursive -o rec"))
    .step(Step::sh("user", "nix-build fod.nix -A user -o user"))
    .step(
        Step::sh("mismatch", "nix-build fod.nix -A mismatch -o mismatch")
            .exit(1)
            .full_stderr(),
    )
    .step(
        Step::sh(
            "mismatch-valid",
            "nix-store --check-validity $(nix-store -q --outputs $(nix-instantiate fod.nix -A mismatch))",
        )
        .exit(1),
    )
}

fn failing_build() -> Scenario {
    Scenario::new(
        "failing_build",
        "a builder exiting 3: exit code, the log, and nothing registered",
    )
    .step(
        Step::sh("build", "nix-build fail.nix")
            .exit(1)
            .full_stderr(),
    )
    .step(
        Step::sh(
            "valid",
            "nix-store --check-validity $(nix-store -q --outputs $(nix-instantiate fail.nix))",
        )
        .exit(1),
    )
    .step(Step::sh("again", "nix-build fail.nix").exit(1))
}

fn import_from_derivation() -> Scenario {
    Scenario::new(
        "import_from_derivation",
        "evaluation that imports a built derivation's output",
    )
    .step(Step::sh("eval-readonly", "nix-instantiate --eval ifd.nix -A value").exit(1))
    .step(Step::sh(
        "eval",
        "nix-instantiate --read-write-mode --eval ifd.nix -A value",
    ))
    .step(Step::sh("build", "nix-build ifd.nix -A use"))
    .step(Step::sh("cat", "cat result"))
}

fn check() -> Scenario {
    Scenario::new(
        "check",
        "nix-build --check on a deterministic build and a non-deterministic one",
    )
    .unstable("check-nondet")
    .step(Step::sh("det", "nix-build check.nix -A det -o det"))
    .step(Step::sh(
        "det-check",
        "nix-build --check check.nix -A det -o det",
    ))
    .step(Step::sh(
        "nondet",
        "nix-build check.nix -A nondet -o nondet",
    ))
    .step(
        Step::sh(
            "nondet-check",
            "nix-build --check check.nix -A nondet -o nondet",
        )
        .exit(1)
        .full_stderr(),
    )
}

fn big_input() -> Scenario {
    Scenario::new(
        "big_input",
        "a 64 MiB source imported by evaluation, read by a build, added flat and recursive",
    )
    .slow()
    .setup(Setup::PseudoRandomFile {
        name: "big.bin",
        len: 64 << 20,
    })
    .step(Step::sh("build", "nix-build big.nix"))
    .step(Step::sh("cat", "cat result"))
    .step(Step::sh("add", "nix-store --add big.bin"))
    .step(Step::sh(
        "add-fixed",
        "nix-store --add-fixed sha256 big.bin",
    ))
    .step(Step::sh(
        "hash",
        "nix-store -q --hash $(nix-store --add big.bin)",
    ))
}

fn parallel() -> Scenario {
    let scripts = (1..=12)
        .map(|i| format!("nix-build parallel.nix -A p{i} -o result-{i}"))
        .collect();
    Scenario::new(
        "parallel",
        "twelve concurrent nix-build processes sharing one slow dependency",
    )
    .slow()
    .step(Step::parallel("build", scripts))
    .step(Step::sh("cat", "cat result-*"))
}

fn instantiate() -> Scenario {
    Scenario::new(
        "instantiate",
        "nix-instantiate: drv paths, --eval, --add-root",
    )
    .step(Step::sh("all", "nix-instantiate chain.nix"))
    .step(Step::sh("one", "nix-instantiate chain.nix -A c"))
    .step(Step::sh(
        "eval-json",
        "nix-instantiate --eval --strict --json -E 'builtins.attrNames (import ./chain.nix)'",
    ))
    .step(Step::sh(
        "eval-out",
        "nix-instantiate --eval chain.nix -A c.outPath",
    ))
    .step(Step::sh(
        "add-root",
        "nix-instantiate --add-root ./drv-root --indirect multi.nix",
    ))
    .step(Step::sh("drv-text", "cat drv-root"))
    .step(Step::sh("bad", "nix-instantiate -E 'throw \"nope\"'").exit(1))
}

fn realise() -> Scenario {
    Scenario::new(
        "realise",
        "nix-store --realise of derivations and of outputs",
    )
    .step(Step::sh(
        "drv",
        "nix-store -r $(nix-instantiate chain.nix -A c)",
    ))
    .step(Step::sh(
        "out",
        "nix-store -r $(nix-store -q --outputs $(nix-instantiate chain.nix -A c))",
    ))
    .step(Step::sh(
        "multi",
        "nix-store -r --add-root ./multi-root --indirect $(nix-instantiate multi.nix)",
    ))
    .step(
        Step::sh(
            "missing",
            "nix-store -r /nix/store/00000000000000000000000000000000-missing",
        )
        .exit(1),
    )
    .step(Step::sh("fail", "nix-store -r $(nix-instantiate fail.nix)").exit(1))
}

fn new_cli() -> Scenario {
    Scenario::new(
        "new_cli",
        "nix build and friends (experimental nix-command)",
    )
    .nix_command()
    .step(Step::sh("build", "nix build -f chain.nix c"))
    .step(Step::sh("build-multi", "nix build -f multi.nix -o multi"))
    .step(Step::sh("fail", "nix build -f fail.nix -o fail").exit(1))
    .step(Step::sh("path-info", "nix path-info -r ./result"))
    .step(Step::sh("path-info-sizes", "nix path-info -sS ./result"))
    .step(Step::sh(
        "show-derivation",
        "nix show-derivation -f chain.nix c",
    ))
    .step(Step::sh("ping", "nix store ping").full_stderr())
    .step(Step::sh(
        "build-json",
        "nix build -f chain.nix b --json --no-link",
    ))
    .step(Step::sh("eval", "nix eval -f chain.nix c.outPath"))
}

fn store_add() -> Scenario {
    Scenario::new(
        "store_add",
        "nix-store --add and --add-fixed, flat and recursive",
    )
    .step(Step::sh("add-file", "nix-store --add srcdir/hello.txt"))
    .step(Step::sh("add-dir", "nix-store --add srcdir"))
    .step(Step::sh("add-exec", "nix-store --add srcdir/bin/run.sh"))
    .step(Step::sh(
        "fixed-sha256",
        "nix-store --add-fixed sha256 srcdir/hello.txt",
    ))
    .step(Step::sh(
        "fixed-sha1",
        "nix-store --add-fixed sha1 srcdir/hello.txt",
    ))
    .step(Step::sh(
        "fixed-recursive",
        "nix-store --add-fixed --recursive sha256 srcdir",
    ))
    .step(Step::sh("again", "nix-store --add srcdir/hello.txt"))
    .step(Step::sh(
        "hash",
        "nix-store -q --hash $(nix-store --add srcdir)",
    ))
    .step(Step::sh(
        "size",
        "nix-store -q --size $(nix-store --add srcdir)",
    ))
}

fn store_query() -> Scenario {
    Scenario::new(
        "store_query",
        "nix-store -q --references/--referrers/--requisites/--deriver/--hash/--size, --dump",
    )
    .step(Step::sh("build", "nix-build chain.nix -A c"))
    .step(Step::sh("references", "nix-store -q --references result"))
    .step(Step::sh(
        "referrers",
        "nix-store -q --referrers $(nix-build chain.nix -A a --no-out-link)",
    ))
    .step(Step::sh("requisites", "nix-store -q --requisites result"))
    .step(Step::sh(
        "requisites-drv",
        "nix-store -q --requisites $(nix-instantiate chain.nix -A c)",
    ))
    .step(Step::sh("deriver", "nix-store -q --deriver result"))
    .step(Step::sh("hash", "nix-store -q --hash result"))
    .step(Step::sh("size", "nix-store -q --size result"))
    .step(Step::sh("graph", "nix-store -q --graph result"))
    .step(Step::sh("dump", "nix-store --dump result").stdout_hash())
    .step(
        Step::sh(
            "dump-dir",
            "nix-store --dump $(nix-build chain.nix -A b --no-out-link)",
        )
        .stdout_hash(),
    )
    .step(Step::sh(
        "verify-path",
        "nix-store --verify-path $(readlink result)",
    ))
    .step(
        Step::sh(
            "not-valid",
            "nix-store -q --hash /nix/store/00000000000000000000000000000000-missing",
        )
        .exit(1),
    )
}

fn export_import() -> Scenario {
    Scenario::new(
        "export_import",
        "--export a closure, --delete it, --import it back (now not ultimate)",
    )
    .step(Step::sh(
        "build",
        "nix-build chain.nix -A c -o c && nix-store -q --requisites c > closure.list && rm c",
    ))
    .step(Step::sh(
        "export",
        "nix-store --export $(cat closure.list) > closure.export && sha256sum < closure.export",
    ))
    .step(Step::sh("delete", "nix-store --delete $(cat closure.list)"))
    .step(Step::sh("gone", "nix-store --check-validity $(cat closure.list)").exit(1))
    .step(Step::sh("import", "nix-store --import < closure.export"))
    .step(Step::sh(
        "back",
        "nix-store --check-validity $(cat closure.list)",
    ))
    .step(Step::sh("re-export", "nix-store --export $(cat closure.list)").stdout_hash())
}

fn no_sandbox() -> Scenario {
    Scenario::new(
        "no_sandbox",
        "builds with sandbox = false: the build directory under TMPDIR shows in the output",
    )
    .no_sandbox()
    .step(Step::sh("trivial", "nix-build trivial.nix"))
    .step(Step::sh("cat", "cat result"))
    .step(Step::sh("chain", "nix-build chain.nix -A c -o chain"))
    .step(Step::sh("fail", "nix-build fail.nix").exit(1).full_stderr())
}
