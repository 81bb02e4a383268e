//! End-to-end tests of `pkgchain-sandbox` with a static busybox builder.
//! They need root and user namespaces, and fail (never skip) without them.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestStore, mountinfo, read, run, run_ok};
use sandbox::{Outcome, SandboxPath};

#[test]
fn trivial_build_writes_out() {
    let s = TestStore::new();
    let spec =
        s.spec("$bb echo hello from the builder; $bb mkdir $out; $bb echo built > $out/file");
    let log = run_ok(&spec);
    assert_eq!(log, "hello from the builder\n");
    let out = s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
    assert_eq!(read(&out.join("file")), "built\n");
    // Owned by the build user on the host.
    let meta = std::fs::metadata(&out).expect("output exists");
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            std::os::unix::fs::MetadataExt::gid(&meta)
        ),
        (30001, 30000)
    );
}

#[test]
fn multiple_outputs() {
    let s = TestStore::new();
    let mut spec = s.spec("$bb echo o > $out; $bb echo d > $dev; $bb mkdir $doc");
    let dev = s.path("1p8jxlh5g0c8yd0mfnbnr1ayj2a63jj5-out-dev");
    let doc = s.path("3q5p3n54lzx7bkmvfxnck3ivm3rfk9gy-out-doc");
    spec.outputs.push(dev.clone());
    spec.outputs.push(doc.clone());
    spec.env
        .push((b"dev".to_vec(), dev.as_os_str().as_encoded_bytes().to_vec()));
    spec.env
        .push((b"doc".to_vec(), doc.as_os_str().as_encoded_bytes().to_vec()));
    run_ok(&spec);
    assert_eq!(
        read(&s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out")),
        "o\n"
    );
    assert_eq!(read(&spec.host_path_of(&dev)), "d\n");
    assert!(spec.host_path_of(&doc).is_dir());
}

#[test]
fn builder_sees_the_sandbox_identity() {
    let s = TestStore::new();
    let spec = s.spec(
        "P=$($bb pwd); $bb mkdir $out; cd $out; echo $P > pwd; \
         $bb id -u > uid; $bb id -g > gid; $bb id > id; $bb hostname > hostname; \
         $bb cat /proc/sys/kernel/domainname > domainname; echo $$ > pid; \
         $bb cat /etc/passwd > passwd; $bb cat /etc/group > group; $bb cat /etc/hosts > hosts; \
         if [ -t 1 ]; then echo yes > tty; fi; \
         $bb ls /dev > dev; $bb ls / > root; $bb stat -c '%a %u %g' / /tmp /build $NIX_STORE_DIR /etc /dev > modes; \
         $bb ls /proc/1/ > proc1",
    );
    let mut spec = spec;
    spec.env.push((
        b"NIX_STORE_DIR".to_vec(),
        s.store.as_os_str().as_encoded_bytes().to_vec(),
    ));
    run_ok(&spec);
    let out = s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
    let f = |n: &str| read(&out.join(n));
    assert_eq!(f("uid"), "1000\n");
    assert_eq!(f("gid"), "100\n");
    assert_eq!(f("id"), "uid=1000(nixbld) gid=100(nixbld)\n");
    assert_eq!(f("hostname"), "localhost\n");
    assert_eq!(f("domainname"), "(none)\n");
    assert_eq!(f("pid"), "1\n");
    assert_eq!(f("pwd"), "/build\n");
    assert_eq!(f("tty"), "yes\n");
    assert_eq!(
        f("passwd"),
        "root:x:0:0:Nix build user:/build:/noshell\n\
         nixbld:x:1000:100:Nix build user:/build:/noshell\n\
         nobody:x:65534:65534:Nobody:/:/noshell\n"
    );
    assert_eq!(f("group"), "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n");
    assert_eq!(f("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    let dev: Vec<String> = f("dev").lines().map(str::to_owned).collect();
    for d in [
        "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty",
        "urandom", "zero",
    ] {
        assert!(dev.contains(&d.to_owned()), "/dev lacks {d}: {dev:?}");
    }
    let top_dir = s
        .store
        .components()
        .nth(1)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .expect("store has a top directory");
    let mut root: Vec<String> = f("root").lines().map(str::to_owned).collect();
    root.sort();
    let mut expected = vec!["build", "dev", "etc", "proc", "tmp", &top_dir];
    expected.sort();
    expected.dedup();
    assert_eq!(root, expected);
    assert_eq!(
        f("modes"),
        "750 65534 100\n1777 65534 65534\n700 1000 100\n1775 65534 100\n\
         755 65534 65534\n755 65534 65534\n"
    );
}

#[test]
fn env_is_exactly_the_spec_env() {
    let s = TestStore::new();
    let mut spec = s.spec("$bb env > $out");
    spec.env
        .push((b"weird".to_vec(), b"\xff\xfe not utf-8".to_vec()));
    spec.env.push((b"empty".to_vec(), Vec::new()));
    run_ok(&spec);
    let got = std::fs::read(s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out")).expect("out");
    let mut got: Vec<&[u8]> = got
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = spec
        .env
        .iter()
        .map(|(k, v)| [k.as_slice(), b"=", v.as_slice()].concat())
        .collect();
    // busybox sh adds these two.
    want.push(b"SHLVL=1".to_vec());
    want.push(b"PWD=/build".to_vec());
    want.sort();
    assert_eq!(got, want.iter().map(Vec::as_slice).collect::<Vec<_>>());
}

#[test]
fn network_is_cut_unless_asked_for() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let accepter = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut got = String::new();
        conn.read_to_string(&mut got).expect("read");
        got
    });
    let script = format!(
        "if echo hi | $bb nc 127.0.0.1 {port}; then echo connected; else echo refused; fi; \
         $bb ip -o link > $out"
    );
    let s = TestStore::new();
    let spec = s.spec(&script);
    let log = run_ok(&spec);
    assert!(log.ends_with("refused\n"), "{log}");
    let links = read(&s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out"));
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains(": lo: <LOOPBACK,UP,LOWER_UP>"), "{links}");

    let s = TestStore::new();
    let mut spec = s.spec(&script);
    spec.network = true;
    let log = run_ok(&spec);
    assert!(log.ends_with("connected\n"), "{log}");
    assert_eq!(accepter.join().expect("accepter"), "hi\n");
}

#[test]
fn network_builds_get_the_hosts_resolver_files() {
    let s = TestStore::new();
    let mut spec = s.spec(
        "$bb mkdir $out; $bb cat /etc/nsswitch.conf > $out/nss; $bb cat /etc/hosts > $out/hosts",
    );
    spec.network = true;
    run_ok(&spec);
    let out = s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
    assert_eq!(
        read(&out.join("nss")),
        "hosts: files dns\nservices: files\n"
    );
    assert_eq!(read(&out.join("hosts")), read(Path::new("/etc/hosts")));
}

#[test]
fn only_inputs_are_visible() {
    let s = TestStore::new();
    let secret = s.path("5a0r2kkgd5xzqb8v9bzv5yv8dc2sgv0y-secret");
    std::fs::create_dir(&secret).expect("sibling");
    std::fs::write(secret.join("data"), "secret").expect("sibling data");
    let lib = s.path("4rc7l0ap2nw6qlnbxhbpcmy8lfq6dpk1-lib.txt");
    std::fs::write(&lib, "a file input\n").expect("file input");
    // Writable by anyone: only the read-only mount keeps the build out.
    let open = s.path("1b6i7ygd4cbsnl53fq3kn3a5lr2csq6m-open");
    std::fs::create_dir(&open).expect("dir input");
    for p in [&lib, &open] {
        let mode = if p.is_dir() { 0o777 } else { 0o666 };
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    }
    let mut spec = s.spec(&format!(
        "$bb mkdir $out; $bb ls -a {store} > $out/store; \
         $bb cat {secret}/data > $out/secret 2>&1 || echo no-secret; \
         $bb ls /root 2>&1 || echo no-root; $bb ls /home 2>&1 || echo no-home; \
         $bb cat {lib} > $out/lib; \
         if $bb touch {bbdir}/x 2>/dev/null; then echo input-writable; fi; \
         if $bb touch {lib} 2>/dev/null; then echo file-input-writable; fi; \
         if $bb touch {open}/x 2>/dev/null; then echo open-input-writable; fi; \
         $bb touch $out/written",
        open = open.display(),
        store = s.store.display(),
        secret = secret.display(),
        lib = lib.display(),
        bbdir = s.busybox_dir.display(),
    ));
    spec.inputs.push(lib.clone());
    spec.inputs.push(open.clone());
    let log = run_ok(&spec);
    assert!(log.contains("no-secret"), "{log}");
    assert!(log.contains("no-root"), "{log}");
    assert!(log.contains("no-home"), "{log}");
    assert!(!log.contains("writable"), "{log}");
    let out = s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
    assert_eq!(
        read(&out.join("store")),
        ".\n..\n0c3qgq2vx4jqhnkbdf2fy2w6nlkp9vql-busybox\n\
         1b6i7ygd4cbsnl53fq3kn3a5lr2csq6m-open\n\
         2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out\n4rc7l0ap2nw6qlnbxhbpcmy8lfq6dpk1-lib.txt\n"
    );
    assert_eq!(read(&out.join("lib")), "a file input\n");
    // The output, in the same store directory, was writable.
    assert!(out.join("written").exists());
}

#[test]
fn failing_builder_exit_code_is_reported() {
    let s = TestStore::new();
    let (outcome, log) = run(&s.spec("echo failing; exit 42"));
    assert_eq!(outcome, Outcome::Exited(42));
    assert_eq!(log, "failing\n");
    // Codes the helper also uses stay the builder's when it exits with them.
    let s = TestStore::new();
    assert_eq!(run(&s.spec("exit 250")).0, Outcome::Exited(250));
}

/// Processes on the host whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn timeout_kills_the_whole_build() {
    let s = TestStore::new();
    let mut spec =
        s.spec("$bb sleep 31337 & $bb sh -c '$bb sleep 31337' & echo started; $bb sleep 31337");
    spec.timeout_secs = 1;
    let start = Instant::now();
    let (outcome, log) = run(&spec);
    assert_eq!(
        outcome,
        Outcome::TimedOut {
            message: "build timed out after 1 seconds".into()
        }
    );
    assert_eq!(log, "started\n");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(processes_with("sleep 31337"), Vec::<String>::new());
}

