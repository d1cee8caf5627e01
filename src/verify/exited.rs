use std::time::Duration;

use super::verifier::{Check, Readiness, Reporter, Verifier, seconds};
use crate::process::ProcessHandle;

/// Passes when the process exits with `expect_code` within `timeout` (pymanager's
/// ExitedVerifier): a one-shot setup step.
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
