//! `builtin:buildenv` against the real thing: user environments built by
//! Nix 2.8's `nix-env` in a private store, then rebuilt by ours from the
//! same `.drv`, must be the same tree (links, targets, directories,
//! `manifest.nix`), the same NAR and carry the same warnings; failing ones
//! must fail with Nix's message.

#![allow(clippy::unwrap_used)]

mod builtins_support;

use std::fs;

use builtins_support::{Entry, NixSandbox, built_drvs, out_path, stderr, tree};
use daemon::builtins::BuiltinError;
use nix_formats::hash::{Hash, HashAlgo};

/// Packages made by trivial derivations whose builder is busybox.
const PACKAGES: &str = r#"
let
  mk = name: script: attrs: derivation ({
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/busybox";
    args = [ "sh" "-c" ("set -e; bb=/bin/busybox; " + script) ];
  } // attrs);
  withMeta = drv: meta: drv // { inherit meta; };
in rec {
  lib = mk "lib-1.0" ''
    $bb mkdir -p $out/lib $out/share/stuff/deep $out/share/man/man3
    echo lib > $out/lib/libx.so
    echo deep > $out/share/stuff/deep/file
    echo m > $out/share/man/man3/x.3
  '' {};

  # Overlapping directories, an absolute link to a directory of another
  # store path, a relative link, a dangling link, and every name buildenv
  # ignores.
  a = mk "a-1.0" ''
    $bb mkdir -p $out/bin $out/share/man/man1 $out/share/info $out/lib/perl5 $out/nix-support
    echo a > $out/bin/a
    $bb ln -s a $out/bin/a-link
    $bb ln -s /nonexistent/target $out/bin/dangling
    echo man > $out/share/man/man1/a.1
    echo dir > $out/share/info/dir
    echo info > $out/share/info/a.info
    echo pod > $out/lib/perl5/perllocal.pod
    echo log > $out/log
    echo hidden > $out/.hidden
    echo x > $out/manifest.json
    echo x > $out/nix-support/setup-hook
    $bb ln -s ${lib}/share/stuff $out/share/stuff
  '' {};

  b = mk "b-2.0" ''
    $bb mkdir -p $out/bin $out/share/man/man1 $out/share/stuff/more
    echo b > $out/bin/b
    echo man > $out/share/man/man1/b.1
    echo more > $out/share/stuff/more/f
    $bb mkdir -p $out/share/info $out/lib/perl5
    echo dir > $out/share/info/dir
    echo info > $out/share/info/b.info
    echo pod > $out/lib/perl5/perllocal.pod
    echo pm > $out/lib/perl5/B.pm
  '' {};

  # A package whose output is a single file.
  single = mk "single-file" "echo just a file > $out" {};

  # top propagates dep1 and lib; dep1 propagates dep2 (a second round).
  dep2 = mk "dep2-1" "$bb mkdir -p $out/bin; echo d2 > $out/bin/dep2" {};
  dep1 = mk "dep1-1" ''
    $bb mkdir -p $out/bin $out/nix-support
    echo d1 > $out/bin/dep1
    echo d1 > $out/bin/common
    echo -n "${dep2}" > $out/nix-support/propagated-user-env-packages
  '' {};
  top = mk "top-1" ''
    $bb mkdir -p $out/bin $out/nix-support
    echo top > $out/bin/top
    echo top > $out/bin/common
    printf "%s\n%s " ${dep1} ${lib} > $out/nix-support/propagated-user-env-packages
  '' {};

  multi = withMeta (mk "multi-1" ''
    $bb mkdir -p $out/bin $dev/include $dev/bin
    echo m > $out/bin/multi
    echo h > $dev/include/m.h
    echo c > $dev/bin/multi-config
  '' { outputs = [ "out" "dev" ]; }) { outputsToInstall = [ "out" "dev" ]; };

  # File collisions.
  x = mk "x-1" "$bb mkdir -p $out/bin; echo x > $out/bin/tool; echo x > $out/bin/x" {};
  y = mk "y-1" "$bb mkdir -p $out/bin; echo y > $out/bin/tool" {};
  yHigh = withMeta y { priority = 4; };
  xOff = withMeta x { active = "false"; };
  zLow = withMeta (mk "z-1" "$bb mkdir -p $out/bin; echo z > $out/bin/tool" {}) { priority = 6; };

  # Directory against non-directory.
  libFile = withMeta (mk "libfile-1" "$bb mkdir -p $out; echo not a dir > $out/lib" {}) { priority = 4; };
  confDir1 = mk "conf1-1" "$bb mkdir -p $out/etc/conf; echo 1 > $out/etc/conf/one" {};
  confDir2 = mk "conf2-1" "$bb mkdir -p $out/etc/conf; echo 2 > $out/etc/conf/two" {};
  confFile = withMeta (mk "conf3-1" "$bb mkdir -p $out/etc; echo 3 > $out/etc/conf" {}) { priority = 7; };
}
"#;

fn sandbox() -> NixSandbox {
    let sb = NixSandbox::new("");
    fs::write(sb.path("pkgs.nix"), PACKAGES).expect("write pkgs.nix");
    sb
}

/// `nix-env -iA attrs…` into a fresh profile; returns (success, stderr,
/// the user-environment derivation it built).
fn nix_env_install(sb: &NixSandbox, attrs: &[&str]) -> (bool, String, String) {
    let mut args = vec!["-p", "profile", "-f", "pkgs.nix", "-iA"];
    args.extend_from_slice(attrs);
    let out = sb.nix("nix-env", &args);
    let err = stderr(&out);
    let drv = built_drvs(&err)
        .into_iter()
        .rfind(|d| d.ends_with("-user-environment.drv"))
        .unwrap_or_else(|| panic!("no user environment was built:\n{err}"));
    (out.status.success(), err, drv)
}

/// Rebuilds `drv` with our buildenv and checks the result is Nix's.
fn assert_same_as_nix(sb: &NixSandbox, drv_path: &str, nix_stderr: &str) {
    let drv = sb.read_drv(drv_path);
    assert_eq!(drv.builder.to_str(), Some("builtin:buildenv"));
    let out = out_path(&drv);
    let (ours, result) = sb.run_ours(&drv, "env");
    let outcome = result.unwrap_or_else(|e| panic!("our buildenv failed: {e}"));

    let theirs = sb.host(&out);
    let expected = tree(&theirs);
    let got = tree(&ours);
    assert_eq!(got, expected, "tree differs from Nix's {out}");
    assert!(
        matches!(expected.get("/manifest.nix"), Some(Entry::Symlink(t)) if t.ends_with("-env-manifest.nix"))
    );

    let nar = sb.dump(&ours);
    assert_eq!(nar, sb.dump(&theirs), "NAR differs");
    let hash = Hash::of_bytes(HashAlgo::Sha256, &nar).to_prefixed_nix32();
    assert_eq!(hash, sb.registered_hash(&out));

    for msg in &outcome.log {
        let line = format!("warning: {}", msg.text);
        assert!(
            nix_stderr.contains(&line),
            "Nix did not say {line:?}:\n{nix_stderr}"
        );
        assert_eq!(msg.nix, format!("\x1b[35;1mwarning:\x1b[0m {}", msg.text));
    }
    let nix_warnings = nix_stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .count();
    assert_eq!(
        outcome.log.len(),
        nix_warnings,
        "warnings differ:\n{nix_stderr}"
    );
}

/// Rebuilds `drv` with our buildenv, which must fail as Nix's did.
fn assert_fails_like_nix(sb: &NixSandbox, drv_path: &str, nix_stderr: &str) -> BuiltinError {
    let drv = sb.read_drv(drv_path);
    let (_, result) = sb.run_ours(&drv, "env");
    let err = result.expect_err("Nix failed, so must we");
    let what = err.text().what_plain();
    assert!(
        nix_stderr.contains(&what),
        "Nix's output lacks our message\n  ours: {what}\n  Nix:\n{nix_stderr}"
    );
    assert_eq!(daemon_plain(&err.nix_log_text()), what);
    err
}

fn daemon_plain(s: &str) -> String {
    builtins_support::strip_ansi(s)
}

#[test]
fn several_packages_merge_like_nix() {
    let sb = sandbox();
    let (ok, err, drv) = nix_env_install(&sb, &["a", "b", "single", "top", "multi"]);
    assert!(ok, "nix-env failed:\n{err}");
    assert!(err.contains("skipping dangling symlink"), "{err}");
    assert!(err.contains("because it's not a directory"), "{err}");
    assert_same_as_nix(&sb, &drv, &err);

    // The merged tree holds what the test means to cover.
    let got = tree(&sb.path("ours/env"));
    assert!(matches!(got.get("/share/stuff"), Some(Entry::Directory)));
    let deep = got.get("/share/stuff/deep/file");
    assert!(
        matches!(deep, Some(Entry::Symlink(t)) if t.contains("-lib-1.0/share/stuff/deep/file"))
    );
    assert!(matches!(
        got.get("/share/info/b.info"),
        Some(Entry::Symlink(_))
    ));
    assert!(matches!(
        got.get("/lib/perl5/B.pm"),
        Some(Entry::Symlink(_))
    ));
    assert!(
        matches!(got.get("/include"), Some(Entry::Symlink(t)) if t.ends_with("-multi-1-dev/include"))
    );
    assert!(matches!(got.get("/bin/dep2"), Some(Entry::Symlink(_))));
    assert!(matches!(got.get("/bin/common"), Some(Entry::Symlink(t)) if t.contains("-top-1/")));
    let ignored = [
        "/log",
        "/.hidden",
        "/manifest.json",
        "/nix-support",
        "/share/info/dir",
        "/lib/perl5/perllocal.pod",
    ];
    for ignored in ignored {
        assert!(!got.contains_key(ignored), "{ignored} is linked");
    }
}

#[test]
fn priority_resolves_a_file_collision_like_nix() {
    let sb = sandbox();
    let (ok, err, drv) = nix_env_install(&sb, &["x", "yHigh", "zLow"]);
    assert!(ok, "nix-env failed:\n{err}");
    assert_same_as_nix(&sb, &drv, &err);
    let got = tree(&sb.path("ours/env"));
    assert!(
        matches!(got.get("/bin/tool"), Some(Entry::Symlink(t)) if t.ends_with("-y-1/bin/tool"))
    );
}

#[test]
fn inactive_packages_are_left_out_like_nix() {
    let sb = sandbox();
    let (ok, err, drv) = nix_env_install(&sb, &["xOff", "y"]);
    assert!(ok, "nix-env failed:\n{err}");
    assert_same_as_nix(&sb, &drv, &err);
    let got = tree(&sb.path("ours/env"));
    // Only y is linked, so its whole `bin` is.
    assert!(matches!(got.get("/bin"), Some(Entry::Symlink(t)) if t.ends_with("-y-1/bin")));
}

#[test]
fn set_flag_priority_like_nix() {
    // nix-env reads the installed manifest through the profile link, which
    // points into /nix/store: let the private store be there, in a private
    // mount namespace only.
    let sb = sandbox();
    let store = sb.store_root();
    fs::create_dir_all(&store).expect("store dir");
    let env = |args: &str| {
        format!(
            "nix-env --store '{}' -p profile -f pkgs.nix {args}",
            sb.store_uri()
        )
    };
    let script = [
        format!("mount --bind '{}' /nix/store", store.display()),
        env("-iA x"),
        env("--set-flag priority 4 x-1"),
        env("-iA y"),
        env("-q"),
    ]
    .join(" && ");
    let mut cmd = sb.command("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let out = sb.output(cmd);
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "nix-env in a mount namespace failed:\n{err}"
    );
    let installed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        installed.split_whitespace().collect::<Vec<_>>(),
        ["x-1", "y-1"]
    );

    let drv = built_drvs(&err)
        .into_iter()
        .rfind(|d| d.ends_with("-user-environment.drv"))
        .expect("a user environment was built");
    let env_var = builtins_support::env_of(&sb.read_drv(&drv))["derivations"].clone();
    assert!(
        env_var.contains("true 4 1 /nix/store/") && env_var.contains("-x-1"),
        "{env_var}"
    );
    assert_same_as_nix(&sb, &drv, &err);
    let got = tree(&sb.path("ours/env"));
    assert!(
        matches!(got.get("/bin/tool"), Some(Entry::Symlink(t)) if t.ends_with("-x-1/bin/tool"))
    );
}

