//! The handle to a running environment: what the command line, the control API and Rust
//! test suites use.

use std::sync::{Arc, Mutex};

use async_std::channel;
use async_std::task;

use super::restart::{self, RestartError};
use super::run::{self, Event, Shared, Slot, State};
use super::{ManagerStatus, ProcessState};
use crate::error::Error;
use crate::latch::Latch;
use crate::process::{Orphans, Watchdog};
use crate::spec::ManagerSpec;
use crate::verify::Reporter;

/// A running environment. Dropping it before it has shut down starts a graceful shutdown
/// in the background.
///
/// ```
/// # async_std::task::block_on(async {
/// use rmanager::supervisor::{Manager, RunState};
///
/// let spec = rmanager::config::load_str(r#"{"processes": {
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
    shared: Arc<Shared>,
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
        let (sender, events) = channel::unbounded();
        let count = spec.processes.len();
        let shared = Arc::new(Shared {
            reporter: Reporter {
                messages: spec.messages,
            },
            spec,
            state: Mutex::new(State {
                status: ManagerStatus::Booting,
                slots: (0..count).map(|_| Slot::default()).collect(),
            }),
            events: sender,
            launched: Latch::new(),
            finished: Latch::new(),
            shutting_down: Latch::new(),
            forced: Latch::new(),
            watchdog: Arc::new(watchdog),
            orphans,
            restarts: (0..count).map(|_| Default::default()).collect(),
        });
        task::spawn(run::run(shared.clone(), events));
        Ok(Manager { shared })
    }

    /// Waits until every process has reached its desired state. Fails with
    /// [`Error::Setup`] when one could not, and [`Error::Interrupted`] when a shutdown came
    /// first.
    pub async fn ready(&self) -> Result<(), Error> {
        self.shared.launched.wait().await.into_result()
    }

    pub fn status(&self) -> ManagerStatus {
        self.shared.lock().status
    }

    /// Every process, in file order.
    pub fn processes(&self) -> Vec<ProcessState> {
        let state = self.shared.lock();
        (0..state.slots.len())
            .map(|index| self.shared.process_state(&state, index))
            .collect()
    }

    /// The process with this id (1, 2, ... in file order).
    pub fn process(&self, id: usize) -> Option<ProcessState> {
        let index = self.index(id)?;
        Some(self.shared.process_state(&self.shared.lock(), index))
    }

    /// The id of the process with this name.
    pub fn find(&self, name: &str) -> Option<usize> {
        let index = self
            .shared
            .spec
            .processes
            .iter()
            .position(|p| p.name == name)?;
        Some(index + 1)
    }

    /// Restarts one process and returns its new state once it is ready again. Restarts of
    /// one process run one after another; of different processes, side by side.
    pub async fn restart(&self, id: usize) -> Result<ProcessState, RestartError> {
        let index = self.index(id).ok_or(RestartError::NotFound(id))?;
        restart::restart(&self.shared, index).await
    }

    /// Begins a graceful shutdown and returns at once: false when one had begun already.
    pub fn shutdown(&self) -> bool {
        {
            let mut state = self.shared.lock();
            if matches!(
                state.status,
                ManagerStatus::Shutdown | ManagerStatus::ForceShutdown
            ) {
                return false;
            }
            // At once, so that the control API refuses what follows, as pymanager does.
            state.status = ManagerStatus::Shutdown;
        }
        let _ = self.shared.events.try_send(Event::Shutdown);
        true
    }

    /// Kills every process at once (also during a graceful shutdown).
    pub fn force_shutdown(&self) {
        let _ = self.shared.events.try_send(Event::ForceShutdown);
    }

    /// Waits until the environment has shut down, every process reaped. Fails with
    /// [`Error::Setup`] when the launch failed.
    pub async fn wait(&self) -> Result<(), Error> {
        match self.shared.finished.wait().await.into_result() {
            // A shutdown that came early is a shutdown like any other.
            Err(Error::Interrupted) => Ok(()),
            result => result,
        }
    }

    fn index(&self, id: usize) -> Option<usize> {
        (1..=self.shared.spec.processes.len())
            .contains(&id)
            .then(|| id - 1)
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.shared.finished.get().is_none() {
            self.shutdown();
        }
    }
}
