//! One process's life: a task that alone owns the process's current incarnation and
//! carries out the coordinator's commands one at a time: start it (spawn, then its check),
//! restart it, stop it. It publishes the process's state to the snapshot and reports
//! what the coordinator needs to know: a start's outcome, an incarnation up or down.
//!
//! Because a restart runs here and not on the task that asked for it, a caller that gives
//! up (a dropped HTTP connection, a dropped future) cannot leave a process half-restarted.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::channel::{self, Receiver, Sender};
use futures_lite::{FutureExt, future};

use super::context::Context;
use super::{ManagerStatus, ProcessState, RunState};
use crate::error::Failure;
use crate::events::{self, Event};
use crate::output::Label;
use crate::process::{ProcessEnd, ProcessHandle, Stop};
use crate::runtime::{self, JoinHandle, panic_text};
use crate::spec::{ManagerSpec, Output, ProcessSpec, VerifierSpec};
use crate::verify::{self, Readiness, Reporter};

/// What the coordinator asks of a job.
pub(super) enum Command {
    /// Start the process and run its check; the outcome comes back as [`Report::Started`].
    Start,
    /// Stop the process gracefully, start it again, check it again.
    Restart(Sender<Result<ProcessState, RestartError>>),
    /// Stop the process (SIGTERM, SIGKILL after the grace time or when forced) and end.
    Stop,
}

/// What a job tells the coordinator.
pub(super) enum Report {
    /// A start ended: ready, or why not.
    Started {
        index: usize,
        outcome: Result<(), UpError>,
    },
    /// An incarnation of the process is running.
    Up(usize),
    /// The process is no longer running: it ended, or a restart could not start it again.
    Down(usize),
    /// The job panicked (a bug); its process was killed with it.
    Crashed { index: usize, panic: String },
}

/// Why a process did not come up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UpError {
    Failed(Failure),
    ShuttingDown,
}

/// Why a restart did not happen or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartError {
    /// No process has this id.
    NotFound(usize),
    /// The environment is still starting; restarts wait until it is running.
    Launching,
    ShuttingDown,
    /// It could not be started again, or did not become ready.
    Failed {
        process: String,
        failure: Failure,
        /// Its last lines of output.
        output: Vec<String>,
    },
}

impl fmt::Display for RestartError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RestartError::NotFound(id) => write!(f, "Process with id '{id}' not found."),
            RestartError::Launching => f.write_str("The environment is still starting."),
            // pymanager's words.
            RestartError::ShuttingDown => f.write_str("Process is in shutdown."),
            RestartError::Failed {
                process, failure, ..
            } => write!(f, "{process}: {failure}"),
        }
    }
}

impl std::error::Error for RestartError {}

/// Starts the job of process `index`; it ends after a [`Command::Stop`].
pub(super) fn spawn(
    index: usize,
    cx: Arc<Context>,
    reports: Sender<Report>,
) -> (Sender<Command>, JoinHandle<()>) {
    let (commands, inbox) = channel::unbounded();
    let crashed = reports.clone();
    let job = Job {
        index,
        cx,
        reports,
        current: None,
        was_ready: false,
    };
    let handle = runtime::spawn_joinable(async move {
        // Its process group is dropped with it, which kills the group; the coordinator
        // tells the rest.
        if let Err(panic) = AssertUnwindSafe(job.run(inbox)).catch_unwind().await {
            let panic = panic_text(&*panic);
            let _ = crashed.try_send(Report::Crashed { index, panic });
        }
    });
    (commands, handle)
}

struct Job {
    index: usize,
    cx: Arc<Context>,
    reports: Sender<Report>,
    /// The current incarnation, until it has ended.
    current: Option<Arc<ProcessHandle>>,
    /// Whether the current incarnation became ready: the end of one that did not is told
    /// by the failure of its start.
    was_ready: bool,
}

/// What woke a job.
enum Wake {
    Command(Option<Command>),
    Ended(ProcessEnd),
}

impl Job {
    async fn run(mut self, inbox: Receiver<Command>) {
        loop {
            let ended = async {
                match &self.current {
                    Some(current) => Wake::Ended(current.wait_ended().await),
                    None => future::pending().await,
                }
            };
            let wake = future::race(async { Wake::Command(inbox.recv().await.ok()) }, ended).await;
            match wake {
                Wake::Ended(end) => self.ended(end).await,
                Wake::Command(Some(Command::Start)) => {
                    crate::fault::point("start", self.name());
                    let outcome = self.bring_up().await;
                    self.report(Report::Started {
                        index: self.index,
                        outcome,
                    });
                }
                Wake::Command(Some(Command::Restart(reply))) => {
                    // A panic answers the caller before it ends the job.
                    match AssertUnwindSafe(self.restart()).catch_unwind().await {
                        Ok(result) => {
                            let _ = reply.try_send(result);
                        }
                        Err(panic) => {
                            let _ = reply.try_send(Err(RestartError::Failed {
                                process: self.name().to_owned(),
                                failure: Failure::Internal(panic_text(&*panic)),
                                output: Vec::new(),
                            }));
                            std::panic::resume_unwind(panic);
                        }
                    }
                }
                Wake::Command(Some(Command::Stop) | None) => {
                    self.stop().await;
                    return;
                }
            }
        }
    }

