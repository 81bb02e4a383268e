//! Scenarios for user environments, garbage collection and unprivileged
//! users: `nix-env` (install, erase, upgrade, query, generations,
//! rollback), `nix-collect-garbage`, `nix-store --gc` and `--delete` with
//! every kind of root Nix knows, `keep-outputs`/`keep-derivations`, what an
//! untrusted user may and may not do, and GC while ten clients build and
//! add. The compared ones are listed in [`all`], which `scenarios::all`
//! appends; [`single_daemon`] lists the GC-under-load scenario, which
//! `tests/gc_under_load.rs` runs against ours alone.
//!
//! Steps that print the order in which the collector deletes paths sort
//! those lines: the order follows the store directory's listing, which is
//! not part of the behaviour compared.

use crate::scenario::{Scenario, Setup, Step};
use crate::users::as_user;

/// The unprivileged user most scenarios use.
const ALICE: (&str, u32) = ("alice", 30001);
/// A second one, for `allowed-users`.
const BOB: (&str, u32) = ("bob", 30002);

/// This module's scenarios, in a fixed order.
pub fn all() -> Vec<Scenario> {
    vec![
        env_default_profile(),
        env_named_profiles(),
        gc_roots(),
        gc_keep(),
        env_user(),
        user_refused(),
        allowed_users(),
    ]
}

/// Scenarios run against one daemon only (see `tests/gc_under_load.rs`):
/// their outcome is not the same from run to run, so there is nothing to
/// compare; the test asserts what must hold.
pub fn single_daemon() -> Vec<Scenario> {
    vec![gc_under_load()]
}

/// A step run as `user` in its home directory.
fn user_sh(name: &'static str, user: (&str, u32), script: &str) -> Step {
    Step::sh(name, &as_user(user.0, user.1, script))
}

/// `nix-collect-garbage` / `nix-store --gc` with its count on stdout and
/// the sorted `removing …` and `deleting '…'` lines of its log after it
/// (the name of an indirect root to a `nix-build --no-out-link` temporary
/// link hashes a process id, so it is masked).
fn gc_cmd(cmd: &str) -> String {
    format!(
        "{cmd} 2>gc.log; rc=$?; \
         grep -e '^removing' gc.log | sed \"s|auto/[0-9a-z]*' to '/nix/compat/tmp/|auto/<hash>' to '/nix/compat/tmp/|\" | sort; \
         grep \"^deleting '\" gc.log | sort; exit $rc"
    )
}

/// The indirect roots in `gcroots/auto` with their targets, but for the
/// temporary links of `nix-build --no-out-link` (named after a process id).
const AUTO_ROOTS: &str = "for l in /nix/var/nix/gcroots/auto/*; do echo \"${l##*/} $(readlink $l)\"; done | grep -v ' /nix/compat/tmp/'";

/// The roots of a path as `nix-store -q --roots` shows them, without the
/// temporary and run-time ones (they name process ids).
fn roots_of(path: &str) -> String {
    format!("nix-store -q --roots {path} | grep -v -e '^/proc/' -e '^{{'")
}

