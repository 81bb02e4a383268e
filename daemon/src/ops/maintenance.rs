//! VerifyStore and OptimiseStore: the store-wide checks of `nix-store
//! --verify` and `--optimise`, with the messages and verbosity levels
//! nix-daemon uses, and answers that are true of a block store.

use nix_formats::hash::{HashAlgo, Hasher};
use nix_formats::store_path::StoreDir;
use nix_formats::wire::Verbosity;
use store_ipfs::dag::DagReader;
use store_ipfs::store::Store;

use crate::session::{OpError, Session, chain, client_err};

/// One line of the op's log and the level it is shown at.
type Line = (Verbosity, String);

/// VerifyStore: every valid path must have its root block; with
/// `check_contents` its NAR (rebuilt from blocks, each checked against its
/// CID as it is read) must hash to the registered NAR hash. Nix's phases
/// are kept, with their messages: "checking link hashes..." covers Nix's
/// `.links` directory, which a block store does not have (identical data is
/// one block already), so that phase checks nothing. A damaged path is
/// reported and counted as an error. A damaged block is reported as Nix
/// reports a modified path, with the hash the stored bytes give. `repair`
/// cannot fetch a damaged path again without substituters, so the op fails
/// with Nix's `cannot repair path '…'` naming it (Nix's `repairPath` would
/// try to substitute it, then rebuild its deriver).
pub async fn verify_store(
    s: &mut Session,
    check_contents: bool,
    repair: bool,
) -> Result<(), OpError> {
    let sd = s.shared.store_dir.clone();
    let (lines, errors, damaged) = s
        .blocking(move |st, _| verify(st, &sd, check_contents))
        .await?;
    for (level, l) in lines {
        s.log_line(level, &l);
    }
    if repair {
        if let Some(first) = damaged.first() {
            // Nix's `repairPath` substitutes the path again or rebuilds its
            // deriver, and fails with these words when it can do neither.
            // There are no substituters yet, and rebuilding a valid path in
            // place is not done, so a damaged path cannot be repaired.
            return Err(client_err(format!("cannot repair path '{first}'")));
        }
    }
    s.reply(&errors)
}

/// What [`verify`] found: the log lines, whether anything is wrong, and the
/// paths whose contents are damaged.
type Found = (Vec<Line>, bool, Vec<String>);

fn verify(st: &Store, sd: &StoreDir, check_contents: bool) -> Result<Found, OpError> {
    let info = |l: &str| (Verbosity::Info, l.to_owned());
    let mut lines = vec![
        info("reading the Nix store..."),
        info("checking path existence..."),
    ];
    let mut errors = false;
    let mut damaged = Vec::new();
    let dag = DagReader::new(&st.blocks);
    let paths = st
        .catalogue
        .all_paths()
        .map_err(|e| client_err(chain(&e)))?;
    for (p, root) in &paths {
        if dag.kind(root).is_err() {
            lines.push((
                Verbosity::Error,
                format!(
                    "path '{}' disappeared, but it still has valid referrers!",
                    sd.display(p)
                ),
            ));
            errors = true;
        }
    }
    if !check_contents {
        return Ok((lines, errors, damaged));
    }
    lines.push(info("checking link hashes..."));
    lines.push(info("checking store hashes..."));
    for (p, root) in &paths {
        let shown = sd.display(p);
        lines.push((
            Verbosity::Talkative,
            format!("checking contents of '{shown}'"),
        ));
        let Some(rec) = st
            .catalogue
            .path_info(p)
            .map_err(|e| client_err(chain(&e)))?
        else {
            // Deleted by a concurrent GC since the listing: Nix ignores it too.
            continue;
        };
        let mut h = Hasher::new(HashAlgo::Sha256);
        match store_ipfs::nar_dag::export_nar(&dag, root, &mut h) {
            Ok(_) => {
                let got = h.finish();
                if got != rec.nar_hash {
                    damaged.push(shown.clone());
                    lines.push((
                        Verbosity::Error,
                        format!(
                            "path '{shown}' was modified! expected hash '{}', got '{}'",
                            rec.nar_hash.to_prefixed_nix32(),
                            got.to_prefixed_nix32()
                        ),
                    ));
                    errors = true;
                }
            }
            Err(e) => {
                // A block that does not match its CID: say what the stored
                // bytes hash to, in Nix's words, when they still form a NAR
                // (a damaged file's content); otherwise why not.
                let mut h = Hasher::new(HashAlgo::Sha256);
                let raw = DagReader::unverified(&st.blocks);
                let line = match store_ipfs::nar_dag::export_nar(&raw, root, &mut h) {
                    Ok(_) => format!(
                        "path '{shown}' was modified! expected hash '{}', got '{}'",
                        rec.nar_hash.to_prefixed_nix32(),
                        h.finish().to_prefixed_nix32()
                    ),
                    Err(_) => format!("error: path '{shown}' is corrupt: {}", chain(&e)),
                };
                lines.push((Verbosity::Error, line));
                damaged.push(shown.clone());
                errors = true;
            }
        }
    }
    Ok((lines, errors, damaged))
}

/// OptimiseStore: Nix replaces identical files by hard links and reports
/// what that freed. Here identical contents are already one block each, so
/// nothing is linked or freed, and the answer says exactly that, in Nix's
/// words; the reason is given at `-v`.
pub fn optimise_store(s: &mut Session) -> Result<(), OpError> {
    s.log_line(
        Verbosity::Talkative,
        "identical file contents are stored once already (content-addressed blocks); nothing to hard-link",
    );
    s.log_line(Verbosity::Info, "0.00 MiB freed by hard-linking 0 files");
    s.u64_reply(1)
}