    fn name(&self) -> &str {
        &self.cx.spec.processes[self.index].name
    }

    fn report(&self, report: Report) {
        // The coordinator outlives every job.
        let _ = self.reports.try_send(report);
    }

    /// The current incarnation ended by itself (not stopped by rmanager).
    async fn ended(&mut self, end: ProcessEnd) {
        // Published before anything is awaited, so that the end is known before what
        // follows from it (the next process's start, once an `exited` check passed).
        let running = self.cx.snapshot.ended(self.index, end.code()) == ManagerStatus::Running;
        let spec = &self.cx.spec.processes[self.index];
        log::info!("{} {end}", spec.name);
        events::emit(Event::Exited {
            process: &spec.name,
            code: end.code(),
        });
        let mut last_lines = Vec::new();
        if let Some(current) = self.current.take() {
            current.output_written().await;
            last_lines = current.output().last(EXIT_LINES);
            // Its last lines come before what rmanager says of its end.
            crate::output::printer::flush().await;
        }
        // Ends during a shutdown are rmanager's doing, and not news.
        if self.cx.stopping.get().is_none() {
            // A failure is news once the environment runs; during the launch, the
            // coordinator tells it, in the failure report or once everything is ready.
            // pymanager's line keeps its form when asked for.
            let failed = end != ProcessEnd::Exited(0) && self.was_ready;
            let mut told = String::new();
            if self.cx.spec.messages.process_exit {
                told = format!(
                    "rmanager: Process {} exited with code {}\n",
                    spec.display,
                    end.code()
                );
            }
            if failed && running {
                told.push_str(&failure_told(&self.cx.spec, spec, end.code(), &last_lines));
            }
            // One write: nothing else lands between its lines.
            crate::report::also(&told);
        }
        self.report(Report::Down(self.index));
    }

    /// The current incarnation's last `n` lines; once it has ended, with its last ones in.
    async fn last_lines(&self, n: usize) -> Vec<String> {
        let Some(current) = &self.current else {
            return Vec::new();
        };
        if current.ended().is_some() {
            current.output_written().await;
        }
        current.output().last(n)
    }