fn env_default_profile() -> Scenario {
    Scenario::new(
        "env_default_profile",
        "nix-env -i/-u/-e/-q, generations, rollback, switch, delete, nix-collect-garbage -d on root's default profile",
    )
    .step(Step::sh("install", "nix-env -f env.nix -iA hello1"))
    .step(Step::sh("install-by-name", "nix-env -f env.nix -i tool"))
    .step(Step::sh("query", "nix-env -q"))
    .step(Step::sh("query-out", "nix-env -q --out-path"))
    .step(Step::sh(
        "profile-link",
        "readlink ~/.nix-profile; readlink /nix/var/nix/profiles/default; ls /nix/var/nix/profiles",
    ))
    .step(Step::sh("run", "sh ~/.nix-profile/bin/hello"))
    .step(Step::sh("available", "nix-env -f env.nix -qa"))
    .step(Step::sh("upgrade", "nix-env -f env.nix -u").full_stderr())
    .step(Step::sh("run-upgraded", "sh ~/.nix-profile/bin/hello; nix-env -q"))
    .step(Step::sh("erase", "nix-env -e tool").full_stderr())
    .step(Step::sh("generations", "nix-env --list-generations").full_stderr())
    .step(Step::sh("rollback", "nix-env --rollback; nix-env -q").full_stderr())
    .step(Step::sh("switch", "nix-env --switch-generation 1; nix-env -q").full_stderr())
    .step(Step::sh("switch-short", "nix-env -G 4; nix-env -q").full_stderr())
    .step(Step::sh("switch-missing", "nix-env -G 9").exit(1).full_stderr())
    .step(Step::sh("delete-some", "nix-env --delete-generations 1 2").full_stderr())
    .step(
        Step::sh("delete-current", "nix-env --delete-generations 4")
            .exit(1)
            .full_stderr(),
    )
    .step(Step::sh("generations-left", "nix-env --list-generations"))
    .step(Step::sh(
        "roots",
        &roots_of("$(readlink -f ~/.nix-profile)"),
    ))
    .step(Step::sh(
        "dirs",
        "cd /nix/var/nix; stat -c '%n %a %u %g %F' profiles profiles/per-user profiles/per-user/root gcroots gcroots/per-user gcroots/per-user/root; readlink gcroots/profiles",
    ))
    .step(Step::sh("collect-garbage", &gc_cmd("nix-collect-garbage -d")))
    .step(Step::sh("after-collect", "nix-env --list-generations; nix-env -q; sh ~/.nix-profile/bin/hello"))
    .step(Step::sh("rollback-none", "nix-env --rollback").exit(1).full_stderr())
    .step(Step::sh("erase-all", "nix-env -e '.*'; nix-env -q"))
    .step(Step::sh("collect-again", &gc_cmd("nix-collect-garbage --delete-older-than 1d")))
}

fn env_named_profiles() -> Scenario {
    Scenario::new(
        "env_named_profiles",
        "nix-env -p with a profile under profiles/ and one outside /nix/var (indirect roots), their generations and GC",
    )
    .step(Step::sh(
        "install-dev",
        "nix-env -p /nix/var/nix/profiles/per-user/root/dev -f env.nix -iA tool",
    ))
    .step(Step::sh("install-mine", "nix-env -p ./mine -f env.nix -iA hello1"))
    .step(Step::sh("replace-mine", "nix-env -p ./mine -f env.nix -iA hello2").full_stderr())
    .step(Step::sh("add-mine", "nix-env -p ./mine -f env.nix -iA tool"))
    .step(Step::sh(
        "install-path",
        "nix-env -p ./mine -i $(nix-build env.nix -A hello1 --no-out-link)",
    ))
    .step(Step::sh("query", "nix-env -p ./mine -q; nix-env -p /nix/var/nix/profiles/per-user/root/dev -q"))
    .step(Step::sh("links", "ls; readlink mine mine-*-link"))
    .step(Step::sh("auto-roots", AUTO_ROOTS))
    .step(Step::sh("generations", "nix-env -p ./mine --list-generations"))
    .step(Step::sh("rollback", "nix-env -p ./mine --rollback; nix-env -p ./mine -q").full_stderr())
    .step(Step::sh(
        "delete-keep-last",
        "nix-env -p ./mine --delete-generations +2; nix-env -p ./mine --list-generations",
    ).full_stderr())
    .step(Step::sh("print-dead", "nix-store --gc --print-dead"))
    .step(Step::sh(
        "collect-garbage",
        &gc_cmd("nix-collect-garbage -d"),
    ))
    .step(Step::sh(
        "mine-untouched",
        "nix-env -p ./mine --list-generations; nix-env -p /nix/var/nix/profiles/per-user/root/dev --list-generations",
    ))
    .step(Step::sh(
        "delete-old",
        "nix-env -p ./mine --delete-generations old; ls",
    ).full_stderr())
    .step(Step::sh("drop-profile", "rm mine mine-*-link"))
    .step(Step::sh("gc", &gc_cmd("nix-store --gc")))
    .step(Step::sh("auto-roots-after", &format!("{AUTO_ROOTS}; true")))
}

