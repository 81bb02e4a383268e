//! The bytes of a [`BuildSpec`] as the daemon hands it to `pkgchain-sandbox`.
//!
//! The grammar (version 1), shared by [`BuildSpec::encode`] and
//! [`BuildSpec::decode`]:
//!
//! ```text
//! spec    = MAGIC version fields            ; nothing may follow
//! MAGIC   = "pkgchain-sandbox-spec\n"       ; 22 bytes
//! version = u32                             ; 1
//! fields  = store_dir:bytes builder:bytes args:list(bytes)
//!           env:list(bytes bytes) inputs:list(bytes) outputs:list(bytes)
//!           chroot_root:bytes build_dir:bytes sandbox_build_dir:bytes
//!           sandbox_paths:list(bytes bytes bool)      ; inside, host, optional
//!           network:bool build_uid:u32 build_gid:u32
//!           timeout_secs:u64 max_silent_secs:u64 cores:u32
//!           system:text kvm:bool shm_size:text impersonate_linux_26:bool
//!           filter_syscalls:bool allow_new_privileges:bool
//! u32, u64 = little-endian
//! bool    = one byte, 0 or 1
//! bytes   = u64 length, then that many raw bytes (paths and derivation
//!           strings carried exactly, UTF-8 or not)
//! text    = bytes that must be UTF-8
//! list(x) = u64 count, then count items
//! ```
//!
//! Decoding never allocates more than the input holds: every length and
//! count is checked against the bytes left before anything is reserved, and
//! the whole input is bounded by [`MAX_SPEC_LEN`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::spec::{BuildSpec, SandboxPath};

/// The first bytes of every encoded spec.
pub const MAGIC: &[u8; 22] = b"pkgchain-sandbox-spec\n";
/// The version this crate writes and reads.
pub const VERSION: u32 = 1;
/// The largest encoded spec the helper accepts (256 MiB).
pub const MAX_SPEC_LEN: usize = 256 << 20;

