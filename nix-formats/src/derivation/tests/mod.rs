//! Unit tests: Nix 2.8 vectors, strictness, hashing, round-trip properties.
//! The test against the real `nix-instantiate` is `tests/derivation_nix.rs`.

mod hashing;
mod proptests;
mod strict;
mod vectors;

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::store_path::{StoreDir, StorePath};

pub(super) fn sd() -> StoreDir {
    StoreDir::default()
}

pub(super) fn sp(s: &str) -> StorePath {
    sd().parse_path(s).expect(s)
}

/// An in-memory store of derivations and a memo over it.
pub(super) type Memo = DrvHashMemo<BTreeMap<StorePath, Derivation>>;

pub(super) fn memo() -> Memo {
    DrvHashMemo::new(sd(), BTreeMap::new())
}

/// A derivation as `builtins.derivation` makes it: `env` plus `name`,
/// `system`, `builder`, one env var per output, paths filled in.
pub(super) fn instantiate(
    memo: &mut Memo,
    name: &str,
    outputs: &[&str],
    input_drvs: &[(&StorePath, &[&str])],
    input_srcs: &[&StorePath],
    args: &[&str],
    env: &[(&str, &str)],
) -> (StorePath, Derivation) {
    let mut drv = Derivation {
        outputs: outputs
            .iter()
            .map(|o| (o.to_string(), DerivationOutput::Deferred))
            .collect(),
        input_drvs: input_drvs
            .iter()
            .map(|(p, outs)| {
                (
                    (*p).clone(),
                    outs.iter().map(|o| o.to_string()).collect::<BTreeSet<_>>(),
                )
            })
            .collect(),
        input_srcs: input_srcs.iter().map(|p| (*p).clone()).collect(),
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: args.iter().map(|a| BString::from(*a)).collect(),
        env: env
            .iter()
            .map(|(k, v)| (BString::from(*k), BString::from(*v)))
            .collect(),
    };
    for (k, v) in [
        ("name", name),
        ("system", "x86_64-linux"),
        ("builder", "/bin/sh"),
    ] {
        drv.env.insert(k.into(), v.into());
    }
    drv.fill_input_addressed_outputs(&sd(), name, memo)
        .expect("outputs filled");
    add(memo, name, drv)
}

/// Registers `drv` in the memo's store under its computed `.drv` path.
pub(super) fn add(memo: &mut Memo, name: &str, drv: Derivation) -> (StorePath, Derivation) {
    let path = drv.drv_path(&sd(), name).expect("drv path");
    memo.loader_mut().insert(path.clone(), drv.clone());
    (path, drv)
}

/// Parses, checks that printing gives the same bytes, returns the value.
pub(super) fn reparse(text: &[u8]) -> Derivation {
    let drv = Derivation::from_aterm(text, &sd())
        .unwrap_or_else(|e| panic!("{e}: {}", text.escape_ascii()));
    assert_eq!(
        drv.to_aterm(&sd()).escape_ascii().to_string(),
        text.escape_ascii().to_string()
    );
    drv
}
