//! The part of the chroot made on the host, as root, before the namespaces
//! exist (Nix does the same in the parent): the chroot directory, `/tmp`,
//! `/etc` files, the store directory, and the build directory's owner.
//!
//! `/etc` and `/dev` are small tmpfs mounts in the helper's private mount
//! namespace (see [`super::run`]), which the build's namespace copies: the
//! handful of files, symlinks and mount points they hold cost an inode each
//! on disk, and their removal after the build another (measured on ext4:
//! 70–90 µs per file or symlink, against a few µs in a tmpfs); the host
//! sees two empty directories, and the mounts end with the helper.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;

use rustix::mount::{MountFlags, mount};

use super::error::{Context, SetupError, q};
use super::plan::Plan;
use crate::spec::{BuildSpec, under};

fn chmod(path: &Path, mode: u32) -> Result<(), SetupError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .context(|| format!("setting permissions on {}", q(path)))
}

fn chown_(path: &Path, uid: u32, gid: u32) -> Result<(), SetupError> {
    chown(path, Some(uid), Some(gid)).context(|| format!("cannot change ownership of {}", q(path)))
}

fn mkdirs(path: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(path).context(|| format!("creating directory {}", q(path)))
}

/// Mounts a small tmpfs on `dir` (in the helper's own mount namespace),
/// with the mode a directory made here has.
fn scratch(dir: &Path) -> Result<(), SetupError> {
    mount(
        "none",
        dir,
        "tmpfs",
        MountFlags::NOSUID,
        Some(c"size=1m,mode=0755"),
    )
    .context(|| format!("mounting a tmpfs on {}", q(dir)))
}

/// Makes the host side of the chroot for `spec`.
pub(crate) fn host_side(spec: &BuildSpec, plan: &Plan) -> Result<(), SetupError> {
    let root = &spec.chroot_root;
    match fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SetupError::msg(format!(
                    "chroot directory {} is not empty",
                    q(root)
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir(root).context(|| format!("cannot create {}", q(root)))?;
        }
        Err(e) => return Err(SetupError::new(format!("cannot read {}", q(root)), e)),
    }
    chmod(root, 0o750)?;
    chown_(root, 0, spec.build_gid)?;

    let tmp = root.join("tmp");
    mkdirs(&tmp)?;
    chmod(&tmp, 0o1777)?;

    let etc = root.join("etc");
    mkdirs(&etc)?;
    scratch(&etc)?;
    if plan.minimal_dev {
        let dev = root.join("dev");
        mkdirs(&dev)?;
        scratch(&dev)?;
    }
    for (inside, contents) in &plan.files {
        let path = under(root, inside);
        fs::write(&path, contents).context(|| format!("writing {}", q(&path)))?;
    }

    let store = under(root, &spec.store_dir);
    mkdirs(&store)?;
    chmod(&store, 0o1775)?;
    chown_(&store, 0, spec.build_gid)?;

    let build = &spec.build_dir;
    let meta = fs::metadata(build).context(|| format!("build directory {}", q(build)))?;
    if !meta.is_dir() {
        return Err(SetupError::msg(format!(
            "build directory {} is not a directory",
            q(build)
        )));
    }
    chown_(build, spec.build_uid, spec.build_gid)?;
    chmod(build, 0o700)?;
    Ok(())
}
