//! What the chroot holds, computed from the spec without touching anything:
//! the files written on the host before the namespaces exist, and the bind
//! mounts made inside them, in Nix's order.
//!
//! Nix keeps every bind mount in one map keyed by the path inside the
//! sandbox (`dirsInChroot`) and mounts in key order, so a parent is always
//! mounted before its children. It is filled in this order (a later step
//! replaces an earlier one for the same key unless noted):
//! `sandbox-paths`; the build directory; the inputs; the outputs removed;
//! then, only where the key is still free, the minimal `/dev` devices and,
//! for builds with network access, `/etc/resolv.conf`, `/etc/services` and
//! `/etc/hosts` from the host.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::spec::{BuildSpec, SANDBOX_GID, SANDBOX_UID};

/// One bind mount into the chroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bind {
    /// Path inside the sandbox.
    pub inside: PathBuf,
    /// Host path.
    pub source: PathBuf,
    /// Skip it if `source` does not exist.
    pub optional: bool,
    /// Remount read-only (store inputs).
    pub read_only: bool,
}

/// The chroot of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Files written into the chroot on the host, by path inside.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Bind mounts, in mount order.
    pub binds: Vec<Bind>,
    /// Whether to make Nix's minimal `/dev` (false if `/dev` itself is
    /// bind-mounted from the host).
    pub minimal_dev: bool,
    /// Whether to mount a fresh devpts (false if `/dev/pts` is bind-mounted).
    pub devpts: bool,
}

/// Devices of Nix's minimal `/dev`.
const DEVICES: [&str; 6] = [
    "/dev/full",
    "/dev/null",
    "/dev/random",
    "/dev/tty",
    "/dev/urandom",
    "/dev/zero",
];

/// Host files a build with network access sees.
const NETWORK_FILES: [&str; 3] = ["/etc/resolv.conf", "/etc/services", "/etc/hosts"];

/// `/etc/passwd` as Nix 2.8 writes it.
pub(crate) fn etc_passwd(sandbox_build_dir: &Path) -> Vec<u8> {
    let home = sandbox_build_dir.display();
    format!(
        "root:x:0:0:Nix build user:{home}:/noshell\n\
         nixbld:x:{SANDBOX_UID}:{SANDBOX_GID}:Nix build user:{home}:/noshell\n\
         nobody:x:65534:65534:Nobody:/:/noshell\n"
    )
    .into_bytes()
}

/// `/etc/group` as Nix 2.8 writes it.
pub(crate) fn etc_group() -> Vec<u8> {
    format!("root:x:0:\nnixbld:!:{SANDBOX_GID}:\nnogroup:x:65534:\n").into_bytes()
}

/// `/etc/hosts` of a build without network access.
pub(crate) const ETC_HOSTS: &[u8] = b"127.0.0.1 localhost\n::1 localhost\n";

/// `/etc/nsswitch.conf` of a build with network access.
pub(crate) const NSSWITCH: &[u8] = b"hosts: files dns\nservices: files\n";

impl Plan {
    /// The plan for `spec`. `host_exists` says whether a host path exists
    /// (asked for `/dev/kvm`, `/dev/pts/ptmx` and the network files).
    pub(crate) fn new(spec: &BuildSpec, host_exists: &dyn Fn(&Path) -> bool) -> Plan {
        let mut binds: BTreeMap<Vec<u8>, Bind> = BTreeMap::new();
        let key = |p: &Path| p.as_os_str().as_bytes().to_vec();
        let put = |binds: &mut BTreeMap<Vec<u8>, Bind>, b: Bind, replace: bool| {
            let k = key(&b.inside);
            if replace || !binds.contains_key(&k) {
                binds.insert(k, b);
            }
        };
        for sp in &spec.sandbox_paths {
            let b = Bind {
                inside: sp.inside.clone(),
                source: sp.host.clone(),
                optional: sp.optional,
                read_only: false,
            };
            put(&mut binds, b, true);
        }
        let build = Bind {
            inside: spec.sandbox_build_dir.clone(),
            source: spec.build_dir.clone(),
            optional: false,
            read_only: false,
        };
        put(&mut binds, build, true);
        for input in &spec.inputs {
            let b = Bind {
                inside: input.clone(),
                source: input.clone(),
                optional: false,
                read_only: true,
            };
            put(&mut binds, b, true);
        }
        for output in &spec.outputs {
            binds.remove(&key(output));
        }

        let minimal_dev = !binds.contains_key(b"/dev".as_slice());
        if minimal_dev {
            let kvm = spec.kvm && host_exists(Path::new("/dev/kvm"));
            let devices = DEVICES.iter().copied().chain(kvm.then_some("/dev/kvm"));
            for dev in devices {
                put(&mut binds, host_bind(dev), false);
            }
        }

        let mut files = vec![(PathBuf::from("/etc/group"), etc_group())];
        if spec.network {
            files.push((PathBuf::from("/etc/nsswitch.conf"), NSSWITCH.to_vec()));
            for f in NETWORK_FILES {
                if host_exists(Path::new(f)) {
                    put(&mut binds, host_bind(f), false);
                }
            }
        } else {
            files.push((PathBuf::from("/etc/hosts"), ETC_HOSTS.to_vec()));
        }
        files.push((
            PathBuf::from("/etc/passwd"),
            etc_passwd(&spec.sandbox_build_dir),
        ));

        // Nix never bind-mounts the host's /proc; a fresh one is mounted.
        let binds: Vec<Bind> = binds
            .into_values()
            .filter(|b| b.source != Path::new("/proc"))
            .collect();
        let devpts = host_exists(Path::new("/dev/pts/ptmx"))
            && !binds.iter().any(|b| b.inside == Path::new("/dev/pts"));
        Plan {
            files,
            binds,
            minimal_dev,
            devpts,
        }
    }
}

