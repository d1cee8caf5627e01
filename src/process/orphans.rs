//! Orphans: what escapes a process group by daemonizing (setsid, a double fork) comes
//! back to rmanager as a child subreaper, is stopped with the rest at shutdown, and is
//! reaped, so that rmanager running as PID 1 in a container leaves no zombies.
//!
//! Only the command line makes itself a subreaper (see [`Orphans::adopt`]): a test binary
//! that uses the library has children of its own to wait for, which must not be reaped
//! here.
//!
//! An adopted orphan is a child of ours that no [`super::Child`] owns. It is reaped (and
//! so may be signalled) only under the launcher's lock: holding that lock while an orphan
//! is unreaped proves its pid, and the group it is in, are still what we saw.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::channel::{self, Receiver, Sender};
use async_io::Async;
use futures_lite::{StreamExt, future};
use signal_hook::consts::SIGCHLD;

use super::launcher;
use super::linux::{self, Signal};
use crate::latch::Latch;

/// rmanager as a child subreaper: the orphans of everything it started become its own.
pub struct Orphans {
    /// A sweep found something new: an orphan adopted or ended.
    swept: Receiver<()>,
}

impl Orphans {
    /// Makes this process a child subreaper and starts reaping orphans as they end.
    pub fn adopt() -> io::Result<Arc<Orphans>> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
        let mut sigchld = crate::runtime::signals::Signals::new([SIGCHLD])?;
        let (kick, swept) = channel::bounded(1);
        crate::runtime::spawn(async move {
            while sigchld.next().await.is_some() {
                sweep(&launcher::owned(), Some(&kick));
            }
        });
        Ok(Arc::new(Orphans { swept }))
    }

    /// Stops every adopted orphan, and the group it is in: SIGTERM, then SIGKILL after
    /// `grace` (or at once when `force` is set), until no orphan is left. Orphans adopted
    /// meanwhile (the children of one that ended) are stopped too.
    pub async fn stop(&self, grace: Duration, force: &Latch<()>) {
        let deadline = Instant::now() + grace;
        let mut told: HashSet<u32> = HashSet::new();
        loop {
            let killing = force.get().is_some() || Instant::now() >= deadline;
            let left = {
                let owned = launcher::owned();
                let left = sweep(&owned, None);
                for &pid in &left {
                    if killing {
                        signal_with_group(pid, Signal::KILL);
                    } else if told.insert(pid) {
                        crate::say!("stopping {}, which left its process group", describe(pid));
                        signal_with_group(pid, Signal::TERM);
                        signal_with_group(pid, Signal::CONT);
                    }
                }
                left
            };
            if left.is_empty() {
                return;
            }
            let pidfds: Vec<_> = left
                .iter()
                .filter_map(|&pid| Async::new(linux::pidfd(pid).ok()?).ok())
                .collect();
            let ended = future::race(super::group::any_ended(&pidfds), async {
                let _ = self.swept.recv().await;
            });
            let limit = async {
                if killing {
                    future::pending::<()>().await;
                }
                crate::runtime::sleep(deadline.saturating_duration_since(Instant::now())).await;
            };
            future::race(ended, future::race(limit, force.wait())).await;
        }
    }
}

/// Reaps the orphans that have ended and returns the live ones. Called with the launcher's
/// lock held (`owned`), so that no owned child is taken for an orphan. `kick` hears of
/// every orphan reaped (the SIGCHLD task tells a waiting `stop`).
fn sweep(owned: &HashSet<u32>, kick: Option<&Sender<()>>) -> Vec<u32> {
    let mut live = Vec::new();
    for pid in linux::children() {
        if owned.contains(&pid) {
            continue;
        }
        match linux::stat(pid) {
            Some(stat) if !stat.zombie => live.push(pid),
            _ => {
                let _ = linux::reap_pid(pid);
                if let Some(kick) = kick {
                    let _ = kick.try_send(());
                }
            }
        }
    }
    live
}

/// Signals an unreaped orphan and the group it is in, unless that group is rmanager's own
/// (a fixture command's orphans are in it).
fn signal_with_group(pid: u32, signal: Signal) {
    let _ = linux::signal_process(pid, signal);
    let own_group = rustix::process::getpgrp().as_raw_pid() as u32;
    if let Some(stat) = linux::stat(pid) {
        if stat.pgrp != own_group && stat.pgrp != 0 {
            let _ = linux::signal_group(stat.pgrp, signal);
        }
    }
}

fn describe(pid: u32) -> String {
    match linux::stat(pid) {
        Some(stat) => format!("{} ({pid})", stat.name),
        None => format!("process {pid}"),
    }
}
