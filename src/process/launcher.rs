//! The one place that starts child processes.
//!
//! Every spawn runs on one thread that lives as long as rmanager, because
//! PR_SET_PDEATHSIG fires when the *thread* that cloned the child exits, not the process:
//! spawned from async-std's blocking pool, whose threads come and go, a child would be
//! killed at random. From this thread, each direct child is SIGKILLed by the kernel the
//! moment rmanager dies, however it dies, whether or not the watchdog is alive.
//!
//! The launcher also keeps the set of children that have an owner (a [`super::Child`]),
//! so that the orphan reaper (`orphans.rs`) reaps only what nobody else will.

use std::collections::HashSet;
use std::io;
use std::sync::mpsc;
use std::sync::{LazyLock, Mutex, MutexGuard, OnceLock};

use crate::runtime::channel;

use super::spawn::{self, Spawned};
use super::{Command, Watchdog};

type Reply = channel::Sender<io::Result<Spawned>>;

/// The launcher thread's queue.
static QUEUE: OnceLock<Mutex<mpsc::Sender<(Command, Reply)>>> = OnceLock::new();

/// Children that an owner will reap; held while spawning, so that the orphan reaper never
/// sees a new child before it is listed here.
static OWNED: LazyLock<Mutex<HashSet<u32>>> = LazyLock::new(Default::default);

pub(super) fn owned() -> MutexGuard<'static, HashSet<u32>> {
    OWNED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks a child that was started some other way (the watchdog's fork) as having an owner.
pub(super) fn claim(pid: u32) {
    owned().insert(pid);
}

/// Called by an owner once it has reaped its child.
pub(super) fn release(pid: u32) {
    owned().remove(&pid);
}

/// Starts `command` from the launcher thread, recorded by `watchdog` when one is given
/// (the child records its own group before it runs its program). The child dies with
/// rmanager.
pub(super) async fn spawn(
    mut command: Command,
    watchdog: Option<&Watchdog>,
) -> io::Result<Spawned> {
    let registration = watchdog.map(|w| w.register(&mut command));
    let queue = QUEUE.get_or_init(|| {
        let (sender, requests) = mpsc::channel::<(Command, Reply)>();
        std::thread::Builder::new()
            .name("rmanager-launcher".to_owned())
            .spawn(move || launcher(requests))
            .expect("a thread for the launcher");
        Mutex::new(sender)
    });
    let (reply, result) = channel::bounded(1);
    let sent = queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply));
    let result = match sent {
        Ok(()) => result
            .recv()
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the launcher thread is gone"))),
        Err(_) => Err(io::Error::other("the launcher thread is gone")),
    };
    match (result, watchdog, registration) {
        (Err(e), Some(watchdog), Some(registration)) => {
            watchdog.cancel(registration);
            Err(match e.raw_os_error() {
                Some(libc::EPIPE) => io::Error::other(
                    "the watchdog process is gone, so nothing would stop this process should rmanager die",
                ),
                _ => e,
            })
        }
        (result, ..) => result,
    }
}

/// The launcher thread: spawns each command it is sent, with every signal blocked (as
/// `spawn::spawn` requires; signals go to rmanager's other threads).
fn launcher(requests: mpsc::Receiver<(Command, Reply)>) {
    // SAFETY: changes this thread's own signal mask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
    let mut stack = vec![0u8; spawn::STACK];
    for (command, reply) in requests {
        let mut owned = owned();
        let result = spawn::spawn(&command, &mut stack);
        if let Ok(child) = &result {
            owned.insert(child.pid);
        }
        drop(owned);
        let _ = reply.try_send(result);
    }
}
