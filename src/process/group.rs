//! A process group that is provably ours, and that ends only when it is empty.
//!
//! The leader is spawned into a group of its own (pgid = its pid) and stays unreaped,
//! even as a zombie, until every other member of the group has gone too: an unreaped
//! leader pins the group id, so a signal to `-pgid` can only reach this group. Once the
//! group is empty the watchdog forgets it, and only then is the leader reaped.
//!
//! Members are watched through pidfds, so emptiness is awaited, not polled: after the
//! leader ends, /proc says who is left in the group, and each of those is awaited until
//! none is left.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_io::Async;
use futures_lite::future;

use super::child::{Child, ProcessEnd};
use super::linux::{self, Signal};
use super::spawn::Pipes;
use super::{Command, Stdio, Watchdog};
use crate::latch::{Fallback, Latch};

/// How a group was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// It emptied within its grace time (or had already).
    Graceful,
    /// These members (`name (pid)`) were still there when the grace time ran out, and
    /// were killed.
    AfterGrace { killed: Vec<String> },
    /// It was killed at once, on request.
    Forced,
}

/// How long after an event (a member ended, a signal was sent) the group is looked at
/// again even without another event: a member can leave the group (setsid, as a daemon
/// does right after its parent exits) without ending, which no event announces.
const SETTLE: [Duration; 4] = [
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
];

/// A running (or ended) process group and its leader.
pub struct ProcessGroup {
    leader: Arc<Child>,
    watchdog: Option<Arc<Watchdog>>,
    /// Set, with the leader's end, once the group is empty and the leader reaped.
    empty: Arc<Latch<ProcessEnd>>,
    /// Tells the watch task that a signal went out: look at the members again soon.
    nudge: crate::runtime::channel::Sender<()>,
}

impl ProcessGroup {
    /// Starts `command` as the leader of a new group, recorded by `watchdog` when given.
    pub async fn spawn(
        command: Command,
        watchdog: Option<Arc<Watchdog>>,
    ) -> io::Result<(ProcessGroup, Pipes)> {
        // On a task of its own, so that a caller that gives up (a shutdown, a check attempt
        // cut short) cannot cut a spawn in half: a group nobody received is dropped, which
        // kills it, and its watch task still reaps it.
        let (sender, receiver) = crate::runtime::channel::bounded(1);
        crate::runtime::spawn(async move {
            let _ = sender.send(Self::spawn_now(command, watchdog).await).await;
        });
        receiver
            .recv()
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the spawning task ended")))
    }

    async fn spawn_now(
        mut command: Command,
        watchdog: Option<Arc<Watchdog>>,
    ) -> io::Result<(ProcessGroup, Pipes)> {
        command.new_group = true;
        let (leader, pipes) = Child::spawn(command, watchdog.as_deref()).await?;
        let leader = Arc::new(leader);
        let empty = Arc::new(Latch::new());
        let (nudge, nudged) = crate::runtime::channel::bounded(1);
        crate::runtime::spawn(watch(
            leader.clone(),
            empty.clone(),
            nudged,
            watchdog.clone(),
        ));
        Ok((
            ProcessGroup {
                leader,
                watchdog,
                empty,
                nudge,
            },
            pipes,
        ))
    }

    /// The group id, which is the leader's pid.
    pub fn pgid(&self) -> u32 {
        self.leader.pid()
    }

    /// How the leader ended, once it has.
    pub fn leader_end(&self) -> Option<ProcessEnd> {
        self.leader.end()
    }

    /// Waits until the leader has ended; other members may live on.
    pub async fn leader_ended(&self) -> ProcessEnd {
        self.leader.ended().await
    }

    /// The leader's end, once the whole group has gone.
    pub fn emptied(&self) -> Option<ProcessEnd> {
        self.empty.get()
    }

    /// Waits until the whole group has gone; returns how the leader ended.
    pub async fn wait_empty(&self) -> ProcessEnd {
        self.empty.wait().await
    }

    /// The live members, leader included while it lives.
    pub fn members(&self) -> Vec<linux::Stat> {
        members_of(self.pgid(), self.watchdog.as_deref())
    }

    /// Signals every member, unless the group has emptied (its id may be reused then).
    pub fn signal(&self, signal: Signal) {
        self.leader.signal_group(signal);
        let _ = self.nudge.try_send(());
    }

    /// Stops the whole group: SIGTERM (and SIGCONT, so a stopped member can act on it),
    /// then SIGKILL to whatever is left after `grace`, or at once when `force` is set.
    /// Returns once the group is empty.
    pub async fn terminate(&self, grace: Duration, force: &Latch<()>) -> Stop {
        if self.emptied().is_some() {
            return Stop::Graceful;
        }
        if grace.is_zero() || force.get().is_some() {
            self.signal(Signal::KILL);
            self.wait_empty().await;
            return Stop::Forced;
        }
        self.signal(Signal::TERM);
        self.signal(Signal::CONT);
        let waited = future::race(
            async {
                self.wait_empty().await;
                None
            },
            future::race(
                async {
                    crate::runtime::sleep(grace).await;
                    Some(false)
                },
                async {
                    force.wait().await;
                    Some(true)
                },
            ),
        )
        .await;
        let stop = match waited {
            None => return Stop::Graceful,
            Some(true) => Stop::Forced,
            Some(false) => Stop::AfterGrace {
                killed: self
                    .members()
                    .into_iter()
                    .map(|m| format!("{} ({})", m.name, m.pid))
                    .collect(),
            },
        };
        self.signal(Signal::KILL);
        self.wait_empty().await;
        stop
    }
}

