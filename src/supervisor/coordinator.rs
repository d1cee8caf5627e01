//! The coordinator: the task that owns the environment as a whole. It starts each job
//! once the processes it depends on are ready, decides when the environment is running,
//! hands restarts to the job concerned, keeps track of which processes are still up
//! (without keep-alive, the environment ends with its last process), and runs the
//! shutdown. It talks to jobs through their command queues and learns from their
//! reports; it never touches a process itself.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::runtime::channel::{self, Receiver, Sender, TrySendError};
use futures_lite::{FutureExt, future};

use super::context::Context;
use super::job::{self, Command, REPORT_LINES, Report, RestartError, UpError};
use super::{ManagerStatus, ProcessState, RunState};
use crate::error::{EndedEarly, Error, Failure};
use crate::events::{self, Event};
use crate::latch::Latch;
use crate::process::Signal;
use crate::runtime::{JoinHandle, panic_text};

/// What the library handle asks of the coordinator.
pub(super) enum Request {
    Shutdown,
    /// Kill everything now (a second SIGINT).
    ForceShutdown,
    Restart {
        index: usize,
        reply: Sender<Result<ProcessState, RestartError>>,
    },
}

/// How the launch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Launch {
    Ready,
    Failed {
        process: String,
        failure: Failure,
        not_started: Vec<String>,
        /// Its last lines of output.
        output: Vec<String>,
        also_failed: Vec<EndedEarly>,
    },
    /// A shutdown was asked for before every process was ready.
    Interrupted,
    /// The coordinator panicked (a bug); everything was killed.
    Broken(String),
}

impl Launch {
    pub fn into_result(self) -> Result<(), Error> {
        match self {
            Launch::Ready => Ok(()),
            Launch::Failed {
                process,
                failure,
                not_started,
                output,
                also_failed,
            } => Err(Error::Setup {
                process,
                failure,
                not_started,
                output: output.into(),
                also_failed: also_failed.into(),
            }),
            Launch::Interrupted => Err(Error::Interrupted),
            Launch::Broken(what) => Err(Error::Internal(what)),
        }
    }
}

/// Where the coordinator announces the launch's outcome, and the end of everything.
pub(super) struct Outcome {
    pub launched: Latch<Launch>,
    /// Set once the environment has shut down, every process reaped.
    pub finished: Latch<Launch>,
}

struct Coordinator {
    cx: Arc<Context>,
    requests: Receiver<Request>,
    reports: Receiver<Report>,
    jobs: Vec<Sender<Command>>,
    /// The processes with a running incarnation.
    up: HashSet<usize>,
}

/// What woke the coordinator.
enum Wake {
    Request(Request),
    Report(Report),
}

/// Runs a whole environment: launch, wait, shut down. A panic (a bug) kills everything
/// and ends the launch and the environment as an internal error, so that nothing waits
/// for them forever.
pub(super) async fn run(cx: Arc<Context>, requests: Receiver<Request>, outcome: Arc<Outcome>) {
    let (reporter, reports) = channel::unbounded();
    let (jobs, mut handles): (Vec<_>, Vec<_>) = (0..cx.spec.processes.len())
        .map(|index| job::spawn(index, cx.clone(), reporter.clone()))
        .unzip();
    let mut coordinator = Coordinator {
        cx,
        requests,
        reports,
        jobs,
        up: HashSet::new(),
    };
    let lived = AssertUnwindSafe(coordinator.lifecycle(&mut handles, &outcome))
        .catch_unwind()
        .await;
    if let Err(panic) = lived {
        let what = format!("the coordinator: {}", panic_text(&*panic));
        crate::say!("internal error in {what}; killing everything");
        coordinator.force();
        let _ = AssertUnwindSafe(coordinator.end(handles))
            .catch_unwind()
            .await;
        outcome.launched.set(Launch::Broken(what.clone()));
        outcome.finished.set(Launch::Broken(what));
    }
}