#[test]
fn silence_kills_the_build_but_output_keeps_it_alive() {
    let s = TestStore::new();
    let mut spec = s.spec("echo one; $bb sleep 31338 & $bb sleep 31338");
    spec.max_silent_secs = 1;
    let (outcome, log) = run(&spec);
    assert_eq!(
        outcome,
        Outcome::Silent {
            message: "build timed out after 1 seconds of silence".into()
        }
    );
    assert_eq!(log, "one\n");
    assert_eq!(processes_with("sleep 31338"), Vec::<String>::new());

    let s = TestStore::new();
    let mut spec = s.spec("for i in 1 2 3 4 5 6; do echo $i; $bb usleep 400000; done");
    spec.max_silent_secs = 1;
    let log = run_ok(&spec);
    assert_eq!(log, "1\n2\n3\n4\n5\n6\n");
}

#[test]
fn setup_errors_are_clear() {
    let s = TestStore::new();
    let mut spec = s.spec("true");
    let missing = s.path("6ykfn5w0pm4mh7r4l2aa2z6r4fhk1rfq-missing");
    spec.inputs.push(missing.clone());
    let (outcome, _) = run(&spec);
    let Outcome::SetupFailed { message } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        message,
        format!(
            "cannot bind-mount '{0}' to '{0}': No such file or directory (os error 2)",
            missing.display()
        )
    );

    let s = TestStore::new();
    let mut spec = s.spec("true");
    spec.builder = s
        .busybox_dir
        .join("nope")
        .as_os_str()
        .as_encoded_bytes()
        .to_vec();
    let (outcome, _) = run(&spec);
    assert_eq!(
        outcome,
        Outcome::SetupFailed {
            message: format!(
                "executing '{}': No such file or directory (os error 2)",
                s.busybox_dir.join("nope").display()
            )
        }
    );

    let s = TestStore::new();
    let spec = s.spec("true");
    std::fs::create_dir_all(spec.chroot_root.join("junk")).expect("junk");
    let (outcome, _) = run(&spec);
    assert_eq!(
        outcome,
        Outcome::SetupFailed {
            message: format!(
                "chroot directory '{}' is not empty",
                spec.chroot_root.display()
            )
        }
    );

    let s = TestStore::new();
    let mut spec = s.spec("true");
    spec.inputs.push("/elsewhere/x".into());
    let (outcome, _) = run(&spec);
    let Outcome::SetupFailed { message } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        message.starts_with("invalid build spec: input '/elsewhere/x'"),
        "{message}"
    );
}

