//! Realising derived paths: which outputs are missing, and building them.

use nix_formats::wire::{BuildMode, BuildResult, BuildStatus, DerivedPath};

use crate::ops::build::built_outputs;
use crate::ops::query::{missing, output_map};
use crate::session::{OpError, Session};

/// Makes every target valid; returns one result per target, in order.
pub async fn realise(
    s: &mut Session,
    targets: &[DerivedPath],
    _mode: BuildMode,
) -> Result<Vec<(DerivedPath, BuildResult)>, OpError> {
    let sd = s.shared.store_dir.clone();
    let targets = targets.to_vec();
    s.blocking(move |st, _| {
        let m = missing(st, &sd, &targets)?;
        let mut results = Vec::new();
        for t in targets {
            let r = match &t {
                DerivedPath::Opaque(p) => {
                    if m.unknown.contains(p) {
                        let mut r = BuildResult::new(
                            BuildStatus::NoSubstituters,
                            format!("path '{}' is required, but there is no substituter that can build it", sd.display(p)),
                        );
                        r.times_built = 0;
                        r
                    } else {
                        BuildResult::new(BuildStatus::AlreadyValid, "")
                    }
                }
                DerivedPath::Built { drv_path, outputs } => {
                    if m.will_build.contains(drv_path) || m.unknown.contains(drv_path) {
                        BuildResult::new(
                            BuildStatus::MiscFailure,
                            format!("cannot build '{}': building is not available in this daemon yet", sd.display(drv_path)),
                        )
                    } else {
                        let _ = output_map(st, &sd, drv_path)?;
                        let mut r = BuildResult::new(BuildStatus::AlreadyValid, "");
                        r.built_outputs = built_outputs(st, &sd, drv_path, outputs)?;
                        r
                    }
                }
            };
            results.push((t, r));
        }
        Ok(results)
    })
    .await
}