impl Coordinator {
    async fn lifecycle(&mut self, jobs: &mut Vec<JoinHandle<()>>, outcome: &Outcome) {
        let launch = self.launch().await;
        match &launch {
            Launch::Ready => events::emit(Event::EnvironmentReady {
                processes: self.cx.spec.processes.len(),
            }),
            Launch::Failed {
                process, failure, ..
            } => events::emit(Event::EnvironmentFailed {
                process,
                reason: &failure.to_string(),
            }),
            Launch::Interrupted | Launch::Broken(_) => {}
        }
        if launch == Launch::Ready {
            // What failed by itself during the launch, now that no failure report tells it.
            let cx = &self.cx;
            let failed = cx.snapshot.now_running();
            log::info!("every process is ready");
            for (index, code) in failed {
                let lines = cx.last_lines(index, job::EXIT_LINES);
                let told = job::failure_told(&cx.spec, &cx.spec.processes[index], code, &lines);
                crate::report::also(&told);
            }
        }
        outcome.launched.set(launch.clone());
        if launch == Launch::Ready {
            self.wait().await;
        }
        crate::fault::point("shutdown", "");
        self.end(std::mem::take(jobs)).await;
        events::emit(Event::ShutdownFinished);
        outcome.finished.set(launch);
    }

    /// Shuts down, then makes sure that nothing is left.
    async fn end(&mut self, jobs: Vec<JoinHandle<()>>) {
        self.shutdown(jobs).await;
        // Whatever is left after everything had its grace: only a cgroup knows of it.
        self.cx.watchdog.sweep().await;
        self.cx.watchdog.dismiss();
        // Every process's last lines reach the terminal before the environment is done.
        crate::output::printer::flush().await;
    }

    /// The processes that have ended by themselves with a failure: (index, code).
    fn failed_by_themselves(&self) -> Vec<(usize, i32)> {
        (0..self.cx.spec.processes.len())
            .filter_map(|index| match self.cx.snapshot.process(index)?.run {
                RunState::Terminated { code } if code != 0 => Some((index, code)),
                _ => None,
            })
            .collect()
    }

    /// For a failure report: the processes other than `failed` that failed by themselves.
    fn ended_early(&self, failed: usize) -> Vec<EndedEarly> {
        self.failed_by_themselves()
            .into_iter()
            .filter(|&(index, _)| index != failed)
            .map(|(index, code)| EndedEarly {
                process: self.cx.spec.processes[index].name.clone(),
                code,
                output: self.cx.last_lines(index, REPORT_LINES),
            })
            .collect()
    }

    async fn next(&self) -> Wake {
        // Both senders live as long as the coordinator: the handle's in the Manager (or a
        // shutdown was requested as it dropped), the jobs' here.
        future::race(
            async {
                match self.requests.recv().await {
                    Ok(request) => Wake::Request(request),
                    Err(_) => Wake::Request(Request::Shutdown),
                }
            },
            async {
                match self.reports.recv().await {
                    Ok(report) => Wake::Report(report),
                    Err(_) => future::pending().await,
                }
            },
        )
        .await
    }

    /// Starts every process once the processes it depends on are ready (with sequential
    /// startup, that includes the one before it), and returns when all are ready, one
    /// failed, or a shutdown was asked for.
    async fn launch(&mut self) -> Launch {
        self.cx.snapshot.set_status(ManagerStatus::Launching);
        let cx = self.cx.clone();
        let processes = &cx.spec.processes;
        let mut waiting_for: Vec<usize> = processes.iter().map(|p| p.depends_on.len()).collect();
        let mut dependants = vec![Vec::new(); processes.len()];
        for (index, process) in processes.iter().enumerate() {
            for &dependency in &process.depends_on {
                dependants[dependency].push(index);
            }
        }
        let mut started = vec![false; processes.len()];
        for index in (0..processes.len()).filter(|&i| waiting_for[i] == 0) {
            self.start(index, &mut started);
        }
        let mut ready = 0;
        while ready < processes.len() {
            match self.next().await {
                Wake::Report(Report::Started { index, outcome }) => match outcome {
                    Ok(()) => {
                        ready += 1;
                        for &dependant in &dependants[index] {
                            waiting_for[dependant] -= 1;
                            if waiting_for[dependant] == 0 {
                                self.start(dependant, &mut started);
                            }
                        }
                    }
                    Err(UpError::Failed(failure)) => {
                        let not_started = processes
                            .iter()
                            .enumerate()
                            .filter(|&(i, _)| !started[i])
                            .map(|(_, process)| process.name.clone())
                            .collect();
                        return Launch::Failed {
                            process: processes[index].name.clone(),
                            failure,
                            not_started,
                            output: self.cx.last_lines(index, REPORT_LINES),
                            also_failed: self.ended_early(index),
                        };
                    }
                    Err(UpError::ShuttingDown) => return Launch::Interrupted,
                },
                Wake::Report(Report::Crashed { index, panic }) => {
                    return Launch::Failed {
                        process: processes[index].name.clone(),
                        failure: Failure::Internal(panic),
                        not_started: Vec::new(),
                        output: self.cx.last_lines(index, REPORT_LINES),
                        also_failed: self.ended_early(index),
                    };
                }
                Wake::Report(report) => self.track(report),
                Wake::Request(Request::Restart { reply, .. }) => {
                    let _ = reply.try_send(Err(RestartError::Launching));
                }
                Wake::Request(Request::Shutdown) => return Launch::Interrupted,
                Wake::Request(Request::ForceShutdown) => {
                    self.force();
                    return Launch::Interrupted;
                }
            }
        }
        Launch::Ready
    }

