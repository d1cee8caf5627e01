//! The supervisor task: the one place that launches the environment, records exits and runs
//! the shutdown. Everything else reaches it as an [`Event`]; what it knows is kept in
//! [`Shared`], so that reading the state never waits for the task.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_std::channel::{self, Receiver, Sender};
use async_std::task;
use futures_lite::{FutureExt, future};

use super::{ManagerStatus, ProcessState, RunState};
use crate::error::Error;
use crate::latch::Latch;
use crate::process::{Orphans, ProcessEnd, ProcessHandle, SpawnError, Stop, Watchdog};
use crate::spec::ManagerSpec;
use crate::verify::{self, Readiness, Reporter};

/// What reaches the supervisor task.
pub(super) enum Event {
    Exited {
        index: usize,
        pid: u32,
        end: ProcessEnd,
    },
    /// A restart ended: whether every process has now ended may have changed.
    RestartFinished,
    Shutdown,
    /// Kill everything now (a second SIGINT).
    ForceShutdown,
}

/// How the launch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Launch {
    Ready,
    Failed {
        process: String,
        reason: String,
        not_started: Vec<String>,
    },
    /// A shutdown was asked for before every process was ready.
    Interrupted,
}

impl Launch {
    pub fn into_result(self) -> Result<(), Error> {
        match self {
            Launch::Ready => Ok(()),
            Launch::Failed {
                process,
                reason,
                not_started,
            } => Err(Error::Setup {
                process,
                reason,
                not_started,
            }),
            Launch::Interrupted => Err(Error::Interrupted),
        }
    }
}

/// What the supervisor task, restarts and the library handle share.
pub(super) struct Shared {
    pub spec: ManagerSpec,
    pub state: Mutex<State>,
    pub events: Sender<Event>,
    pub launched: Latch<Launch>,
    /// Set when the environment has shut down, every process reaped.
    pub finished: Latch<Launch>,
    /// Set, under the state lock, when shutdown begins: from then on no process starts.
    pub shutting_down: Latch<()>,
    pub forced: Latch<()>,
    pub watchdog: Arc<Watchdog>,
    /// With rmanager as a child subreaper: the orphans to stop at shutdown.
    pub orphans: Option<Arc<Orphans>>,
    /// Held for the whole of a restart, so restarts of one process never overlap.
    pub restarts: Vec<async_std::sync::Mutex<()>>,
    pub reporter: Reporter,
}

pub(super) struct State {
    pub status: ManagerStatus,
    pub slots: Vec<Slot>,
}

/// One process's current incarnation.
#[derive(Default)]
pub(super) struct Slot {
    pub handle: Option<Arc<ProcessHandle>>,
    /// Its exit has been handled (the handle knows of the exit a moment earlier).
    pub reported: bool,
    pub restarting: bool,
}

/// Why a process could not be started.
enum StartError {
    Spawn(SpawnError),
    ShuttingDown,
}

/// Why a process did not come up.
pub(super) enum UpError {
    /// It could not start, or its verifier failed; why, in words that follow its name.
    Failed(String),
    ShuttingDown,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; if some did, its data is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn process_state(&self, state: &State, index: usize) -> ProcessState {
        let spec = &self.spec.processes[index];
        let run = match &state.slots[index].handle {
            None => RunState::NotStarted,
            Some(handle) => match handle.ended() {
                None => RunState::Running { pid: handle.pid() },
                Some(end) => RunState::Terminated { code: end.code() },
            },
        };
        ProcessState {
            id: index + 1,
            name: spec.name.clone(),
            command: spec.display.clone(),
            run,
        }
    }

    /// Spawns process `index` and makes it the slot's current one, unless shutdown began.
    async fn start_process(&self, index: usize) -> Result<Arc<ProcessHandle>, StartError> {
        let spec = &self.spec.processes[index];
        log::info!("launching {} ({})", spec.name, spec.display);
        let handle = Arc::new(
            ProcessHandle::spawn(spec, Some(self.watchdog.clone()))
                .await
                .map_err(StartError::Spawn)?,
        );
        log::debug!(
            "{} started: pid {} in a process group of its own",
            spec.name,
            handle.pid()
        );
        {
            let mut state = self.lock();
            if self.shutting_down.get().is_none() {
                state.slots[index] = Slot {
                    handle: Some(handle.clone()),
                    reported: false,
                    restarting: state.slots[index].restarting,
                };
                drop(state);
                let (watch, pid, events) = (handle.clone(), handle.pid(), self.events.clone());
                task::spawn(async move {
                    let end = watch.wait_ended().await;
                    let _ = events.send(Event::Exited { index, pid, end }).await;
                });
                return Ok(handle);
            }
        }
        // Shutdown collected the processes before this one was recorded: stop it here, as
        // the shutdown stops the others (which waits for this, through the restart lock).
        self.stop(&spec.name, &handle, self.spec.graceful_time)
            .await;
        Err(StartError::ShuttingDown)
    }

