//! The `log` check: a line of the process's output that matches a pattern.

use std::time::Duration;

use futures_lite::future;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{Kind, Resolution};
use super::verifier::{Check, Readiness, Reporter, Verifier, seconds};
use crate::output::MAX_LINE;
use crate::process::ProcessHandle;
use crate::seconds::Seconds;
use serde_json::Value;

/// Passes when a line of the process's output matches `pattern` (the process module
/// copies the output and does the matching as the lines pass).
#[derive(Debug, Clone, PartialEq)]
pub struct LogCheck {
    pub pattern: String,
    pub timeout: Duration,
}

/// How long after the process ended its last lines may still be on their way.
const DRAIN: Duration = Duration::from_millis(200);

impl Verifier for LogCheck {
    fn watches_output(&self) -> Option<&str> {
        Some(&self.pattern)
    }

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

/// Passes when a line of the process's output (stdout or stderr) matches `pattern`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogArguments {
    /// A regular expression (Rust `regex` syntax), such as `listening on port \\d+`.
    #[schemars(length(min = 1))]
    pub pattern: String,

    /// Seconds to wait for a matching line before the check fails.
    #[serde(default = "Seconds::thirty")]
    pub timeout: Seconds,
}

impl Kind for LogCheck {
    type Arguments = LogArguments;
    const NAME: &'static str = "log";
    const SUMMARY: &'static str = "passes when a line of the process's output matches `pattern`";
    const NUMBER_ARGUMENTS: &'static [&'static str] = &["timeout"];

    /// A pattern that is a regular expression.
    fn problems(arguments: &Value) -> Vec<(&'static str, String)> {
        let pattern = arguments.get("pattern").and_then(Value::as_str);
        match pattern.map(regex::Regex::new) {
            Some(Err(e)) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or_default().trim();
                let why = why.strip_prefix("error: ").unwrap_or(why);
                vec![("/pattern", format!("not a regular expression: {why}"))]
            }
            _ => Vec::new(),
        }
    }

    fn resolve(arguments: &LogArguments, _: &Resolution) -> Self {
        LogCheck {
            pattern: arguments.pattern.clone(),
            timeout: arguments.timeout.duration(),
        }
    }
}
