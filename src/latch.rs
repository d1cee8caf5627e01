//! A value set once that any number of tasks can await: a process's end, the outcome of a
//! launch, the start of a shutdown.

use std::sync::{Arc, Mutex, OnceLock};

use crate::runtime::channel::{self, Receiver, Sender};

pub struct Latch<T> {
    value: OnceLock<T>,
    // Never carries a message: dropping the sender closes the channel and wakes every waiter.
    open: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
}

impl<T: Clone> Latch<T> {
    pub fn new() -> Self {
        let (sender, closed) = channel::bounded(1);
        Latch {
            value: OnceLock::new(),
            open: Mutex::new(Some(sender)),
            closed,
        }
    }

    /// Sets the value and wakes the waiters; a second set is ignored. Returns whether this
    /// call set it.
    pub fn set(&self, value: T) -> bool {
        if self.value.set(value).is_err() {
            return false;
        }
        self.open.lock().unwrap_or_else(|e| e.into_inner()).take();
        true
    }

    pub fn get(&self) -> Option<T> {
        self.value.get().cloned()
    }

    /// Waits until the value is set.
    pub async fn wait(&self) -> T {
        let _ = self.closed.recv().await;
        self.value
            .get()
            .cloned()
            .expect("set before the channel closes")
    }
}

/// Sets its latch to a fallback value when dropped before the latch was set: held by the
/// task that should set the latch, so that the task cannot end, even by a panic, and leave
/// its waiters waiting.
pub struct Fallback<T: Clone> {
    latch: Arc<Latch<T>>,
    value: Option<T>,
}

impl<T: Clone> Fallback<T> {
    pub fn new(latch: Arc<Latch<T>>, value: T) -> Self {
        Fallback {
            latch,
            value: Some(value),
        }
    }
}

impl<T: Clone> Drop for Fallback<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.latch.set(value);
        }
    }
}

impl<T: Clone> Default for Latch<T> {
    fn default() -> Self {
        Self::new()
    }
}
