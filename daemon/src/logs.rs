//! Build logs where Nix clients read them: `<log dir>/drvs/<2 chars>/<rest
//! of the .drv's basename>` (uncompressed; `nix-store -l` and `nix log` try
//! `.bz2` first and then the plain file).

use std::io::Write;
use std::path::{Path, PathBuf};

use nix_formats::store_path::StorePath;

/// Where the log of `drv` lives.
pub fn log_path(log_dir: &Path, drv: &StorePath) -> PathBuf {
    let base = drv.to_string();
    log_dir.join("drvs").join(&base[..2]).join(&base[2..])
}

/// Writes a whole log (atomically: temp file, then rename).
pub fn write_log(log_dir: &Path, drv: &StorePath, data: &[u8]) -> std::io::Result<()> {
    let p = log_path(log_dir, drv);
    let dir = p.parent().expect("log path has a parent");
    std::fs::create_dir_all(dir)?;
    // Named after the log too: builds running at once share the directory.
    let name = p
        .file_name()
        .expect("log path has a name")
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    drop(f);
    std::fs::rename(tmp, p)
}