/// Adds `gc.nix`'s two text files (`outer` refers to `inner`).
const TEXTS: &str =
    "nix-instantiate --read-write-mode --eval --strict -E 'with import ./gc.nix; [ inner outer ]'";

fn gc_roots() -> Scenario {
    Scenario::new(
        "gc_roots",
        "nix-store --gc, --print-live/--print-dead/--print-roots, --max-freed, --delete, -q --roots with direct, nested, indirect, file and stale roots",
    )
    .step(Step::sh("build", "nix-build gc.nix -A c -o c-link"))
    .step(Step::sh("build-lone", "nix-build gc.nix -A lone -o lone-link"))
    .step(Step::sh("texts", TEXTS))
    .step(Step::sh("shared-blocks", "mkdir -p x y && echo same > x/f && echo same > y/f && nix-store --add x y"))
    .step(Step::sh("print-live", "nix-store --gc --print-live"))
    .step(Step::sh("print-dead", "nix-store --gc --print-dead"))
    .step(Step::sh("roots-of-a", &roots_of("$(nix-build gc.nix -A a --no-out-link)")))
    .step(
        Step::sh(
            "delete-live",
            "nix-store --delete $(nix-build gc.nix -A a --no-out-link)",
        )
        .exit(1),
    )
    .step(
        Step::sh(
            "delete-referenced",
            "nix-store --delete $(nix-instantiate --read-write-mode --eval -E '(import ./gc.nix).inner' | tr -d '\"')",
        )
        .exit(1),
    )
    .step(Step::sh(
        "delete-pair",
        &gc_cmd("nix-store --delete $(nix-instantiate --read-write-mode --eval -E 'with import ./gc.nix; \"${inner} ${outer}\"' | tr -d '\"')"),
    ))
    .step(Step::sh(
        "delete-one-of-shared",
        &gc_cmd("nix-store --delete $(nix-store --add x)"),
    ))
    .step(Step::sh(
        "shared-left",
        "nix-store --verify-path $(nix-store --add y) && cat $(nix-store --add y)/f",
    ))
    .step(Step::sh(
        "more-roots",
        "cd /nix/var/nix/gcroots \
         && ln -s $(readlink /nix/compat/work/lone-link) direct \
         && mkdir -p nested/deeper && ln -s $(readlink /nix/compat/work/c-link) nested/deeper/c \
         && ln -s /nix/compat/work/ind-link indirect && ln -s $(nix-build /nix/compat/work/gc.nix -A b --no-out-link) /nix/compat/work/ind-link \
         && touch $(basename $(nix-build /nix/compat/work/gc.nix -A a --no-out-link)) \
         && ln -s /nix/store/00000000000000000000000000000000-gone invalid \
         && ln -s /nix/compat/work/nowhere dangling",
    ))
    .step(Step::sh("print-roots", "nix-store --gc --print-roots | grep -v -e '^/proc/' -e '^{'"))
    .step(Step::sh("drop-links", "rm c-link lone-link"))
    .step(Step::sh("print-dead-2", "nix-store --gc --print-dead"))
    .step(Step::sh("roots-of-c", &roots_of("/nix/var/nix/gcroots/nested/deeper/c")))
    .step(Step::sh(
        "unroot",
        "cd /nix/var/nix/gcroots && rm -r direct nested indirect invalid dangling $(ls | grep -- -gc-a)",
    ))
    .step(Step::sh("print-dead-3", "nix-store --gc --print-dead"))
    .step(Step::sh("gc", &gc_cmd("nix-store --gc")))
    .step(Step::sh("gc-again", &gc_cmd("nix-store --gc")))
    // Only `outer` -> `inner` is garbage now, so which path goes first
    // does not depend on the store directory's order: `outer` (the
    // referrer) is deleted, and that exceeds one byte.
    .step(Step::sh("texts-again", TEXTS))
    .step(Step::sh("max-freed", &gc_cmd("nix-store --gc --max-freed 1")))
    .step(Step::sh("print-dead-4", "nix-store --gc --print-dead"))
    .step(Step::sh("max-freed-0", &gc_cmd("nix-store --gc --max-freed 0")))
    .step(Step::sh("gc-rest", &gc_cmd("nix-store --gc")))
    .step(
        Step::sh(
            "delete-invalid",
            "nix-store --delete /nix/store/00000000000000000000000000000000-missing",
        )
        .any_exit(),
    )
    .step(Step::sh("verify", "nix-store --verify --check-contents"))
}

