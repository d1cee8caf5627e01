use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::future;

use super::net::Occupied;
use super::prober;
use crate::events::{self, Event};
use crate::process::ProcessHandle;
use crate::seconds::{Interval, Seconds};

/// The outcome of a readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Why the process will not become ready, in words that follow its name.
    Failed(String),
}

/// A future a verifier returns; boxed so that verifiers can live behind `dyn Verifier`.
pub type Check<'a> = Pin<Box<dyn Future<Output = Readiness> + Send + 'a>>;

/// A readiness check. Implementations fail fast when the process ends first (unless its
/// end is what they wait for); the supervisor drops the future when shutdown begins.
pub trait Verifier: Send + Sync {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a>;

    /// The host and port it connects to, if it does (to see what listens there first).
    fn listens_on(&self) -> Option<(String, u16)> {
        None
    }

    /// The pattern the process's output is matched against as it passes, if any.
    fn watches_output(&self) -> Option<&str> {
        None
    }
}

/// How long a polling check keeps trying, and the longest wait between (and limit on)
/// its attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Timing {
    pub fn of(timeout: Seconds, interval: Interval) -> Timing {
        Timing {
            timeout: timeout.duration(),
            interval: interval.duration(),
        }
    }
}

/// Tries `attempt` until it passes: at once, then after the waits of [`Backoff`] (from
/// `floor`), each attempt bounded by `interval`, for up to `timeout`. When the process ends,
/// one last attempt decides. `target` names what is tried, for messages:
/// `tcp 127.0.0.1:5432`. With `probe` (loopback addresses the attempt connects to), the
/// waiting until one accepts is left to the prober thread, unless every attempt is to be
/// reported (`verifier.*` messages).
#[expect(
    clippy::too_many_arguments,
    reason = "one call per check kind, each naming all"
)]
pub async fn poll<F, A>(
    process: &ProcessHandle,
    report: &Reporter,
    timing: Timing,
    floor: Duration,
    target: &str,
    attempt_text: &str,
    probe: Option<&[SocketAddr]>,
    mut attempt: F,
) -> Readiness
where
    F: FnMut() -> A,
    A: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut backoff = Backoff::new(floor, timing.interval);
    let mut attempts = 0;
    let limit = seconds(timing.interval);
    if let (Some(addresses), false) = (probe, report.each_attempt()) {
        let until = started + timing.timeout;
        let probed = prober::until_open(&report.process, target, addresses, backoff, until);
        let probed = async { Some(probed.await) };
        let ended = async {
            process.wait_ended().await;
            None
        };
        // When the process ends first, the loop's one last attempt decides.
        if let Some(probed) = future::race(probed, ended).await {
            attempts += probed.attempts;
            if !probed.open {
                let why = probed.last.unwrap_or_else(|| "no answer".to_owned());
                return Readiness::Failed(format!(
                    "{target}: {why} ({attempts} attempts in {})",
                    seconds(started.elapsed())
                ));
            }
        }
    }
    loop {
        let ended = process.ended();
        attempts += 1;
        report.attempt(format_args!("{attempt_text} (limit {limit})"));
        // Most attempts (a refused probe) finish at their first poll: those need no timer.
        let mut pending = std::pin::pin!(attempt());
        let outcome = match future::poll_once(pending.as_mut()).await {
            Some(outcome) => Some(outcome),
            None => crate::runtime::timeout(timing.interval, pending).await,
        };
        let why = match outcome {
            // Something answered, but not this process if it has gone: another one holds
            // the port (and this one likely failed to bind it).
            Some(Ok(())) => match process.gone() {
                None => match report.occupied.as_ref().and_then(Occupied::stale_answer) {
                    None => return Readiness::Ready,
                    Some(holder) => format!(
                        "{target}: answered by {holder}, which listened there before {} started",
                        report.process
                    ),
                },
                Some(end) => {
                    let why = format!(
                        "{end} before it became ready; what answered at {target} is another process"
                    );
                    report.fail(&why);
                    return Readiness::Failed(why);
                }
            },
            Some(Err(why)) => format!("{target}: {why}"),
            None => format!("{target}: no answer within {}", seconds(timing.interval)),
        };
        report.fail(&why);
        if let Some(end) = ended {
            return Readiness::Failed(format!("{end} before it became ready"));
        }
        let elapsed = started.elapsed();
        if elapsed >= timing.timeout {
            return Readiness::Failed(format!(
                "{why} ({attempts} attempts in {})",
                seconds(elapsed)
            ));
        }
        let delay = backoff.next_delay().min(timing.timeout - elapsed);
        // An exit cuts the wait short: the next attempt is the last.
        future::race(crate::runtime::sleep(delay), async {
            process.wait_ended().await;
        })
        .await;
    }
}

/// Prints the `verifier.*` messages the configuration asks for, and records each failed
/// attempt as an event, for one process's check.
pub struct Reporter {
    /// `verifier.verbose`: say each attempt.
    pub verbose: bool,
    /// `verifier.fail`: say each failed attempt.
    pub fails: bool,
    pub process: String,
    /// What listened on the check's port before the process started: an answer from it
    /// alone does not pass (the process may have failed to bind, or not bound yet).
    pub occupied: Option<Occupied>,
}

impl Reporter {
    /// Whether every attempt is to be reported, so each must be made where it can be.
    pub fn each_attempt(&self) -> bool {
        self.fails || self.verbose
    }

    /// An attempt about to be made (`verifier.verbose`).
    /// (Formatted only when it is shown: polling checks call this for every attempt.)
    pub fn attempt(&self, what: std::fmt::Arguments) {
        if self.verbose {
            crate::say!("Verifier: {what}");
        } else {
            log::debug!("verifier: {what}");
        }
    }

    /// An attempt that failed (`verifier.fail`).
    pub fn fail(&self, why: &str) {
        events::emit(Event::CheckAttemptFailed {
            process: &self.process,
            reason: why,
        });
        if self.fails {
            crate::say!("Verifier fail: {why}");
        } else {
            log::debug!("verifier: {why}");
        }
    }
}

/// Waits between attempts of a polling check: 1% of the time waited so far, at least
/// `floor`, at most `interval`. A service that answers after 200 ms is noticed within
/// 3 ms of it (1.5%), one that takes 10 s within 100 ms, and a check costs a few hundred cheap
/// attempts however long the wait (pymanager sleeps a whole interval each time).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    started: Instant,
    floor: Duration,
    max: Duration,
}

impl Backoff {
    /// The floor for cheap attempts (a connect, a stat): each costs a thread wake-up, some
    /// 20 us of CPU on a virtual machine, so 3 ms rather than 2 is a third less CPU while
    /// waiting, for 0.5% of the wait later noticed. The command check, which spawns a
    /// process per attempt, uses a higher one.
    pub const CHEAP: Duration = Duration::from_millis(3);

    pub fn new(floor: Duration, max: Duration) -> Self {
        Backoff {
            started: Instant::now(),
            floor: floor.min(max),
            max,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        self.delay_at(Instant::now())
    }

    /// The wait after an attempt made at `now`.
    pub fn delay_at(&self, now: Instant) -> Duration {
        (now.saturating_duration_since(self.started) / 100).clamp(self.floor, self.max)
    }
}

/// How many seconds a check ran, for messages.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}