fn host_bind(path: &str) -> Bind {
    Bind {
        inside: PathBuf::from(path),
        source: PathBuf::from(path),
        optional: false,
        read_only: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SandboxPath;

    fn spec() -> BuildSpec {
        let mut s = BuildSpec::new("/nix/store/b-bb/busybox", "/c", "/tmp/b");
        s.inputs = vec!["/nix/store/b-bb".into(), "/nix/store/a-lib".into()];
        s.outputs = vec!["/nix/store/o-out".into()];
        s
    }

    fn insides(p: &Plan) -> Vec<String> {
        p.binds
            .iter()
            .map(|b| b.inside.display().to_string())
            .collect()
    }

    #[test]
    fn sandboxed_build_gets_nixs_layout() {
        let p = Plan::new(&spec(), &|p| p == Path::new("/dev/pts/ptmx"));
        assert_eq!(
            insides(&p),
            [
                "/build",
                "/dev/full",
                "/dev/null",
                "/dev/random",
                "/dev/tty",
                "/dev/urandom",
                "/dev/zero",
                "/nix/store/a-lib",
                "/nix/store/b-bb",
            ]
        );
        assert!(
            p.binds
                .iter()
                .all(|b| b.read_only == b.inside.starts_with("/nix/store"))
        );
        assert!(p.minimal_dev && p.devpts);
        let names: Vec<_> = p.files.iter().map(|f| f.0.display().to_string()).collect();
        assert_eq!(names, ["/etc/group", "/etc/hosts", "/etc/passwd"]);
        assert_eq!(
            String::from_utf8_lossy(&p.files[2].1),
            "root:x:0:0:Nix build user:/build:/noshell\n\
             nixbld:x:1000:100:Nix build user:/build:/noshell\n\
             nobody:x:65534:65534:Nobody:/:/noshell\n"
        );
    }

    #[test]
    fn network_build_sees_host_resolver_files() {
        let mut s = spec();
        s.network = true;
        s.kvm = true;
        let p = Plan::new(&s, &|p| p != Path::new("/etc/services"));
        let i = insides(&p);
        assert!(i.contains(&"/etc/resolv.conf".to_owned()));
        assert!(i.contains(&"/etc/hosts".to_owned()));
        assert!(!i.contains(&"/etc/services".to_owned()));
        assert!(i.contains(&"/dev/kvm".to_owned()));
        let names: Vec<_> = p.files.iter().map(|f| f.0.display().to_string()).collect();
        assert_eq!(names, ["/etc/group", "/etc/nsswitch.conf", "/etc/passwd"]);
    }

    #[test]
    fn sandbox_paths_and_the_dev_exception() {
        let mut s = spec();
        s.sandbox_paths = vec![
            SandboxPath {
                inside: "/dev".into(),
                host: "/dev".into(),
                optional: false,
            },
            SandboxPath {
                inside: "/proc".into(),
                host: "/proc".into(),
                optional: false,
            },
            SandboxPath {
                inside: "/bin/sh".into(),
                host: "/nix/store/b-bb/busybox".into(),
                optional: true,
            },
            // An output is never mounted, even if asked for.
            SandboxPath {
                inside: "/nix/store/o-out".into(),
                host: "/x".into(),
                optional: false,
            },
        ];
        let p = Plan::new(&s, &|_| true);
        assert_eq!(
            insides(&p),
            [
                "/bin/sh",
                "/build",
                "/dev",
                "/nix/store/a-lib",
                "/nix/store/b-bb"
            ]
        );
        assert!(!p.minimal_dev);
    }
}
