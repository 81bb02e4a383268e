//! Who is told, in this process, that the set of store paths changed (a
//! path became valid or invalid, a leftover came or went): the mounted
//! store views, whose root listing the kernel caches. The catalogue calls
//! [`paths_changed`] after each such commit. Views in other processes see
//! the change when their root's attributes time out (see `fuse`).

use std::sync::{Arc, Mutex, Weak};

/// What a listener does when the paths change.
pub type Listener = dyn Fn() + Send + Sync;

/// Listeners, each held weakly: one whose handle is dropped is skipped
/// and then forgotten.
struct Listeners(Mutex<Vec<Weak<Listener>>>);

impl Listeners {
    const fn new() -> Self {
        Listeners(Mutex::new(Vec::new()))
    }

    fn subscribe(&self, listener: &Arc<Listener>) {
        let mut all = self.0.lock().expect("listeners lock");
        all.retain(|l| l.strong_count() > 0);
        all.push(Arc::downgrade(listener));
    }

    fn notify(&self) {
        let live: Vec<Arc<Listener>> = {
            let all = self.0.lock().expect("listeners lock");
            if all.is_empty() {
                return;
            }
            all.iter().filter_map(Weak::upgrade).collect()
        };
        for l in live {
            l();
        }
    }
}

static LISTENERS: Listeners = Listeners::new();

/// Calls `listener` after every change of the store paths, for as long as
/// the caller keeps it.
pub fn subscribe(listener: &Arc<Listener>) {
    LISTENERS.subscribe(listener);
}

/// Tells every live listener that the store paths changed.
pub fn paths_changed() {
    LISTENERS.notify();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A listener hears each change while its handle lives, and not after.
    #[test]
    fn listeners_hear_changes_while_subscribed() {
        let listeners = Listeners::new();
        let heard = Arc::new(AtomicUsize::new(0));
        let h = heard.clone();
        let handle: Arc<Listener> = Arc::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        listeners.subscribe(&handle);
        listeners.notify();
        listeners.notify();
        assert_eq!(heard.load(Ordering::SeqCst), 2);
        drop(handle);
        listeners.notify();
        assert_eq!(heard.load(Ordering::SeqCst), 2);
        assert!(listeners.0.lock().expect("lock")[0].upgrade().is_none());
    }
}