#[test]
fn sandbox_paths_are_mounted_and_optional_ones_may_be_missing() {
    let s = TestStore::new();
    let host = s.dir("extra");
    std::fs::write(host.join("f"), "extra\n").expect("extra");
    let mut spec = s.spec("$bb cat /opt/extra/f > $out; $bb ls /bin/sh");
    spec.sandbox_paths = sandbox::parse_sandbox_paths(&format!(
        "/opt/extra={} /bin/sh={} /nowhere=/does/not/exist?",
        host.display(),
        s.busybox.display()
    ));
    run_ok(&spec);
    assert_eq!(
        read(&s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out")),
        "extra\n"
    );

    spec.sandbox_paths.push(SandboxPath {
        inside: "/required".into(),
        host: "/does/not/exist".into(),
        optional: false,
    });
    let s2 = TestStore::new();
    spec.chroot_root = s2.tmp.path().join("chroot");
    let (outcome, _) = run(&spec);
    assert!(
        matches!(outcome, Outcome::SetupFailed { .. }),
        "{outcome:?}"
    );
}

#[test]
fn setuid_bits_and_xattrs_are_filtered() {
    let s = TestStore::new();
    let spec = s.spec(
        "$bb touch f; $bb chmod 4755 f 2>&1 || echo setuid-refused; \
         $bb chmod 2755 f 2>&1 || echo setgid-refused; $bb chmod 755 f && echo plain-ok; \
         $bb cat /proc/self/status | $bb grep -E '^(NoNewPrivs|Seccomp):' > $out",
    );
    let log = run_ok(&spec);
    assert!(log.contains("setuid-refused"), "{log}");
    assert!(log.contains("setgid-refused"), "{log}");
    assert!(log.contains("plain-ok"), "{log}");
    assert_eq!(
        read(&s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out")),
        "NoNewPrivs:\t1\nSeccomp:\t2\n"
    );
}

#[test]
fn no_mount_leaks_into_the_host() {
    let before = mountinfo();
    let s = TestStore::new();
    let mut spec = s.spec("$bb mount > $out");
    spec.network = true;
    run_ok(&spec);
    let s2 = TestStore::new();
    let (outcome, _) = run(&s2.spec("exit 3"));
    assert_eq!(outcome, Outcome::Exited(3));
    assert_eq!(mountinfo(), before);
    // The chroot holds plain files and directories only.
    let inside = read(&s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out"));
    assert!(inside.contains(" on /proc type proc"), "{inside}");
    assert!(!mountinfo().contains(&s.tmp.path().display().to_string()));
    // /etc and /dev were scratch mounts of the helper's: on the host, the
    // chroot has two empty directories.
    for d in ["etc", "dev"] {
        let dir = spec.chroot_root.join(d);
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert!(left.is_empty(), "{}: {left:?}", dir.display());
    }
}

#[test]
fn builds_start_from_a_multithreaded_process() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut v = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    v.push(vec![0u8; 4096]);
                    if v.len() > 64 {
                        v.clear();
                    }
                }
            })
        })
        .collect();
    let builds: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                let s = TestStore::new();
                let spec = s.spec(&format!("$bb echo {i} > $out"));
                run_ok(&spec);
                read(&s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out"))
            })
        })
        .collect();
    let results: Vec<String> = builds
        .into_iter()
        .map(|b| b.join().expect("build thread"))
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in spinners {
        s.join().expect("spinner");
    }
    assert_eq!(results, ["0\n", "1\n", "2\n"]);
}

