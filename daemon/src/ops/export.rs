//! Ops that send a path's contents: NarFromPath (the NAR after
//! STDERR_LAST) and ExportPath (the export format through STDERR_WRITE).
//!
//! The NAR is made from blocks on a blocking thread and reaches the socket
//! through a bounded channel ([`payload::download`]): memory stays at a
//! few chunks whatever the path's size, and a client that stops reading
//! holds up only its own connection.

use nix_formats::store_path::StorePath;
use nix_formats::wire::StderrMsg;
use store_ipfs::catalogue::PathRecord;
use store_ipfs::dag::DagReader;
use tokio::sync::mpsc;

use super::query::{cat_err, not_valid};
use crate::io::WireIoError;
use crate::payload::{self, ChannelWriter};
use crate::session::{OpError, Session, chain};

/// The record of a valid path, or the error Nix gives for an invalid one.
async fn record(s: &mut Session, p: StorePath) -> Result<PathRecord, OpError> {
    let sd = s.shared.store_dir.clone();
    s.blocking(move |st, _| {
        st.catalogue
            .path_info(&p)
            .map_err(cat_err)?
            .ok_or_else(|| not_valid(&sd, &p))
    })
    .await
}

/// Runs `produce` on a blocking thread with a writer whose chunks `each`
/// turns into bytes for the client, as they come (queued in the session's
/// output, or handed back to go to the socket as they are). Once bytes
/// have gone out, a failure cannot be reported in the protocol any more:
/// it ends the connection.
async fn stream(
    s: &mut Session,
    produce: impl FnOnce(&store_ipfs::store::Store, &mut ChannelWriter) -> Result<(), String>
    + Send
    + 'static,
    mut each: impl FnMut(&mut Session, Vec<u8>) -> Option<Vec<u8>>,
) -> Result<(), OpError> {
    let store = s.store()?;
    let (mut w, mut rx): (ChannelWriter, mpsc::Receiver<Vec<u8>>) = payload::download();
    let work = tokio::task::spawn_blocking(move || {
        let st = store.lock().expect("store lock");
        produce(&st, &mut w)?;
        std::io::Write::flush(&mut w).map_err(|e| e.to_string())
    });
    while let Some(chunk) = rx.recv().await {
        match each(s, chunk) {
            Some(raw) => s.wire.write_direct(&raw).await,
            None => s.wire.flush().await,
        }
        .map_err(WireIoError::from)?;
    }
    let cut_short = |why: String| {
        OpError::Fatal(WireIoError::Io(std::io::Error::other(format!(
            "sending a path was cut short: {why}"
        ))))
    };
    match work.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(cut_short(why)),
        Err(e) => Err(cut_short(e.to_string())),
    }
}

/// Writes the NAR of the DAG at `root`.
fn nar(
    st: &store_ipfs::store::Store,
    root: &cid::Cid,
    w: &mut ChannelWriter,
) -> Result<(), String> {
    store_ipfs::nar_dag::export_nar(&DagReader::new(&st.blocks), root, w)
        .map(drop)
        .map_err(|e| chain(&e))
}

pub async fn nar_from_path(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let rec = record(s, p).await?;
    s.log(&StderrMsg::Last);
    stream(
        s,
        move |st, w| nar(st, &rec.root, w),
        |_, chunk| Some(chunk),
    )
    .await
}

/// ExportPath (clients before 1.17): the export format via STDERR_WRITE,
/// without the stream's end marker.
pub async fn export_path(s: &mut Session, p: StorePath) -> Result<(), OpError> {
    let rec = record(s, p).await?;
    let sd = s.shared.store_dir.clone();
    stream(
        s,
        move |st, w| {
            use nix_formats::export::{write_item_head, write_item_tail};
            write_item_head(&mut *w).map_err(|e| e.to_string())?;
            nar(st, &rec.root, w)?;
            write_item_tail(&sd, &rec.path, &rec.references, rec.deriver.as_ref(), w)
                .map_err(|e| e.to_string())
        },
        |s, chunk| {
            s.log(&StderrMsg::Write(chunk));
            None
        },
    )
    .await?;
    s.u64_reply(1)
}
