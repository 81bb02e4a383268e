//! The `.drv` files `nix-instantiate` wrote for `drvs.nix`: byte-exact
//! round trip, our `.drv` path, output paths (`nix-store -q --outputs`),
//! and validation as Nix's store does it when the file is registered.

use std::collections::BTreeSet;

use nix_formats::derivation::{Derivation, DrvHashMemo, drv_name_from_path};
use nix_formats::store_path::{StoreDir, StorePath};

use crate::{fixtures, read, tsv};

#[test]
fn instantiated_derivations() {
    let sd = StoreDir::default();
    let load = |p: &StorePath| {
        let bytes = std::fs::read(
            fixtures()
                .join("root")
                .join(sd.display(p).trim_start_matches('/')),
        )
        .expect("input drv is in the private store");
        Derivation::from_aterm(&bytes, &sd)
    };
    let mut memo = DrvHashMemo::new(sd.clone(), load);
    let rows = tsv("drv.tsv");
    for row in &rows {
        let [attr, drv_path, outs] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        let text = read(format!("drv/{attr}.drv"));
        let drv = Derivation::from_aterm(&text, &sd).unwrap_or_else(|e| panic!("{attr}: {e}"));
        assert_eq!(drv.to_aterm(&sd), text, "{attr}: print(parse(x)) == x");
        let path = sd.parse_path(drv_path).expect("drv path");
        let name = drv_name_from_path(&path).expect(".drv").to_owned();
        assert_eq!(
            &sd.display(&drv.drv_path(&sd, &name).expect("drv path")),
            drv_path,
            "{attr}"
        );
        drv.validate(&sd, &path, &mut memo)
            .unwrap_or_else(|e| panic!("{attr}: {e}"));
        let masked = drv.hash_modulo(&sd, true, &mut memo).expect("hash modulo");
        let ours: BTreeSet<String> = drv
            .output_paths(&sd, &name, &masked)
            .expect("output paths")
            .values()
            .map(|p| sd.display(p.as_ref().expect("known output path")))
            .collect();
        let nix: BTreeSet<String> = outs.split(' ').map(str::to_owned).collect();
        assert_eq!(ours, nix, "{attr}: output paths");
    }
    assert!(rows.len() >= 16, "only {} derivations", rows.len());
}