    fn start(&self, index: usize, started: &mut [bool]) {
        started[index] = true;
        let _ = self.jobs[index].try_send(Command::Start);
    }

    fn track(&mut self, report: Report) {
        match report {
            Report::Up(index) => {
                self.up.insert(index);
            }
            Report::Down(index) => {
                self.up.remove(&index);
            }
            Report::Crashed { index, panic } => {
                self.up.remove(&index);
                // Its group was killed as the job unwound.
                self.cx.snapshot.ended(index, -Signal::KILL.0);
                let name = &self.cx.spec.processes[index].name;
                crate::say!("internal error in {name}'s job: {panic}; {name} was killed");
            }
            Report::Started { .. } => {}
        }
    }

    /// Waits until every process has ended (unless keep-alive) or shutdown is asked for.
    async fn wait(&mut self) {
        while self.cx.spec.keep_alive || !self.up.is_empty() {
            match self.next().await {
                Wake::Report(report) => self.track(report),
                Wake::Request(Request::Restart { index, reply }) => {
                    // The job answers. It stops the old incarnation without reporting it
                    // down, so the environment never looks ended midway through.
                    if let Err(TrySendError::Closed(Command::Restart(reply))) =
                        self.jobs[index].try_send(Command::Restart(reply))
                    {
                        let _ = reply.try_send(Err(RestartError::Failed {
                            process: self.cx.spec.processes[index].name.clone(),
                            failure: Failure::Internal("its job ended in an earlier panic".into()),
                            output: Vec::new(),
                        }));
                    }
                }
                Wake::Request(Request::Shutdown) => return,
                Wake::Request(Request::ForceShutdown) => {
                    self.force();
                    return;
                }
            }
        }
    }

    fn force(&self) {
        self.cx.snapshot.set_status(ManagerStatus::ForceShutdown);
        self.cx.forced.set(());
    }

    /// Stops every process group at once, and the orphans: SIGTERM, SIGKILL after
    /// graceful_time; a forced shutdown meanwhile kills everything at once.
    async fn shutdown(&mut self, jobs: Vec<JoinHandle<()>>) {
        let cx = &self.cx;
        cx.snapshot
            .set_status_unless(ManagerStatus::Shutdown, |status| {
                status == ManagerStatus::ForceShutdown
            });
        cx.stopping.set(());
        events::emit(Event::ShutdownBegun);
        if !self.up.is_empty() {
            crate::say!("shutting down gracefully (a SIGINT kills everything at once)");
        }
        for job in &self.jobs {
            let _ = job.try_send(Command::Stop);
        }
        let orphans = cx.orphans.clone();
        let stopped = async {
            let orphans = async {
                if let Some(orphans) = orphans {
                    orphans.stop(cx.spec.graceful_time, &cx.forced).await;
                }
            };
            let jobs = async {
                for job in jobs {
                    job.await;
                }
            };
            future::zip(jobs, orphans).await;
        };
        let meanwhile = async {
            loop {
                match self.requests.recv().await {
                    Ok(Request::ForceShutdown) => self.force(),
                    Ok(Request::Restart { reply, .. }) => {
                        let _ = reply.try_send(Err(RestartError::ShuttingDown));
                    }
                    Ok(Request::Shutdown) => {}
                    Err(_) => future::pending().await,
                }
            }
        };
        future::race(stopped, meanwhile).await;
    }
}
