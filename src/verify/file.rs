use std::path::PathBuf;

use super::net::reason;
use super::verifier::{Backoff, Check, Reporter, Timing, Verifier, poll};
use crate::process::ProcessHandle;

/// Passes when `path` exists.
pub struct FileCheck {
    pub path: PathBuf,
    pub timing: Timing,
}

impl Verifier for FileCheck {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            let target = format!("file {}", self.path.display());
            let text = format!("look for {}", self.path.display());
            poll(
                process,
                report,
                self.timing,
                Backoff::CHEAP,
                &target,
                &text,
                None,
                || async {
                    crate::runtime::fs::metadata(&self.path)
                        .await
                        .map(drop)
                        .map_err(|e| reason(&e))
                },
            )
            .await
        })
    }
}
