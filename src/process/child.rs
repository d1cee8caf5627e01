//! A child process that is provably ours: held by a pidfd and not reaped until its owner
//! says so, so that its pid (and, for a group leader, its group id) cannot be reused while
//! rmanager may still signal it.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use async_io::Async;

use super::linux::{self, Signal};
use super::spawn::{Pipes, Spawned};
use super::{Command, Watchdog, launcher};
use crate::latch::{Fallback, Latch};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    Exited(i32),
    Signaled(i32),
}

impl ProcessEnd {
    /// The code pymanager reports: the exit code, or the negative signal number.
    pub fn code(self) -> i32 {
        match self {
            ProcessEnd::Exited(code) => code,
            ProcessEnd::Signaled(signal) => -signal,
        }
    }

    /// The end a pymanager code stands for.
    pub fn from_code(code: i32) -> ProcessEnd {
        match code {
            ..0 => ProcessEnd::Signaled(-code),
            code => ProcessEnd::Exited(code),
        }
    }
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ProcessEnd::Exited(code) => write!(f, "exited with code {code}"),
            ProcessEnd::Signaled(signal) => write!(f, "was killed by signal {signal}"),
        }
    }
}

/// A started child: its pid, its exit (awaited, never polled), and whether it was reaped.
pub struct Child {
    pid: u32,
    pidfd: Arc<Async<OwnedFd>>,
    /// Set when it has ended; it stays unreaped until `reap`.
    end: Arc<Latch<ProcessEnd>>,
    /// Whether it has been reaped; signals are sent under this lock, so never after.
    reaped: Arc<Mutex<bool>>,
}

impl Child {
    /// Starts `command` (see `launcher`) and begins to await its end.
    pub async fn spawn(
        command: Command,
        watchdog: Option<&Watchdog>,
    ) -> io::Result<(Child, Pipes)> {
        let Spawned { pid, pidfd, pipes } = launcher::spawn(command, watchdog).await?;
        let pidfd = match Async::new(pidfd) {
            Ok(pidfd) => Arc::new(pidfd),
            // Unreaped, so the pid still names our child.
            Err(e) => {
                let _ = linux::signal_process(pid, Signal::KILL);
                let _ = linux::reap_pid(pid);
                launcher::release(pid);
                return Err(e);
            }
        };
        let end = Arc::new(Latch::new());
        let (watch, set) = (pidfd.clone(), end.clone());
        crate::runtime::spawn(async move {
            let _fallback = Fallback::new(set.clone(), ProcessEnd::Exited(-1));
            let ended = async {
                watch.readable().await?;
                linux::peek_end(watch.get_ref())
            };
            let end = match ended.await {
                Ok(Some(end)) => end,
                // Readable means ended; anything else is a kernel that cannot tell.
                Ok(None) | Err(_) => {
                    log::error!("lost track of process {pid}");
                    ProcessEnd::Exited(-1)
                }
            };
            set.set(end);
        });
        Ok((
            Child {
                pid,
                pidfd,
                end,
                reaped: Arc::new(Mutex::new(false)),
            },
            pipes,
        ))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until it has ended (it is not reaped).
    pub async fn ended(&self) -> ProcessEnd {
        self.end.wait().await
    }

    pub fn end(&self) -> Option<ProcessEnd> {
        self.end.get()
    }

    /// Sends `signal` to it, unless it has been reaped.
    pub fn signal(&self, signal: Signal) {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        if !*reaped {
            if let Err(e) = linux::signal_process(self.pid, signal) {
                log::warn!("cannot signal process {}: {e}", self.pid);
            }
        }
    }

    /// Sends `signal` to the group it leads, unless it has been reaped: while it is
    /// unreaped, even a zombie, the group id cannot be reused.
    pub fn signal_group(&self, signal: Signal) {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        if !*reaped {
            if let Err(e) = linux::signal_group(self.pid, signal) {
                log::warn!("cannot signal process group {}: {e}", self.pid);
            }
        }
    }

    /// Reaps it once it has ended: its pid is free from then on.
    pub async fn reap(&self) {
        self.ended().await;
        reap(&self.pidfd, &self.reaped, self.pid);
    }
}

fn reap(pidfd: &Async<OwnedFd>, reaped: &Mutex<bool>, pid: u32) {
    let mut reaped = reaped.lock().unwrap_or_else(|e| e.into_inner());
    if !*reaped {
        if let Err(e) = linux::reap(pidfd.get_ref()) {
            log::warn!("cannot reap process {pid}: {e}");
        }
        *reaped = true;
        launcher::release(pid);
    }
}

impl Drop for Child {
    /// A child dropped before it was reaped is reaped once it ends, so no zombie remains.
    fn drop(&mut self) {
        if *self.reaped.lock().unwrap_or_else(|e| e.into_inner()) {
            return;
        }
        let (pidfd, end, reaped, pid) = (
            self.pidfd.clone(),
            self.end.clone(),
            self.reaped.clone(),
            self.pid,
        );
        crate::runtime::spawn(async move {
            end.wait().await;
            reap(&pidfd, &reaped, pid);
        });
    }
}