fn gc_keep() -> Scenario {
    let mut s = Scenario::new(
        "gc_keep",
        "keep-outputs = true and keep-derivations = false in nix.conf, and both overridden per command",
    )
    .step(Step::sh(
        "root-drv",
        "nix-instantiate --add-root ./drv-root --indirect gc.nix -A c",
    ))
    .step(Step::sh("build", "nix-build gc.nix -A c --no-out-link"))
    .step(Step::sh("build-lone", "nix-build gc.nix -A lone -o lone"))
    .step(Step::sh("print-live", "nix-store --gc --print-live"))
    .step(Step::sh("print-dead", "nix-store --gc --print-dead"))
    .step(Step::sh(
        "dead-no-keep-outputs",
        "nix-store --gc --print-dead --option keep-outputs false",
    ))
    .step(Step::sh(
        "dead-keep-derivations",
        "nix-store --gc --print-dead --option keep-derivations true",
    ))
    .step(Step::sh("gc", &gc_cmd("nix-store --gc")))
    .step(Step::sh(
        "outputs-kept",
        "nix-store --check-validity $(nix-store -q --outputs $(readlink drv-root)) && cat $(nix-build gc.nix -A c --no-out-link)",
    ))
    .step(Step::sh("unroot-drv", "rm drv-root"))
    .step(Step::sh("gc-2", &gc_cmd("nix-store --gc")));
    s.extra_conf = vec!["keep-outputs = true", "keep-derivations = false"];
    s
}

fn env_user() -> Scenario {
    let alice = ALICE;
    Scenario::new(
        "env_user",
        "an unprivileged user builds, installs into its own profile, rolls back and collects garbage",
    )
    .setup(Setup::User {
        name: alice.0,
        uid: alice.1,
    })
    .step(user_sh("whoami", alice, "id -un; pwd"))
    .step(user_sh("build", alice, "nix-build /nix/compat/work/trivial.nix && cat result"))
    .step(user_sh("install", alice, "nix-env -f /nix/compat/work/env.nix -iA hello1"))
    .step(user_sh("install-tool", alice, "nix-env -f /nix/compat/work/env.nix -iA tool"))
    .step(user_sh(
        "profile",
        alice,
        "readlink ~/.nix-profile; ls /nix/var/nix/profiles/per-user/alice; sh ~/.nix-profile/bin/hello",
    ))
    // Nix 2.8's daemon makes the per-user directories when a user
    // connects; 2.26's does not (its clients keep profiles in the user's
    // home), so the exit code is compared but not expected.
    .step(
        Step::sh(
            "dirs",
            "cd /nix/var/nix; stat -c '%n %a %u %g %F' profiles/per-user profiles/per-user/alice profiles/per-user/root gcroots/per-user gcroots/per-user/alice",
        )
        .any_exit(),
    )
    .step(user_sh("upgrade", alice, "nix-env -f /nix/compat/work/env.nix -u; nix-env -q"))
    .step(user_sh("generations", alice, "nix-env --list-generations").full_stderr())
    .step(user_sh("rollback", alice, "nix-env --rollback; nix-env -q; sh ~/.nix-profile/bin/hello").full_stderr())
    .step(user_sh("roots", alice, &roots_of("result")))
    .step(user_sh("roots-profile", alice, &roots_of("$(readlink -f ~/.nix-profile)")))
    .step(user_sh(
        "named-profile",
        alice,
        "nix-env -p ~/mine -f /nix/compat/work/env.nix -iA tool && nix-env -p ~/mine -q && nix-env -p ~/mine --list-generations && readlink ~/mine",
    ))
    .step(user_sh("print-roots", alice, "nix-store --gc --print-roots | grep -v -e '^/proc/' -e '^{'"))
    .step(user_sh("print-dead", alice, "nix-store --gc --print-dead"))
    .step(user_sh("collect-garbage", alice, &gc_cmd("nix-collect-garbage -d")))
    .step(user_sh(
        "after",
        alice,
        "nix-env --list-generations; nix-env -q; cat result; nix-env -p ~/mine --list-generations; sh ~/mine/bin/tool",
    ))
    .step(user_sh("gc", alice, &gc_cmd("nix-store --gc")))
    .step(user_sh("drop-result", alice, "rm result"))
    .step(user_sh("gc-2", alice, &gc_cmd("nix-store --gc")))
}

