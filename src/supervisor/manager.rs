//! The handle to a running environment: what the command line, the control API and Rust
//! test suites use. It reads the snapshot and sends requests to the coordinator; it never
//! waits for a job.

use std::sync::Arc;

use crate::runtime::channel::{self, Sender};

use super::context::Context;
use super::coordinator::{self, Outcome, Request};
use super::snapshot::Snapshot;
use super::{ManagerStatus, ProcessState, RestartError};
use crate::error::Error;
use crate::latch::Latch;
use crate::process::{Orphans, Watchdog};
use crate::spec::ManagerSpec;

/// A running environment. Dropping it before it has shut down starts a graceful shutdown
/// in the background.
///
/// ```
/// # async_std::task::block_on(async {
/// use rmanager::supervisor::{Manager, RunState};
///
/// let spec = rmanager::ManagerSpec::load_str(r#"{"processes": {
///     "setup": {"executable": "true", "verifier": {"type": "exited"}},
///     "service": {"executable": "sleep", "arguments": ["60"]}
/// }}"#)?;
/// let manager = Manager::start(spec)?;
/// manager.ready().await?;
///
/// let service = manager.find("service").expect("a process of that name");
/// let before = manager.process(service).unwrap().run;
/// let after = manager.restart(service).await?.run;
/// assert!(matches!(after, RunState::Running { .. }));
/// assert_ne!(before, after, "a new pid");
///
/// manager.shutdown();
/// manager.wait().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Manager {
    cx: Arc<Context>,
    requests: Sender<Request>,
    outcome: Arc<Outcome>,
}

impl Manager {
    /// Starts launching the environment, in the background: await [`Manager::ready`] for
    /// its outcome.
    pub fn start(spec: ManagerSpec) -> Result<Manager, Error> {
        Self::start_with(spec, None)
    }

    /// Starts as [`Manager::start`] does; with `orphans`, what leaves its process group
    /// is stopped at shutdown too.
    pub(crate) fn start_with(
        spec: ManagerSpec,
        orphans: Option<Arc<Orphans>>,
    ) -> Result<Manager, Error> {
        let watchdog = Watchdog::start().map_err(|source| Error::Manager {
            what: "cannot start the watchdog process",
            source,
        })?;
        log::info!(
            "containment: {}{}",
            watchdog.describe(),
            match orphans {
                Some(_) => "; orphans are adopted (child subreaper)",
                None => "",
            }
        );
        let names = spec
            .processes
            .iter()
            .map(|p| (p.name.clone(), p.display.clone()))
            .collect();
        let outputs = spec.processes.iter().map(|_| Default::default()).collect();
        let cx = Arc::new(Context {
            spec,
            watchdog: Arc::new(watchdog),
            orphans,
            outputs,
            snapshot: Snapshot::new(names),
            stopping: Latch::new(),
            forced: Latch::new(),
        });
        let (requests, inbox) = channel::unbounded();
        let outcome = Arc::new(Outcome {
            launched: Latch::new(),
            finished: Latch::new(),
        });
        crate::runtime::spawn(coordinator::run(cx.clone(), inbox, outcome.clone()));
        Ok(Manager {
            cx,
            requests,
            outcome,
        })
    }

    /// Waits until every process has reached its desired state. Fails with
    /// [`Error::Setup`] when one could not, and [`Error::Interrupted`] when a shutdown came
    /// first.
    pub async fn ready(&self) -> Result<(), Error> {
        self.outcome.launched.wait().await.into_result()
    }

    pub fn status(&self) -> ManagerStatus {
        self.cx.snapshot.status()
    }

    /// Makes `command` start in the environment's cgroup, as the processes do.
    pub(crate) fn contain(&self, command: &mut crate::process::Command) {
        self.cx.watchdog.contain(command);
    }

    /// Every process, in file order.
    pub fn processes(&self) -> Vec<ProcessState> {
        (0..self.cx.snapshot.len())
            .filter_map(|index| self.cx.snapshot.process(index))
            .collect()
    }

    /// The process with this id (1, 2, ... in file order).
    pub fn process(&self, id: usize) -> Option<ProcessState> {
        self.cx.snapshot.process(id.checked_sub(1)?)
    }

    /// The port the file's `ports` gives this name (a free one is chosen at start).
    pub fn port(&self, name: &str) -> Option<u16> {
        self.cx.spec.ports.get(name)
    }

    /// Every port of the file's `ports`, by name, in file order.
    pub fn ports(&self) -> Vec<(String, u16)> {
        let ports = self.cx.spec.ports.values();
        ports
            .iter()
            .map(|(name, port)| (name.clone(), *port))
            .collect()
    }

    /// The id of the process with this name.
    pub fn find(&self, name: &str) -> Option<usize> {
        let index = self.cx.spec.processes.iter().position(|p| p.name == name)?;
        Some(index + 1)
    }

    /// Restarts one process and returns its new state once it is ready again. Restarts of
    /// one process run one after another; of different processes, side by side. Dropping
    /// the future does not stop a restart that has begun.
    pub async fn restart(&self, id: usize) -> Result<ProcessState, RestartError> {
        if self.process(id).is_none() {
            return Err(RestartError::NotFound(id));
        }
        match self.status() {
            ManagerStatus::Booting | ManagerStatus::Launching => {
                return Err(RestartError::Launching);
            }
            ManagerStatus::Shutdown | ManagerStatus::ForceShutdown => {
                return Err(RestartError::ShuttingDown);
            }
            ManagerStatus::Running => {}
        }
        let (reply, answer) = channel::bounded(1);
        let index = id - 1;
        let _ = self.requests.try_send(Request::Restart { index, reply });
        answer
            .recv()
            .await
            .unwrap_or(Err(RestartError::ShuttingDown))
    }

    /// Begins a graceful shutdown and returns at once: false when one had begun already.
    pub fn shutdown(&self) -> bool {
        // At once, so that the control API refuses what follows, as pymanager does.
        let begun = self
            .cx
            .snapshot
            .set_status_unless(ManagerStatus::Shutdown, |status| {
                matches!(
                    status,
                    ManagerStatus::Shutdown | ManagerStatus::ForceShutdown
                )
            });
        if begun {
            let _ = self.requests.try_send(Request::Shutdown);
        }
        begun
    }

    /// Kills every process at once (also during a graceful shutdown).
    pub fn force_shutdown(&self) {
        let _ = self.requests.try_send(Request::ForceShutdown);
    }

    /// Waits until the environment has shut down, every process reaped. Fails with
    /// [`Error::Setup`] when the launch failed.
    pub async fn wait(&self) -> Result<(), Error> {
        match self.outcome.finished.wait().await.into_result() {
            // A shutdown that came early is a shutdown like any other.
            Err(Error::Interrupted) => Ok(()),
            result => result,
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.outcome.finished.get().is_none() {
            self.shutdown();
        }
    }
}
