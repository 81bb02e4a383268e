//! Sandbox helpers started ahead of need. Starting `pkgchain-sandbox`
//! (fork, exec, loading the binary) takes about a millisecond, which in a
//! chain of derivations lies between one build's end and the next one's
//! start. A helper waits for its spec on standard input before it does
//! anything, so one can be started early: a build takes a waiting helper
//! and starts the next in the background, off the build's path.
//!
//! At most [`KEEP`] wait at a time; each is an idle process blocked in
//! `read` (about 1 MB resident). They are killed when the daemon drops the
//! pool, and exit by themselves (reading an empty spec) if it dies.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::process::{Child, Command};

/// Helpers kept waiting: one per build slot of a two-core machine, the
/// common `max-jobs`; more slots take fresh helpers once these are used.
pub const KEEP: usize = 2;

/// The waiting helpers.
#[derive(Debug)]
pub struct Helpers {
    path: PathBuf,
    idle: Mutex<Vec<Child>>,
}

impl Helpers {
    pub fn new(path: PathBuf) -> Self {
        Helpers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The helper program.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// A started helper, spec not sent yet: a waiting one if one is still
    /// alive, a new one otherwise. Starts a replacement in the background.
    /// Must be called from within the runtime.
    pub fn take(self: &Arc<Self>) -> std::io::Result<Child> {
        let waiting = {
            let mut idle = self.lock();
            let mut found = None;
            while let Some(mut c) = idle.pop() {
                if matches!(c.try_wait(), Ok(None)) {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let child = match waiting {
            Some(c) => c,
            None => self.start()?,
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.refill());
        Ok(child)
    }

    /// Starts helpers until [`KEEP`] wait (or one fails to start: the next
    /// build then reports why).
    fn refill(&self) {
        while self.lock().len() < KEEP {
            let Ok(c) = self.start() else { return };
            let mut idle = self.lock();
            if idle.len() < KEEP {
                idle.push(c);
            }
        }
    }

    fn start(&self) -> std::io::Result<Child> {
        Command::new(&self.path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Child>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many helpers wait now.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn helpers_wait_ahead_and_dead_ones_are_skipped() {
        // `cat` stands in for the helper: it waits for its standard input.
        let helpers = Arc::new(Helpers::new(PathBuf::from("/bin/cat")));
        let first = helpers.take().expect("started");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while helpers.waiting() < KEEP {
            assert!(
                std::time::Instant::now() < deadline,
                "no helpers started ahead"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // A waiting helper that died is not handed out.
        let ids: Vec<u32> = {
            let idle = helpers.lock();
            idle.iter().filter_map(Child::id).collect()
        };
        assert_eq!(ids.len(), KEEP);
        let victim = ids[KEEP - 1];
        std::process::Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .expect("kill");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut second = helpers.take().expect("taken");
        assert_ne!(second.id(), Some(victim));
        assert!(ids.contains(&second.id().expect("alive")));
        // It is a working helper: what it is sent comes back.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stdin = second.stdin.take().expect("stdin");
        stdin.write_all(b"spec").await.expect("write");
        drop(stdin);
        let mut out = String::new();
        second
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .await
            .expect("read");
        assert_eq!(out, "spec");
        drop(first);
    }
}