fn user_refused() -> Scenario {
    let alice = ALICE;
    Scenario::new(
        "user_refused",
        "an untrusted user is refused unsigned imports, privileged settings, repairs, signatures and other users' profiles",
    )
    .nix_command()
    .setup(Setup::User {
        name: alice.0,
        uid: alice.1,
    })
    .step(Step::sh(
        "root-profile",
        "nix-env -f env.nix -iA hello1 && nix-env -f env.nix -iA tool",
    ))
    .step(Step::sh(
        "export",
        "nix-build chain.nix -A c -o c && nix-store -q --requisites c > closure.list && nix-store --export $(cat closure.list) > closure.export && rm c && nix-store --gc > /dev/null",
    ))
    .step(Step::sh("gone", "nix-store --check-validity $(cat closure.list)").exit(1))
    .step(
        user_sh(
            "import-unsigned",
            alice,
            "nix-store --import < /nix/compat/work/closure.export",
        )
        .exit(1),
    )
    .step(Step::sh("still-gone", "nix-store --check-validity $(cat closure.list)").exit(1))
    .step(
        user_sh(
            "sandbox-off",
            alice,
            "nix-build --option sandbox false /nix/compat/work/trivial.nix -o t && cat t",
        )
        .full_stderr(),
    )
    .step(
        user_sh(
            "build-users-group",
            alice,
            "nix-build --option build-users-group '' --option keep-outputs true /nix/compat/work/chain.nix -A a -o a && cat a/bin/a",
        )
        .full_stderr(),
    )
    .step(
        user_sh(
            "repair-build",
            alice,
            "nix-build --repair /nix/compat/work/trivial.nix -o t",
        )
        .exit(1),
    )
    .step(
        user_sh(
            "repair-verify",
            alice,
            "nix-store --verify --repair",
        )
        .exit(1),
    )
    // Refused by nix-daemon before 2.17, allowed since: compared with the
    // reference of the client's generation, not expected either way (a
    // fixed key, so that the signatures can be compared).
    .step(
        user_sh(
            "sign",
            alice,
            "nix store sign -k /nix/compat/work/keys/compat-test-key-1.sec $(readlink t)",
        )
        .any_exit(),
    )
    .step(
        user_sh(
            "delete-live",
            alice,
            "nix-store --delete $(readlink -f /nix/var/nix/profiles/default)",
        )
        .exit(1),
    )
    .step(
        user_sh(
            "ignore-liveness",
            alice,
            "nix-store --delete --ignore-liveness $(readlink t)",
        )
        .exit(1),
    )
    .step(
        user_sh(
            "other-profile",
            alice,
            "nix-env -p /nix/var/nix/profiles/default -f /nix/compat/work/env.nix -iA hello2",
        )
        .exit(1),
    )
    .step(user_sh("collect-garbage", alice, &gc_cmd("nix-collect-garbage -d")))
    .step(Step::sh("root-generations", "nix-env --list-generations; nix-env -q"))
    .step(user_sh("roots-censored", alice, "nix-store --gc --print-roots | grep -c censored || true"))
    .step(Step::sh("import-as-root", "nix-store --import < closure.export"))
}

