//! The `file` check: a path that exists.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{Kind, Resolution};
use super::net::reason;
use super::verifier::{Backoff, Check, Reporter, Timing, Verifier, poll};
use crate::process::ProcessHandle;
use crate::seconds::{Interval, Seconds};

/// Passes when `path` exists.
#[derive(Debug, Clone, PartialEq)]
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

/// Passes when `path` exists.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileArguments {
    /// The file (or directory) to wait for, relative to rmanager's working directory.
    #[schemars(length(min = 1))]
    pub path: String,

    /// Seconds to keep trying before the check fails.
    #[serde(default = "Seconds::thirty")]
    pub timeout: Seconds,

    /// The longest wait between attempts, in seconds.
    #[serde(default = "Interval::one")]
    pub interval: Interval,
}

impl Kind for FileCheck {
    type Arguments = FileArguments;
    const NAME: &'static str = "file";
    const SUMMARY: &'static str = "passes when `path` exists";
    const NUMBER_ARGUMENTS: &'static [&'static str] = &["timeout", "interval"];

    fn resolve(arguments: &FileArguments, _: &Resolution) -> Self {
        FileCheck {
            path: PathBuf::from(&arguments.path),
            timing: Timing::of(arguments.timeout, arguments.interval),
        }
    }
}