/// Why bytes are not a spec.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not a build spec (bad magic)")]
    BadMagic,
    #[error("unsupported build spec version {found} (expected {VERSION})")]
    BadVersion { found: u32 },
    #[error("build spec is {len} bytes, more than the limit of {MAX_SPEC_LEN}")]
    TooLarge { len: usize },
    #[error("build spec truncated at offset {offset} while reading {field}")]
    Truncated { field: &'static str, offset: usize },
    #[error("field {field} at offset {offset}: length {len} exceeds the {left} bytes left")]
    LengthTooLarge {
        field: &'static str,
        offset: usize,
        len: u64,
        left: usize,
    },
    #[error("field {field} at offset {offset}: expected 0 or 1, found {found}")]
    BadBool {
        field: &'static str,
        offset: usize,
        found: u8,
    },
    #[error("field {field} at offset {offset} is not UTF-8")]
    NotUtf8 { field: &'static str, offset: usize },
    #[error("field {field} at offset {offset}: value {value} does not fit in 32 bits")]
    TooWide {
        field: &'static str,
        offset: usize,
        value: u64,
    },
    #[error("{left} unexpected bytes after the build spec")]
    TrailingBytes { left: usize },
}

impl BuildSpec {
    /// The spec's bytes (see the module documentation for the grammar).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(4096));
        w.0.extend_from_slice(MAGIC);
        w.0.extend_from_slice(&VERSION.to_le_bytes());
        w.path(&self.store_dir);
        w.bytes(&self.builder);
        w.u64(self.args.len() as u64);
        for a in &self.args {
            w.bytes(a);
        }
        w.u64(self.env.len() as u64);
        for (k, v) in &self.env {
            w.bytes(k);
            w.bytes(v);
        }
        for list in [&self.inputs, &self.outputs] {
            w.u64(list.len() as u64);
            for p in list {
                w.path(p);
            }
        }
        w.path(&self.chroot_root);
        w.path(&self.build_dir);
        w.path(&self.sandbox_build_dir);
        w.u64(self.sandbox_paths.len() as u64);
        for sp in &self.sandbox_paths {
            w.path(&sp.inside);
            w.path(&sp.host);
            w.bool(sp.optional);
        }
        w.bool(self.network);
        w.u32(self.build_uid);
        w.u32(self.build_gid);
        w.u64(self.timeout_secs);
        w.u64(self.max_silent_secs);
        w.u32(self.cores);
        w.bytes(self.system.as_bytes());
        w.bool(self.kvm);
        w.bytes(self.shm_size.as_bytes());
        w.bool(self.impersonate_linux_26);
        w.bool(self.filter_syscalls);
        w.bool(self.allow_new_privileges);
        w.0
    }

    /// Reads a spec written by [`BuildSpec::encode`]. The result is not
    /// [validated](BuildSpec::validate) yet.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MAX_SPEC_LEN {
            return Err(DecodeError::TooLarge { len: input.len() });
        }
        let rest = input.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
        let mut r = Reader {
            input,
            pos: input.len() - rest.len(),
        };
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(DecodeError::BadVersion { found: version });
        }
        let store_dir = r.path("store_dir")?;
        let builder = r.bytes("builder")?;
        let args = r.list("args", |r| r.bytes("args"))?;
        let env = r.list("env", |r| Ok((r.bytes("env")?, r.bytes("env")?)))?;
        let inputs = r.list("inputs", |r| r.path("inputs"))?;
        let outputs = r.list("outputs", |r| r.path("outputs"))?;
        let chroot_root = r.path("chroot_root")?;
        let build_dir = r.path("build_dir")?;
        let sandbox_build_dir = r.path("sandbox_build_dir")?;
        let sandbox_paths = r.list("sandbox_paths", |r| {
            Ok(SandboxPath {
                inside: r.path("sandbox_paths")?,
                host: r.path("sandbox_paths")?,
                optional: r.bool("sandbox_paths")?,
            })
        })?;
        let spec = BuildSpec {
            store_dir,
            builder,
            args,
            env,
            inputs,
            outputs,
            chroot_root,
            build_dir,
            sandbox_build_dir,
            sandbox_paths,
            network: r.bool("network")?,
            build_uid: r.u32("build_uid")?,
            build_gid: r.u32("build_gid")?,
            timeout_secs: r.u64("timeout_secs")?,
            max_silent_secs: r.u64("max_silent_secs")?,
            cores: r.u32("cores")?,
            system: r.text("system")?,
            kvm: r.bool("kvm")?,
            shm_size: r.text("shm_size")?,
            impersonate_linux_26: r.bool("impersonate_linux_26")?,
            filter_syscalls: r.bool("filter_syscalls")?,
            allow_new_privileges: r.bool("allow_new_privileges")?,
        };
        let left = input.len() - r.pos;
        if left != 0 {
            return Err(DecodeError::TrailingBytes { left });
        }
        Ok(spec)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn u32(&mut self, n: u32) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn bool(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn path(&mut self, p: &Path) {
        self.bytes(p.as_os_str().as_bytes());
    }
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        if n > self.left() {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
            });
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.take(1, field)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            found => Err(DecodeError::BadBool {
                field,
                offset,
                found,
            }),
        }
    }

    /// A length or count, checked against what is left (every item takes
    /// at least `min_item` bytes) before anything is allocated.
    fn len(&mut self, field: &'static str, min_item: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.u64(field)?;
        let left = self.left();
        match usize::try_from(len) {
            Ok(n) if n.saturating_mul(min_item) <= left => Ok(n),
            _ => Err(DecodeError::LengthTooLarge {
                field,
                offset,
                len,
                left,
            }),
        }
    }

    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = self.len(field, 1)?;
        Ok(self.take(n, field)?.to_vec())
    }

    fn path(&mut self, field: &'static str) -> Result<PathBuf, DecodeError> {
        Ok(PathBuf::from(OsStr::from_bytes(&self.bytes(field)?)))
    }

    fn text(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let offset = self.pos;
        String::from_utf8(self.bytes(field)?).map_err(|_| DecodeError::NotUtf8 { field, offset })
    }

    fn list<T>(
        &mut self,
        field: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        // Every item holds at least one 8-byte length.
        let n = self.len(field, 8)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(item(self)?);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..24)
    }

    fn path() -> impl Strategy<Value = PathBuf> {
        bytes().prop_map(|b| PathBuf::from(OsStr::from_bytes(&b)))
    }

    prop_compose! {
        fn arb_spec()(
            store_dir in path(), builder in bytes(),
            args in proptest::collection::vec(bytes(), 0..4),
            env in proptest::collection::vec((bytes(), bytes()), 0..4),
            inputs in proptest::collection::vec(path(), 0..4),
            outputs in proptest::collection::vec(path(), 0..3),
            dirs in (path(), path(), path()),
            sandbox_paths in proptest::collection::vec((path(), path(), any::<bool>()), 0..3),
            flags in any::<[bool; 5]>(),
            ids in any::<(u32, u32, u64, u64, u32)>(),
            texts in (".{0,12}", ".{0,6}"),
        ) -> BuildSpec {
            BuildSpec {
                store_dir, builder, args, env, inputs, outputs,
                chroot_root: dirs.0, build_dir: dirs.1, sandbox_build_dir: dirs.2,
                sandbox_paths: sandbox_paths.into_iter()
                    .map(|(inside, host, optional)| SandboxPath { inside, host, optional })
                    .collect(),
                network: flags[0],
                build_uid: ids.0, build_gid: ids.1,
                timeout_secs: ids.2, max_silent_secs: ids.3, cores: ids.4,
                system: texts.0, kvm: flags[1], shm_size: texts.1,
                impersonate_linux_26: flags[2], filter_syscalls: flags[3],
                allow_new_privileges: flags[4],
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips(spec in arb_spec()) {
            let bytes = spec.encode();
            prop_assert_eq!(BuildSpec::decode(&bytes), Ok(spec));
        }

        #[test]
        fn never_panics_on_garbage(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut input = MAGIC.to_vec();
            input.extend_from_slice(&VERSION.to_le_bytes());
            input.extend_from_slice(&tail);
            let _ = BuildSpec::decode(&input);
        }

        #[test]
        fn every_truncation_is_an_error(spec in arb_spec(), cut in any::<prop::sample::Index>()) {
            let bytes = spec.encode();
            let cut = cut.index(bytes.len());
            prop_assert!(BuildSpec::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn refuses_huge_lengths_before_allocating() {
        let mut input = MAGIC.to_vec();
        input.extend_from_slice(&VERSION.to_le_bytes());
        input.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            BuildSpec::decode(&input),
            Err(DecodeError::LengthTooLarge {
                field: "store_dir",
                ..
            })
        ));
    }

    #[test]
    fn refuses_trailing_bytes_and_other_versions() {
        let spec = BuildSpec::new("/b", "/c", "/d");
        let mut bytes = spec.encode();
        bytes.push(0);
        assert_eq!(
            BuildSpec::decode(&bytes),
            Err(DecodeError::TrailingBytes { left: 1 })
        );
        let mut bytes = spec.encode();
        bytes[MAGIC.len()] = 2;
        assert_eq!(
            BuildSpec::decode(&bytes),
            Err(DecodeError::BadVersion { found: 2 })
        );
        assert_eq!(BuildSpec::decode(b"nope"), Err(DecodeError::BadMagic));
    }
}