/// `cmd` with its error cut after "cannot open connection to remote store
/// 'daemon'", printed on stdout: what follows names the system call that
/// first saw the daemon close the socket (writing the greeting or reading
/// the reply), which depends on timing with the real daemon too.
fn refused_connection(cmd: &str) -> String {
    format!(
        "{cmd} 2>err; rc=$?; sed -n \"s/.*\\(cannot open connection to remote store 'daemon'\\).*/\\1/p\" err; exit $rc"
    )
}

fn allowed_users() -> Scenario {
    let (alice, bob) = (ALICE, BOB);
    let mut s = Scenario::new(
        "allowed_users",
        "allowed-users admits alice and shuts bob out; trusted-users lets alice import unsigned paths",
    )
    .setup(Setup::User {
        name: alice.0,
        uid: alice.1,
    })
    .setup(Setup::User {
        name: bob.0,
        uid: bob.1,
    })
    .step(Step::sh(
        "export",
        "nix-build trivial.nix -o t && nix-store --export $(readlink t) > t.export && rm t && nix-store --gc > /dev/null",
    ))
    .step(user_sh("alice", alice, "nix-store --import < /nix/compat/work/t.export"))
    .step(user_sh("alice-build", alice, "nix-build /nix/compat/work/trivial.nix && cat result"))
    .step(user_sh("bob", bob, &refused_connection("nix-store -q --hash $(readlink /nix/compat/users/alice/result)")).exit(1))
    .step(user_sh("bob-build", bob, &refused_connection("nix-build /nix/compat/work/trivial.nix")).exit(1))
    .step(Step::sh("bob-dirs", "ls /nix/var/nix/profiles/per-user /nix/var/nix/gcroots/per-user"));
    s.extra_conf = vec!["allowed-users = root alice", "trusted-users = root alice"];
    s
}

/// Ten clients each build three derivations (one shared dependency, one
/// source directory each, added while evaluating), add a file, and drop
/// the previous result; meanwhile `nix-store --gc` runs in a loop until
/// they are done. Then the store must verify with contents and every
/// remaining result's closure must be valid. The collector's script
/// prints how many collections ran and how many paths they deleted.
pub fn gc_under_load() -> Scenario {
    let mut scripts: Vec<String> = (1..=10)
        .map(|i| {
            format!(
                "trap 'touch done-{i}' EXIT; for j in 1 2 3; do \
                   mkdir -p add-{i}-$j && echo c{i}-$j > add-{i}-$j/f && echo same > add-{i}-$j/shared \
                   && nix-build gcload.nix --argstr id c{i}-$j --arg src ./add-{i}-$j -o r-{i}-$j > /dev/null 2>>load-{i}.log \
                   && nix-store --add add-{i}-$j/f > /dev/null 2>>load-{i}.log \
                   || {{ cat load-{i}.log >&2; exit 1; }}; \
                   if [ $j -gt 1 ]; then rm r-{i}-$((j-1)); fi; \
                 done"
            )
        })
        .collect();
    scripts.push(
        "n=0; while [ $(ls done-* 2>/dev/null | wc -l) -lt 10 ]; do \
           nix-store --gc > /dev/null 2>>gc-load.log || exit 1; n=$((n+1)); \
         done; echo \"collections=$n deleted=$(grep -c \"^deleting '\" gc-load.log)\""
            .to_owned(),
    );
    Scenario::new(
        "gc_under_load",
        "nix-store --gc in a loop while ten clients build and add: nothing live lost, every block present",
    )
    .slow()
    .step(Step::parallel("load", scripts))
    .step(Step::sh("verify", "nix-store --verify --check-contents"))
    .step(Step::sh(
        "closures-valid",
        "for r in r-*-3; do nix-store -q --requisites $r; done | sort -u | xargs nix-store --check-validity && cat r-*-3/id r-*-3/copy r-*-3/src/shared | sort | uniq -c",
    ))
    .step(Step::sh("final-gc", "nix-store --gc").ignore_stdout())
    .step(Step::sh("verify-again", "nix-store --verify --check-contents"))
}
