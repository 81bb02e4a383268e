//! Build logs where Nix clients read them: `<log dir>/drvs/<2 chars>/<rest
//! of the .drv's basename>` (uncompressed; `nix-store -l` and `nix log` try
//! `.bz2` first and then the plain file).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix_formats::store_path::StorePath;

/// Where the log of `drv` lives.
pub fn log_path(log_dir: &Path, drv: &StorePath) -> PathBuf {
    let base = drv.to_string();
    log_dir.join("drvs").join(&base[..2]).join(&base[2..])
}

/// Writes a whole log from `data` as it is read (atomically: temp file,
/// then rename; an error leaves the previous log, if any).
pub fn write_log(log_dir: &Path, drv: &StorePath, mut data: impl Read) -> std::io::Result<()> {
    let p = log_path(log_dir, drv);
    let dir = p.parent().expect("log path has a parent");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    // Clients read logs themselves, as any user.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    std::io::copy(&mut data, tmp.as_file_mut())?;
    tmp.persist(p).map_err(|e| e.error)?;
    Ok(())
}