    /// Starts process `index` and waits until its verifier passes. Gives up when shutdown
    /// begins.
    pub async fn bring_up(&self, index: usize) -> Result<(), UpError> {
        let up = async {
            let spec = &self.spec.processes[index];
            if let Some(target) = spec.verifier.as_ref().and_then(verify::loopback_target) {
                if verify::answers(&target).await {
                    crate::say!(
                        "warning: something already listens on {target}, which {}'s check \
                         tries: the check may pass against it instead",
                        spec.name
                    );
                }
            }
            let handle = match self.start_process(index).await {
                Ok(handle) => handle,
                Err(StartError::Spawn(e)) => return Err(UpError::Failed(e.to_string())),
                Err(StartError::ShuttingDown) => return Err(UpError::ShuttingDown),
            };
            let Some(verifier) = spec.verifier.as_ref().map(verify::for_spec) else {
                return Ok(());
            };
            match verifier.verify(&handle, &self.reporter).await {
                Readiness::Ready => Ok(()),
                Readiness::Failed(reason) => Err(UpError::Failed(reason)),
            }
        };
        // A panic (a bug, here or in a library) is a failure with a message, not a launch
        // that hangs forever.
        let up = async {
            AssertUnwindSafe(up)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(UpError::Failed(format!("internal error: {what}")))
                })
        };
        // A shutdown cuts everything short, sourcing an environment file included.
        let shutdown = async {
            self.shutting_down.wait().await;
            Err(UpError::ShuttingDown)
        };
        future::race(up, shutdown).await
    }

    /// Stops a process's group (SIGTERM, SIGKILL after `grace` to what is left, or at
    /// once when forced) and says what had to be killed.
    pub async fn stop(&self, name: &str, handle: &ProcessHandle, grace: Duration) {
        if let Stop::AfterGrace { killed } = handle.terminate(grace, &self.forced).await {
            crate::say!(
                "{name} did not stop within {}; killed {}",
                verify::seconds_text(grace),
                if killed.is_empty() {
                    "it".to_owned()
                } else {
                    killed.join(", ")
                }
            );
        }
    }

    fn force(&self) {
        self.lock().status = ManagerStatus::ForceShutdown;
        self.forced.set(());
    }
}

/// Runs a whole environment: launch, wait, shut down; sets `finished` once every process
/// has ended and been reaped.
pub(super) async fn run(shared: Arc<Shared>, events: Receiver<Event>) {
    let supervisor = Supervisor { shared, events };
    let launch = supervisor.launch().await;
    if launch == Launch::Ready {
        supervisor.shared.lock().status = ManagerStatus::Running;
        log::info!("every process is ready");
    }
    supervisor.shared.launched.set(launch.clone());
    if launch == Launch::Ready {
        supervisor.wait().await;
    }
    supervisor.shutdown().await;
    supervisor.shared.watchdog.dismiss();
    supervisor.shared.finished.set(launch);
}

struct Supervisor {
    shared: Arc<Shared>,
    events: Receiver<Event>,
}

impl Supervisor {
    /// Starts every process once the processes it depends on are ready (with sequential
    /// startup, that includes the one before it), and returns when all are ready, one
    /// failed, or a shutdown was asked for.
    async fn launch(&self) -> Launch {
        self.shared.lock().status = ManagerStatus::Launching;
        let processes = &self.shared.spec.processes;
        let mut waiting_for: Vec<usize> = processes.iter().map(|p| p.depends_on.len()).collect();
        let mut dependants = vec![Vec::new(); processes.len()];
        for (index, process) in processes.iter().enumerate() {
            for &dependency in &process.depends_on {
                dependants[dependency].push(index);
            }
        }
        let (done, outcomes) = channel::unbounded();
        for index in (0..processes.len()).filter(|&i| waiting_for[i] == 0) {
            self.bring_up_in_background(index, &done);
        }
        let mut ready = 0;
        while ready < processes.len() {
            let step = future::race(async { Ok(outcomes.recv().await) }, async {
                Err(self.events.recv().await)
            })
            .await;
            match step {
                Ok(Ok((index, Ok(())))) => {
                    log::info!("{} is ready", processes[index].name);
                    ready += 1;
                    for &dependant in &dependants[index] {
                        waiting_for[dependant] -= 1;
                        if waiting_for[dependant] == 0 {
                            self.bring_up_in_background(dependant, &done);
                        }
                    }
                }
                Ok(Ok((index, Err(UpError::Failed(reason))))) => {
                    let state = self.shared.lock();
                    let not_started = processes
                        .iter()
                        .zip(&state.slots)
                        .enumerate()
                        .filter(|(i, (_, slot))| *i != index && slot.handle.is_none())
                        .map(|(_, (process, _))| process.name.clone())
                        .collect();
                    return Launch::Failed {
                        process: processes[index].name.clone(),
                        reason,
                        not_started,
                    };
                }
                Ok(Ok((_, Err(UpError::ShuttingDown)))) => return Launch::Interrupted,
                Err(Ok(event)) => {
                    if self.handle(event) {
                        return Launch::Interrupted;
                    }
                }
                Ok(Err(_)) | Err(Err(_)) => unreachable!("senders are held here and in Shared"),
            }
        }
        Launch::Ready
    }

