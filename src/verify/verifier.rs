use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{ExitedVerifier, HttpOkVerifier};
use crate::process::ExitWatch;
use crate::spec::{Messages, VerifierSpec};

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
    fn verify<'a>(&'a self, process: &'a ExitWatch, report: &'a Reporter) -> Check<'a>;
}

/// The verifier a spec describes.
pub fn for_spec(spec: &VerifierSpec) -> Box<dyn Verifier> {
    match spec {
        VerifierSpec::HttpOk {
            url,
            timeout,
            interval,
            headers,
        } => Box::new(HttpOkVerifier {
            url: url.clone(),
            timeout: *timeout,
            interval: *interval,
            headers: headers.clone(),
        }),
        VerifierSpec::Exited {
            timeout,
            expect_code,
        } => Box::new(ExitedVerifier {
            timeout: *timeout,
            expect_code: *expect_code,
        }),
    }
}

/// Prints the `verifier.*` messages the configuration asks for.
pub struct Reporter {
    pub messages: Messages,
}

impl Reporter {
    /// An attempt about to be made (`verifier.verbose`).
    pub fn attempt(&self, what: &str) {
        if self.messages.verifier_verbose {
            crate::say!("Verifier: {what}");
        } else {
            log::debug!("verifier: {what}");
        }
    }

    /// An attempt that failed (`verifier.fail`).
    pub fn fail(&self, why: &str) {
        if self.messages.verifier_fail {
            crate::say!("Verifier fail: {why}");
        } else {
            log::debug!("verifier: {why}");
        }
    }
}

/// Waits between attempts of a polling check: 10 ms at first, doubling up to `interval`,
/// so readiness is noticed within a few ms of the service answering without hammering it.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(10).min(max),
            max,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
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
