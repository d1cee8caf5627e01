use std::time::Duration;

use futures_lite::future;

use super::verifier::{Check, Readiness, Reporter, Verifier, seconds};
use crate::output::MAX_LINE;
use crate::process::ProcessHandle;

/// Passes when a line of the process's output matches `pattern` (the process module
/// copies the output and does the matching as the lines pass).
pub struct LogCheck {
    pub pattern: String,
    pub timeout: Duration,
}

/// How long after the process ended its last lines may still be on their way.
const DRAIN: Duration = Duration::from_millis(200);

impl Verifier for LogCheck {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            report.attempt(format_args!(
                "wait up to {} for a line matching /{}/",
                seconds(self.timeout),
                self.pattern
            ));
            let output = process.output();
            let matched = async {
                output.matched.wait().await;
                Readiness::Ready
            };
            let timeout = async {
                crate::runtime::sleep(self.timeout).await;
                Readiness::Failed(format!(
                    "no line matched /{}/ within {}",
                    self.pattern,
                    seconds(self.timeout)
                ))
            };
            let ended = async {
                let end = process.wait_ended().await;
                // Its last lines may still be in the pipe.
                let drained = async {
                    output.drained.wait().await;
                };
                future::race(drained, crate::runtime::sleep(DRAIN)).await;
                match output.matched.get() {
                    Some(()) => Readiness::Ready,
                    None => Readiness::Failed(format!("{end} before it became ready")),
                }
            };
            let mut outcome = future::race(matched, future::race(ended, timeout)).await;
            if let Readiness::Failed(why) = &mut outcome {
                if output.cut.load(std::sync::atomic::Ordering::Relaxed) {
                    why.push_str(&format!(
                        " (lines longer than {} KiB were matched on their first {0} KiB)",
                        MAX_LINE / 1024
                    ));
                }
                report.fail(why);
            }
            outcome
        })
    }
}