impl Drop for ProcessGroup {
    /// A group dropped before it emptied (a check attempt cut short) is killed; the watch
    /// task still reaps it.
    fn drop(&mut self) {
        if self.emptied().is_none() {
            self.signal(Signal::KILL);
        }
    }
}

/// The group's life after spawn: await the leader, then every other member, then forget
/// the group and reap the leader.
async fn watch(
    leader: Arc<Child>,
    empty: Arc<Latch<ProcessEnd>>,
    nudged: crate::runtime::channel::Receiver<()>,
    watchdog: Option<Arc<Watchdog>>,
) {
    // A panic here (a bug) is said by `runtime::spawn`; the group's owner goes on.
    let _fallback = Fallback::new(empty.clone(), ProcessEnd::Exited(-1));
    let end = leader.ended().await;
    let pgid = leader.pid();
    let mut settle = SETTLE.iter();
    loop {
        let left = member_pidfds(pgid, watchdog.as_deref());
        if left.is_empty() {
            break;
        }
        let event = async {
            future::race(any_ended(&left), async {
                // Once the group's owner is gone, only ends wake this task.
                if nudged.recv().await.is_err() {
                    future::pending::<()>().await;
                }
            })
            .await;
            true
        };
        let look_again = async {
            match settle.next() {
                Some(&delay) => crate::runtime::sleep(delay).await,
                None => future::pending().await,
            }
            false
        };
        if future::race(event, look_again).await {
            settle = SETTLE.iter();
        }
    }
    // Forgotten before the leader is reaped: should rmanager die in between, the watchdog
    // must not kill a group id that may be someone else's by then.
    if let Some(watchdog) = watchdog {
        watchdog.forget(pgid);
    }
    leader.reap().await;
    empty.set(end);
}

/// The live members of group `pgid`, looked for in the environment's cgroup when it has
/// one.
fn members_of(pgid: u32, watchdog: Option<&Watchdog>) -> Vec<linux::Stat> {
    linux::group_members(pgid, watchdog.and_then(Watchdog::environment_pids))
}

/// A pidfd for each live member of the group (the leader has ended by now).
fn member_pidfds(pgid: u32, watchdog: Option<&Watchdog>) -> Vec<Async<std::os::fd::OwnedFd>> {
    members_of(pgid, watchdog)
        .into_iter()
        .filter_map(|member| {
            let pidfd = linux::pidfd(member.pid).ok()?;
            // The pid may have ended and been reused between the scan and pidfd_open: the
            // pidfd is only trusted if the pid is still a live member now.
            let now = linux::stat(member.pid)?;
            (now.pgrp == pgid && !now.zombie).then_some(())?;
            Async::new(pidfd).ok()
        })
        .collect()
}

/// Waits until one of these processes has ended.
pub(super) async fn any_ended(pidfds: &[Async<std::os::fd::OwnedFd>]) {
    let mut waits: Vec<Pin<Box<dyn Future<Output = io::Result<()>> + Send + '_>>> = pidfds
        .iter()
        .map(|pidfd| Box::pin(pidfd.readable()) as Pin<Box<dyn Future<Output = _> + Send>>)
        .collect();
    future::poll_fn(|cx| {
        for wait in &mut waits {
            if wait.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}

/// How a short-lived command ended and what it printed.
pub struct Finished {
    pub end: ProcessEnd,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The most of each stream [`run_to_end`] keeps; the rest is read and dropped.
const KEEP: usize = 1 << 20;

/// Runs `command` in a group of its own until it ends, collecting its output (stdin is
/// empty). What it left running in its group is killed when it ends: it may hold the
/// pipes open. Dropping the future kills the group.
pub async fn run_to_end(
    mut command: Command,
    watchdog: Option<Arc<Watchdog>>,
) -> io::Result<Finished> {
    command
        .stdin(Stdio::Null)
        .stdout(Stdio::Piped)
        .stderr(Stdio::Piped);
    let (group, pipes) = ProcessGroup::spawn(command, watchdog).await?;
    let (Some(stdout), Some(stderr)) = (pipes.stdout, pipes.stderr) else {
        return Err(io::Error::other("no pipes to the child"));
    };
    let (stdout, stderr) = (Async::new(stdout)?, Async::new(stderr)?);
    let ended = async {
        let end = group.leader_ended().await;
        group.signal(Signal::KILL);
        end
    };
    let ((stdout, stderr), end) = future::zip(future::zip(keep(stdout), keep(stderr)), ended).await;
    Ok(Finished {
        end,
        stdout,
        stderr,
    })
}

/// Reads a stream to its end, keeping the first [`KEEP`] bytes.
async fn keep(mut stream: impl futures_lite::AsyncRead + Unpin) -> Vec<u8> {
    use futures_lite::AsyncReadExt;
    let (mut kept, mut chunk) = (Vec::new(), vec![0; 16 * 1024]);
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        let room = KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
    kept
}