#[test]
fn large_logs_arrive_whole() {
    let s = TestStore::new();
    let spec = s.spec("$bb seq 1 200000");
    let log = run_ok(&spec);
    let expected: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    assert_eq!(log.len(), expected.len());
    assert!(log == expected);
}

/// Inputs that come from a read-only mount (as the daemon's store view
/// is) are bound read-only without a remount; they stay unwritable and
/// the build runs as usual.
#[test]
fn inputs_from_a_read_only_mount_stay_read_only() {
    let s = TestStore::new();
    let open = s.path("1b6i7ygd4cbsnl53fq3kn3a5lr2csq6m-open");
    std::fs::create_dir(&open).expect("dir input");
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let mut spec = s.spec(&format!(
        "if $bb touch {open}/x 2>/dev/null; then echo open-input-writable; fi; \
         if $bb touch {bbdir}/x 2>/dev/null; then echo input-writable; fi; \
         $bb grep -c ' ro[, ]' /proc/self/mountinfo > $out",
        open = open.display(),
        bbdir = s.busybox_dir.display(),
    ));
    spec.inputs.push(open.clone());
    // The helper runs in a mount namespace of its own where the store is a
    // read-only bind mount (the host's stays as it is).
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg("mount --bind -o ro \"$1\" \"$1\" && exec \"$2\"")
        .arg("sh")
        .arg(&s.store)
        .arg(common::HELPER);
    let (outcome, log) = common::run_with(cmd, &spec);
    assert_eq!(outcome, Outcome::Exited(0), "log:\n{log}");
    assert!(!log.contains("writable"), "{log}");
    let out = s.output(&spec, "2g7gq2k0ss2ffbwzh0sh0ylrj5fwqzyb-out");
    let ro_mounts: u32 = read(&out).trim().parse().expect("a count");
    assert!(ro_mounts >= 2, "both inputs are read-only mounts");
}
