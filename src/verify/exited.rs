//! The `exited` check (pymanager's ExitedVerifier): a one-shot step that must exit with
//! the expected code.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{Kind, Resolution};
use super::verifier::{Check, Readiness, Reporter, Verifier, seconds};
use crate::process::ProcessHandle;
use crate::seconds::Seconds;

/// Passes when the process exits with `expect_code` within `timeout` (pymanager's
/// ExitedVerifier): a one-shot setup step.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitedVerifier {
    pub timeout: Duration,
    pub expect_code: i32,
}

impl Verifier for ExitedVerifier {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            report.attempt(format_args!(
                "waiting up to {} for exit code {}",
                seconds(self.timeout),
                self.expect_code
            ));
            let why = match crate::runtime::timeout(self.timeout, process.leader_ended()).await {
                Some(end) if end.code() == self.expect_code => return Readiness::Ready,
                Some(end) => format!("{end}, expected exit code {}", self.expect_code),
                None => format!("did not exit within {}", seconds(self.timeout)),
            };
            report.fail(&why);
            Readiness::Failed(why)
        })
    }
}

/// Passes when the process exits with `expect_code` within `timeout`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitedArguments {
    /// Seconds to wait for the process to exit before the verifier fails.
    #[serde(default = "Seconds::thirty")]
    pub timeout: Seconds,

    /// The exit code the process must exit with.
    #[serde(default)]
    #[schemars(range(min = -64, max = 255))]
    pub expect_code: i32,
}

impl Kind for ExitedVerifier {
    type Arguments = ExitedArguments;
    const NAME: &'static str = "exited";
    const PYMANAGER: Option<(&'static str, &'static str)> =
        Some(("pymutils.exited_verifier", "ExitedVerifier"));
    const SUMMARY: &'static str =
        "passes when the process exits with `expect_code` within `timeout`";
    const ARGUMENTS_REQUIRED: bool = false;
    const NUMBER_ARGUMENTS: &'static [&'static str] = &["timeout", "expect_code"];

    fn resolve(arguments: &ExitedArguments, _: &Resolution) -> Self {
        ExitedVerifier {
            timeout: arguments.timeout.duration(),
            expect_code: arguments.expect_code,
        }
    }
}
