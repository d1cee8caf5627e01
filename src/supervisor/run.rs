use std::sync::Arc;

use async_std::channel::{self, Receiver, Sender};
use async_std::task;
use futures_lite::{StreamExt, future};
use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
use signal_hook_async_std::Signals;

use super::ManagerStatus;
use crate::error::Error;
use crate::process::{ProcessEnd, ProcessHandle, Stop, Watchdog};
use crate::spec::{ManagerSpec, ProcessSpec};
use crate::verify::{self, Readiness, Reporter};

/// What reaches the supervisor from outside.
enum Event {
    Exited { index: usize, end: ProcessEnd },
    Signal(i32),
}

/// One process's slot: its spec and, once started, its handle.
struct Slot {
    spec: ProcessSpec,
    handle: Option<Arc<ProcessHandle>>,
    /// Its exit event has been handled (the handle knows of the exit a moment earlier).
    exited: bool,
}

struct Supervisor {
    spec: ManagerSpec,
    slots: Vec<Slot>,
    status: ManagerStatus,
    events: Receiver<Event>,
    sender: Sender<Event>,
    watchdog: Watchdog,
}

/// Runs a whole environment: launch, wait, shut down. Returns when every process has
/// ended and been reaped.
pub async fn run(spec: ManagerSpec) -> Result<(), Error> {
    // Forked before the signal handlers exist, so the watchdog does not inherit them.
    let watchdog = Watchdog::start().map_err(|source| Error::Manager {
        what: "cannot start the watchdog process",
        source,
    })?;
    let (sender, events) = channel::unbounded();
    let signals = Signals::new([SIGINT, SIGTERM, SIGQUIT]).map_err(|source| Error::Manager {
        what: "cannot install signal handlers",
        source,
    })?;
    let signal_handle = signals.handle();
    task::spawn(forward_signals(signals, sender.clone()));
    let slots = spec
        .processes
        .iter()
        .map(|p| Slot {
            spec: p.clone(),
            handle: None,
            exited: false,
        })
        .collect();
    let mut supervisor = Supervisor {
        spec,
        slots,
        status: ManagerStatus::Booting,
        events,
        sender,
        watchdog,
    };
    let result = supervisor.launch().await;
    if matches!(result, Ok(true)) {
        supervisor.status = ManagerStatus::Running;
        log::info!("every process is ready");
        supervisor.wait().await;
    }
    supervisor.shutdown().await;
    signal_handle.close();
    result.map(|_| ())
}

async fn forward_signals(mut signals: Signals, sender: Sender<Event>) {
    while let Some(signal) = signals.next().await {
        if sender.send(Event::Signal(signal)).await.is_err() {
            break;
        }
    }
}

impl Supervisor {
    /// Starts the processes in file order, each after the previous one is ready. Returns
    /// whether all are up: false when a signal interrupted the launch.
    async fn launch(&mut self) -> Result<bool, Error> {
        self.status = ManagerStatus::Launching;
        let reporter = Reporter {
            messages: self.spec.messages,
        };
        for index in 0..self.slots.len() {
            let spec = &self.slots[index].spec;
            log::info!("launching {} ({})", spec.name, spec.display);
            let handle = ProcessHandle::spawn(spec).await.map_err(|e| Error::Setup {
                process: spec.name.clone(),
                reason: e.to_string(),
            })?;
            self.watchdog.watch(handle.pid());
            let handle = Arc::new(handle);
            let watch = handle.exit().clone();
            let sender = self.sender.clone();
            task::spawn(async move {
                let end = watch.wait().await;
                let _ = sender.send(Event::Exited { index, end }).await;
            });
            self.slots[index].handle = Some(handle.clone());

            let Some(verifier) = self.slots[index]
                .spec
                .verifier
                .as_ref()
                .map(verify::for_spec)
            else {
                continue;
            };
            let mut check = verifier.verify(handle.exit(), &reporter);
            loop {
                let step = future::race(async { Ok((&mut check).await) }, async {
                    Err(self.events.recv().await)
                })
                .await;
                match step {
                    Ok(Readiness::Ready) => {
                        log::info!("{} is ready", self.slots[index].spec.name);
                        break;
                    }
                    Ok(Readiness::Failed(reason)) => {
                        return Err(Error::Setup {
                            process: self.slots[index].spec.name.clone(),
                            reason,
                        });
                    }
                    Err(Ok(Event::Exited { index, end })) => self.exited(index, end),
                    Err(Ok(Event::Signal(_))) => return Ok(false),
                    Err(Err(_)) => unreachable!("the supervisor holds a sender"),
                }
            }
        }
        Ok(true)
    }

    /// Waits until every process has ended (unless keep-alive) or a signal asks to stop.
    async fn wait(&mut self) {
        while self.spec.keep_alive || self.slots.iter().any(|s| s.handle.is_some() && !s.exited) {
            match self.events.recv().await {
                Ok(Event::Exited { index, end }) => self.exited(index, end),
                Ok(Event::Signal(_)) | Err(_) => return,
            }
        }
    }

    fn exited(&mut self, index: usize, end: ProcessEnd) {
        self.slots[index].exited = true;
        let spec = &self.slots[index].spec;
        log::info!("{} {end}", spec.name);
        if self.spec.messages.process_exit {
            println!(
                "rmanager: Process {} exited with code {}",
                spec.display,
                end.code()
            );
        }
    }

    /// Stops every process group at once: SIGTERM, SIGKILL after graceful_time; a SIGINT
    /// meanwhile kills everything at once.
    async fn shutdown(&mut self) {
        self.status = ManagerStatus::Shutdown;
        let running: Vec<_> = self
            .slots
            .iter()
            .filter_map(|s| Some((s.spec.name.clone(), s.handle.clone()?)))
            .collect();
        if running.iter().any(|(_, h)| h.exit().ended().is_none()) {
            println!(
                "rmanager: shutting down gracefully (SIGINT again to kill everything at once)"
            );
        }
        let (force, forced) = channel::bounded::<()>(1);
        let grace = self.spec.graceful_time;
        let stops: Vec<_> = running
            .into_iter()
            .map(|(name, handle)| {
                let forced = forced.clone();
                task::spawn(async move {
                    let (_, stop) = handle.terminate(grace, &forced).await;
                    if stop == Stop::AfterGrace {
                        println!(
                            "rmanager: {name} did not stop within {}; killed",
                            crate::verify::seconds_text(grace)
                        );
                    }
                    handle.pid()
                })
            })
            .collect();
        let mut force = Some(force);
        let all_stopped = async {
            for stop in stops {
                self.watchdog.forget(stop.await);
            }
        };
        let escalate = async {
            while let Ok(event) = self.events.recv().await {
                if matches!(event, Event::Signal(SIGINT)) {
                    self.status = ManagerStatus::ForceShutdown;
                    force.take();
                }
            }
        };
        future::race(all_stopped, escalate).await;
    }
}