    /// Starts the process and waits until its check passes; gives up when shutdown begins.
    async fn bring_up(&mut self) -> Result<(), UpError> {
        let cx = self.cx.clone();
        let spec = &cx.spec.processes[self.index];
        let up = async {
            let mut occupied = None;
            if let Some(verifier) = &spec.verifier {
                occupied = verify::already_answering(verifier.verifier()).await;
                if let Some(occupied) = &occupied {
                    crate::say!(
                        "warning: {} already listens on {}, which {}'s check tries; \
                         its answers will not count as {}'s",
                        occupied.holder,
                        occupied.target,
                        spec.name,
                        spec.name,
                    );
                }
            }
            log::info!("launching {} ({})", spec.name, spec.display);
            // Held until now, so that nothing else could take them; it may bind them.
            cx.spec.ports.release(&spec.releases);
            let handle = ProcessHandle::spawn(
                &spec.launch(),
                label(&cx.spec, self.index),
                Some(cx.watchdog.clone()),
            )
            .await
            .map_err(|e| UpError::Failed(Failure::Spawn(Arc::new(e))))?;
            let handle = Arc::new(handle);
            log::debug!(
                "{} started: pid {} in a process group of its own",
                spec.name,
                handle.pid()
            );
            self.current = Some(handle.clone());
            *cx.outputs[self.index]
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(handle.output().clone());
            cx.snapshot
                .set_run(self.index, RunState::Running { pid: handle.pid() });
            events::emit(Event::Started {
                process: &spec.name,
                pid: handle.pid(),
            });
            self.report(Report::Up(self.index));
            let Some(verifier) = spec.verifier.as_ref().map(VerifierSpec::verifier) else {
                return Ok(());
            };
            let reporter = Reporter {
                verbose: cx.spec.messages.verifier_verbose,
                fails: cx.spec.messages.verifier_fail,
                process: spec.name.clone(),
                occupied,
            };
            match verifier.verify(&handle, &reporter).await {
                Readiness::Ready => Ok(()),
                Readiness::Failed(reason) => Err(UpError::Failed(Failure::Check(reason))),
            }
        };
        // A panic (a bug, here or in a library) is a failure with a message, not a start
        // that hangs forever.
        let up = async {
            AssertUnwindSafe(up)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(UpError::Failed(Failure::Internal(panic_text(&*panic))))
                })
        };
        // A shutdown cuts everything short, sourcing an environment file included.
        let stopping = async {
            cx.stopping.wait().await;
            Err(UpError::ShuttingDown)
        };
        let outcome = future::race(up, stopping).await;
        match &outcome {
            Ok(()) => {
                log::info!("{} is ready", spec.name);
                events::emit(Event::Ready {
                    process: &spec.name,
                });
            }
            Err(UpError::Failed(failure)) => events::emit(Event::Failed {
                process: &spec.name,
                reason: &failure.to_string(),
            }),
            Err(UpError::ShuttingDown) => {}
        }
        self.was_ready = outcome.is_ok();
        outcome
    }

    async fn restart(&mut self) -> Result<ProcessState, RestartError> {
        crate::fault::point("restart", self.name());
        if self.cx.stopping.get().is_some() {
            return Err(RestartError::ShuttingDown);
        }
        log::info!("restarting {}", self.name());
        events::emit(Event::RestartBegun {
            process: self.name(),
        });
        if let Some(current) = self.current.take() {
            self.terminate(&current).await;
        }
        let outcome = self.bring_up().await;
        if let (Ok(()), Some(current)) = (&outcome, &self.current) {
            events::emit(Event::RestartFinished {
                process: self.name(),
                pid: current.pid(),
            });
        }
        if self.current.is_none() {
            self.report(Report::Down(self.index));
        }
        let state = self.cx.snapshot.process(self.index);
        match (outcome, state) {
            (Ok(()), Some(state)) => Ok(state),
            (Err(UpError::ShuttingDown), _) => Err(RestartError::ShuttingDown),
            (Err(UpError::Failed(failure)), _) => Err(RestartError::Failed {
                process: self.name().to_owned(),
                failure,
                output: self.last_lines(REPORT_LINES).await,
            }),
            (Ok(()), None) => Err(RestartError::NotFound(self.index + 1)),
        }
    }

    /// Stops the current incarnation, if any, for good.
    async fn stop(&mut self) {
        if let Some(current) = self.current.take() {
            self.terminate(&current).await;
        }
    }

    /// Stops an incarnation's group (SIGTERM, SIGKILL after the grace time to what is
    /// left, or at once when forced), says what had to be killed, and publishes its end.
    async fn terminate(&self, current: &ProcessHandle) {
        let grace: Duration = self.cx.spec.graceful_time;
        if let Stop::AfterGrace { killed } = current.terminate(grace, &self.cx.forced).await {
            events::emit(Event::Killed {
                process: self.name(),
                killed: &killed,
            });
            crate::say!(
                "{} did not stop within {}; killed {}",
                self.name(),
                verify::seconds_text(grace),
                if killed.is_empty() {
                    "it".to_owned()
                } else {
                    killed.join(", ")
                }
            );
        }
        if let Some(end) = current.ended() {
            self.cx
                .snapshot
                .set_run(self.index, RunState::Terminated { code: end.code() });
        }
    }
}

/// How many of its last lines a process that failed while running is quoted with.
pub(super) const EXIT_LINES: usize = 10;

/// How many of its last lines a failed start (or restart) is reported with.
pub(super) const REPORT_LINES: usize = 30;

/// The start of each of process `index`'s lines on the terminal: its name, padded to the
/// longest name; None when lines are printed unchanged.
fn label(spec: &ManagerSpec, index: usize) -> Option<Label> {
    let width = spec.processes.iter().map(|p| p.name.chars().count()).max();
    spec.output.prefix.then(|| Label {
        name: crate::output::printer::label(
            &spec.processes[index].name,
            width.unwrap_or(0),
            index,
            spec.output.color,
        ),
        timestamps: spec.output.timestamps,
    })
}

/// What rmanager says when a process failed by itself (`code`: the exit code, or the
/// negative signal number): its end, and its last lines when its output went elsewhere
/// than the terminal. With `process.exit` in `messages`, pymanager's line says the end.
pub(super) fn failure_told(
    manager: &ManagerSpec,
    spec: &ProcessSpec,
    code: i32,
    last_lines: &[String],
) -> String {
    let mut told = String::new();
    if !manager.messages.process_exit {
        told = format!("rmanager: {} {}\n", spec.name, ProcessEnd::from_code(code));
    }
    if spec.output != Output::Inherit {
        told.push_str(&crate::output::quoted(&spec.name, last_lines));
    }
    told
}
