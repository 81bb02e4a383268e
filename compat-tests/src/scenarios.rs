//! The scenarios. Each is a function returning a [`Scenario`]; to add one,
//! write the function, add it to [`all`], and add its name to the
//! `scenario_tests!` list in `tests/scenarios.rs` (a test checks that the two
//! lists agree). Expressions live in `compat-tests/scenarios/*.nix`; steps run
//! in a copy of that directory.

use crate::scenario::{Scenario, Setup, Step};

pub mod moving;

/// A web server on port 8080 of every address of the run's own network
/// namespace, serving `scenarios/served`.
const HTTP_SERVER: Setup = Setup::Service {
    script: "exec busybox httpd -f -p 8080 -h served",
    listens: "127.0.0.1:8080",
};

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
        network(),
        closure(),
        host_dirs(),
        fetch(),
        hello(),
        client_settings(),
    ];
    all.extend(crate::scenarios_env::all());
    all.extend(moving::all());
    all
}

/// The scenario called `name` (also those run against one daemon only).
pub fn by_name(name: &str) -> Option<Scenario> {
    all()
        .into_iter()
        .chain(crate::scenarios_env::single_daemon())
        .chain(crate::scenarios_stress::all())
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
    // Instantiating again sends every .drv once more, valid already now;
    // their records, hashes and outputs stay what they were.
    .step(Step::sh(
        "instantiate-again",
        "nix-instantiate chain.nix -A c",
    ))
    .step(Step::sh(
        "drv-records",
        "for d in $(nix-store -q --requisites $(nix-instantiate chain.nix -A c) | grep '\\.drv$'); \
         do nix-store -q --hash $d; nix-store -q --outputs $d; done",
    ))
    .step(Step::sh("build-again", "nix-build chain.nix -A c"))
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
        "builders exiting 3, killed by a signal, making no or half an output: exit code, log, nothing registered, what is left",
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
    // Endless recursion in a small stack: the builder dies of SIGSEGV.
    .step(
        Step::sh(
            "signal",
            "nix-build -E 'with import ./lib.nix; mk { name = \"signal\"; script = \"ulimit -s 256; f() { f; }; f\"; }'",
        )
        .exit(1)
        .full_stderr(),
    )
    .step(
        Step::sh(
            "no-output",
            "nix-build -E 'with import ./lib.nix; mk { name = \"no-output\"; script = \"true\"; }'",
        )
        .exit(1)
        .full_stderr(),
    )
    .step(Step::sh("partial", "nix-build partial.nix").exit(1).full_stderr())
    .step(Step::sh(
        "partial-left",
        "p=$(nix-store -q --outputs $(nix-instantiate partial.nix)); cat $p/half; nix-store --check-validity $p || echo invalid",
    ))
    .step(Step::sh("partial-again", "nix-build partial.nix").exit(1))
    .step(
        Step::sh(
            "partial-dead",
            "nix-store --gc --print-dead | grep 'partial$'",
        )
        .full_stderr(),
    )
    .step(Step::sh(
        "partial-delete",
        "nix-store --delete $(nix-store -q --outputs $(nix-instantiate partial.nix))",
    ))
    .step(Step::sh(
        "partial-gone",
        "ls $(nix-store -q --outputs $(nix-instantiate partial.nix))",
    ).exit(2))
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
        "a 64 MiB source imported by evaluation, read by a build, added flat and recursive, exported",
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
    // 64 leaves read ahead and checked while the daemon sends them.
    .step(Step::sh(
        "export",
        "nix-store --export $(nix-store --add big.bin) | sha256sum",
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
    .nix_command()
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
    .step(Step::sh(
        "fixed-recursive-sha1",
        "nix-store --add-fixed --recursive sha1 srcdir",
    ))
    .step(Step::sh(
        "fixed-recursive-sha512",
        "nix-store --add-fixed --recursive sha512 srcdir/bin",
    ))
    // `nix store add` with a NAR hash in other algorithms (Nix 2.26; Nix
    // 2.8 has no `nix store add` and fails the same way against both
    // daemons).
    .step(
        Step::sh(
            "store-add-nar-sha1",
            "nix store add --mode nar --hash-algo sha1 srcdir/bin",
        )
        .any_exit(),
    )
    .step(
        Step::sh(
            "store-add-nar-sha256",
            "nix store add --mode nar --hash-algo sha256 srcdir/bin",
        )
        .any_exit(),
    )
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

fn network() -> Scenario {
    Scenario::new(
        "network",
        "a build cannot reach a server on the host's loopback or on another host address; a fixed-output one can",
    )
    .setup(Setup::Script("busybox ip addr add 192.0.2.1/32 dev lo"))
    .setup(HTTP_SERVER)
    .step(Step::sh(
        "host-reach",
        "busybox wget -q -O - http://127.0.0.1:8080/file.txt http://192.0.2.1:8080/file.txt",
    ))
    .step(Step::sh("sandboxed", "nix-build network.nix -A sandboxed -o sandboxed"))
    // What the build saw; it must have fetched nothing.
    .step(Step::sh(
        "sandboxed-saw",
        "cat sandboxed && ! grep -q fetched sandboxed",
    ))
    .step(
        Step::sh(
            "needs-network",
            "nix-build network.nix -A needsNetwork -o needs-network",
        )
        .exit(1)
        .full_stderr(),
    )
    .step(Step::sh("fixed", "nix-build network.nix -A fixed -o fixed"))
    .step(Step::sh("fixed-saw", "cat fixed && test $(grep -c fetched fixed) = 2"))
}

fn closure() -> Scenario {
    Scenario::new(
        "closure",
        "a build sees only its inputs' closure in /nix/store, not another valid path",
    )
    .step(Step::sh("add-secret", "nix-store --add closure-secret.txt"))
    .step(Step::sh(
        "host-read",
        "cat $(nix-store --add closure-secret.txt)",
    ))
    .step(Step::sh(
        "build",
        "nix-build closure.nix --argstr secret $(nix-store --add closure-secret.txt)",
    ))
    .step(Step::sh(
        "saw",
        "cd result && for f in store stat secret secret-ls; do echo \"== $f\"; cat $f; done && ! grep -q 'not for builds' secret",
    ))
    .step(Step::sh("requisites", "nix-store -q --requisites result"))
}

fn host_dirs() -> Scenario {
    Scenario::new(
        "host_dirs",
        "builds (also fixed-output ones) cannot read files in the host's /root and /home",
    )
    .setup(Setup::HostFile {
        path: "/root/compat-secret",
        contents: "root secret\n",
    })
    .setup(Setup::HostFile {
        path: "/home/compat-user/secret",
        contents: "home secret\n",
    })
    .step(Step::sh(
        "host-read",
        "cat /root/compat-secret /home/compat-user/secret",
    ))
    .step(Step::sh("look", "nix-build home.nix -A look -o look"))
    .step(Step::sh("saw", "cat look && ! grep -q ': read ' look"))
    .step(
        Step::sh("steal", "nix-build home.nix -A steal -o steal")
            .exit(1)
            .full_stderr(),
    )
    .step(
        Step::sh(
            "steal-fixed",
            "nix-build home.nix -A stealFixed -o steal-fixed",
        )
        .exit(1)
        .full_stderr(),
    )
}

fn fetch() -> Scenario {
    Scenario::new(
        "fetch",
        "fixed-output derivations download from a web server on the host's loopback",
    )
    .setup(HTTP_SERVER)
    .step(Step::sh("builtin", "nix-build fetch.nix -A builtin -o builtin"))
    .step(Step::sh("builtin-cat", "cat builtin"))
    .step(Step::sh("builtin-exec", "nix-build fetch.nix -A builtinExec -o exec && test -x exec && cat exec"))
    .step(
        Step::sh("missing", "nix-build fetch.nix -A missing -o missing")
            .exit(1)
            .full_stderr(),
    )
    .step(Step::sh("wget", "nix-build fetch.nix -A wget -o wget"))
    .step(Step::sh("wget-cat", "cat wget"))
    .step(Step::sh("user", "nix-build fetch.nix -A user -o user"))
    .step(Step::sh("user-cat", "cat user"))
    .step(Step::sh(
        "eval-fetchurl",
        "nix-instantiate --eval -E 'builtins.readFile (builtins.fetchurl \"http://127.0.0.1:8080/file.txt\")'",
    ))
}

fn hello() -> Scenario {
    Scenario::new(
        "hello",
        "GNU hello from Debian's source tarball, built with the client's gcc made visible by extra-sandbox-paths",
    )
    .slow()
    // The toolchain of the client's system (the host's, or the trixie
    // root's for Nix 2.26), the same for both daemons.
    .setup(Setup::ClientUsr)
    .extra_conf(concat!(
        "extra-sandbox-paths = /usr=/nix/compat/client-usr /bin=/nix/compat/client-usr/bin ",
        "/lib=/nix/compat/client-usr/lib /lib64=/nix/compat/client-usr/lib64"
    ))
    // scripts/setup.sh downloads and caches the tarball.
    .setup(Setup::Script(concat!(
        "t=/var/cache/pkgchain/hello_2.10.orig.tar.gz; ",
        "[ -f $t ] || { echo \"$t is missing: run scripts/setup.sh\" >&2; exit 1; }; ",
        "echo '31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b  '$t | sha256sum -c --quiet; ",
        "cp $t served/"
    )))
    .setup(HTTP_SERVER)
    .step(Step::sh("build", "nix-build hello.nix -A hello"))
    .step(Step::sh("run", "result/bin/hello | grep -x 'Hello, world!'"))
    .step(Step::sh("version", "result/bin/hello --version | head -n1"))
    .step(Step::sh("files", "cd result && find . | sort"))
    .step(Step::sh("references", "nix-store -q --references result"))
}

fn client_settings() -> Scenario {
    Scenario::new(
        "client_settings",
        "the client's --timeout, --max-silent-time, --keep-failed, --cores, --max-jobs 0 and (trusted) --option sandbox reach its builds",
    )
    .step(
        Step::sh("timeout", "nix-build settings.nix -A sleepy --timeout 2")
            .exit(1)
            .full_stderr(),
    )
    .step(
        Step::sh("silence", "nix-build settings.nix -A silent --max-silent-time 2")
            .exit(1)
            .full_stderr(),
    )
    .step(
        Step::sh("keep-failed", "nix-build settings.nix -A failing --keep-failed")
            .exit(1)
            .full_stderr(),
    )
    // Nix 2.26 keeps the build directory one level down (`…-0/build`).
    .step(Step::sh(
        "kept",
        "find /nix/compat/tmp -path '*/nix-build-failing.drv-0*' -name left-behind -exec cat {} + | grep -x partial",
    ))
    .step(
        Step::sh("not-kept", "nix-build settings.nix -A failing; ls -d /nix/compat/tmp/nix-build-failing.drv-* | wc -l")
            .any_exit()
            .full_stderr(),
    )
    .step(Step::sh("cores", "nix-build settings.nix -A cores --cores 3 && cat result"))
    // No build slot: what must be built fails (nothing is), what is valid
    // already is fine.
    .step(
        Step::sh("no-slot", "nix-build settings.nix -A unstarted -j0 -o unstarted")
            .exit(1)
            .full_stderr(),
    )
    .step(Step::sh("no-slot-valid", "nix-build settings.nix -A cores -j0 && cat result"))
    .step(Step::sh(
        "no-slot-nothing-built",
        "nix-store -q --outputs $(nix-instantiate settings.nix -A unstarted) | xargs nix-store --check-validity 2>&1; echo $?",
    ))
    .step(Step::sh(
        "slot-again",
        "nix-build settings.nix -A unstarted -o unstarted && cat unstarted",
    ))
    // A trusted client (root) may turn the sandbox off for its builds.
    .step(Step::sh(
        "no-sandbox",
        "nix-build settings.nix -A sandboxed --option sandbox false -o unsandboxed && grep -x host unsandboxed",
    ))
}