#[test]
fn equal_priorities_collide_like_nix() {
    let sb = sandbox();
    let (ok, err, drv) = nix_env_install(&sb, &["x", "y"]);
    assert!(!ok, "nix-env should have failed:\n{err}");
    let e = assert_fails_like_nix(&sb, &drv, &err);
    assert!(
        matches!(e, BuiltinError::SamePriority { priority: 5, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME'")
    );
}

#[test]
fn directory_meets_a_file_like_nix() {
    let sb = sandbox();
    // `lib` is a file in libfile-1 (linked first: priority 4) and a
    // directory in lib-1.0.
    let (ok, err, drv) = nix_env_install(&sb, &["libFile", "lib"]);
    assert!(!ok, "nix-env should have failed:\n{err}");
    let e = assert_fails_like_nix(&sb, &drv, &err);
    assert!(
        matches!(e, BuiltinError::CollisionWithNonDirectory { .. }),
        "{e:?}"
    );
}

#[test]
fn file_meets_a_merged_directory_like_nix() {
    let sb = sandbox();
    let (ok, err, drv) = nix_env_install(&sb, &["confDir1", "confDir2", "confFile"]);
    assert!(!ok, "nix-env should have failed:\n{err}");
    let e = assert_fails_like_nix(&sb, &drv, &err);
    assert!(
        matches!(e, BuiltinError::CollisionWithDirectory { .. }),
        "{e:?}"
    );
}
