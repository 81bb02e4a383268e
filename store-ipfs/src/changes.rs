//! Who is told, in this process, that the set of store paths changed (a
//! path became valid or invalid, a leftover came, went or was replaced):
//! the mounted store views, whose root listing and entries the kernel
//! caches. The catalogue calls [`paths_changed`] after each such commit,
//! naming the paths whose old entries must go. Views in other processes see
//! the change when their root's attributes and entries time out (see
//! `fuse`).

use std::sync::{Arc, Mutex, Weak};

use nix_formats::store_path::StorePath;

/// What a listener does when the paths change; it is given the paths that
/// went away or now show something else (none when paths were only added).
pub type Listener = dyn Fn(&[StorePath]) + Send + Sync;

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

    fn notify(&self, gone: &[StorePath]) {
        let live: Vec<Arc<Listener>> = {
            let all = self.0.lock().expect("listeners lock");
            if all.is_empty() {
                return;
            }
            all.iter().filter_map(Weak::upgrade).collect()
        };
        for l in live {
            l(gone);
        }
    }
}

static LISTENERS: Listeners = Listeners::new();

/// Calls `listener` after every change of the store paths, for as long as
/// the caller keeps it.
pub fn subscribe(listener: &Arc<Listener>) {
    LISTENERS.subscribe(listener);
}

/// Tells every live listener that the store paths changed, and which
/// went away or were replaced.
pub fn paths_changed(gone: &[StorePath]) {
    LISTENERS.notify(gone);
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
        let handle: Arc<Listener> = Arc::new(move |gone: &[StorePath]| {
            h.fetch_add(1 + gone.len(), Ordering::SeqCst);
        });
        listeners.subscribe(&handle);
        listeners.notify(&[]);
        let p = StorePath::from_base_name("00000000000000000000000000000000-gone").expect("path");
        listeners.notify(&[p]);
        assert_eq!(heard.load(Ordering::SeqCst), 3, "1 + (1 + one path)");
        drop(handle);
        listeners.notify(&[]);
        assert_eq!(heard.load(Ordering::SeqCst), 3);
        assert!(listeners.0.lock().expect("lock")[0].upgrade().is_none());
    }
}