    /// Starts and verifies one process on a task of its own, holding its restart lock (so
    /// that shutdown waits for it), and reports the outcome to `done`.
    fn bring_up_in_background(&self, index: usize, done: &Sender<(usize, Result<(), UpError>)>) {
        let (shared, done) = (self.shared.clone(), done.clone());
        task::spawn(async move {
            let _serial = shared.restarts[index].lock().await;
            let outcome = shared.bring_up(index).await;
            let _ = done.send((index, outcome)).await;
        });
    }

    /// Waits until every process has ended (unless keep-alive) or shutdown is asked for.
    async fn wait(&self) {
        while self.shared.spec.keep_alive || !self.all_ended() {
            match self.events.recv().await {
                Ok(event) => {
                    if self.handle(event) {
                        return;
                    }
                }
                Err(_) => unreachable!("Shared holds a sender"),
            }
        }
    }

    /// Handles an event outside shutdown; returns whether it asks for shutdown.
    fn handle(&self, event: Event) -> bool {
        match event {
            Event::Exited { index, pid, end } => self.exited(index, pid, end),
            Event::RestartFinished => {}
            Event::Shutdown => return true,
            Event::ForceShutdown => {
                self.shared.force();
                return true;
            }
        }
        false
    }

    fn all_ended(&self) -> bool {
        self.shared
            .lock()
            .slots
            .iter()
            .all(|s| s.reported && !s.restarting)
    }

    fn exited(&self, index: usize, pid: u32, end: ProcessEnd) {
        let mut state = self.shared.lock();
        let slot = &mut state.slots[index];
        if slot.handle.as_ref().map(|h| h.pid()) != Some(pid) {
            return; // an incarnation a restart replaced
        }
        slot.reported = true;
        // Ends rmanager caused itself are not news.
        let stopped = slot.restarting || self.shared.shutting_down.get().is_some();
        drop(state);
        let spec = &self.shared.spec.processes[index];
        log::info!("{} {end}", spec.name);
        if self.shared.spec.messages.process_exit && !stopped {
            crate::say!("Process {} exited with code {}", spec.display, end.code());
        }
    }

    /// Stops every process group at once: SIGTERM, SIGKILL after graceful_time; a forced
    /// shutdown meanwhile kills everything at once.
    async fn shutdown(&self) {
        let shared = &self.shared;
        let handles: Vec<_> = {
            let mut state = shared.lock();
            if state.status != ManagerStatus::ForceShutdown {
                state.status = ManagerStatus::Shutdown;
            }
            shared.shutting_down.set(());
            state
                .slots
                .iter()
                .enumerate()
                .filter_map(|(index, slot)| Some((index, slot.handle.clone()?)))
                .collect()
        };
        if handles.iter().any(|(_, h)| h.ended().is_none()) {
            crate::say!("shutting down gracefully (a SIGINT kills everything at once)");
        }
        let stops: Vec<_> = handles
            .into_iter()
            .map(|(index, handle)| {
                let shared = shared.clone();
                task::spawn(async move {
                    let name = &shared.spec.processes[index].name;
                    shared.stop(name, &handle, shared.spec.graceful_time).await;
                })
            })
            .collect();
        let orphans = shared.orphans.clone().map(|orphans| {
            let shared = shared.clone();
            task::spawn(async move {
                orphans
                    .stop(shared.spec.graceful_time, &shared.forced)
                    .await;
            })
        });
        let all_stopped = async {
            for stop in stops {
                stop.await;
            }
            if let Some(orphans) = orphans {
                orphans.await;
            }
            // A restart under way stops what it started once it sees the shutdown.
            for restart in &shared.restarts {
                let _ = restart.lock().await;
            }
        };
        let escalate = async {
            while let Ok(event) = self.events.recv().await {
                match event {
                    Event::ForceShutdown => shared.force(),
                    Event::Exited { index, pid, end } => self.exited(index, pid, end),
                    Event::Shutdown | Event::RestartFinished => {}
                }
            }
        };
        future::race(all_stopped, escalate).await;
    }
}
