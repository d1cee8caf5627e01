//! The `command` check: a command of the user's that exits with code 0.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kind::{Kind, Resolution};
use super::net::reason;
use super::verifier::{Check, Reporter, Timing, Verifier, poll};
use crate::process::CommandLine;
use crate::process::{self, ProcessEnd, ProcessHandle, run_to_end};
use crate::seconds::{Interval, Seconds};

/// The shortest wait between attempts: each one spawns a process.
const SPAWN_FLOOR: Duration = Duration::from_millis(10);

/// Passes when a command exits with code 0: how users bring checks of their own, in any
/// language (a pymanager verifier class becomes a script).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandCheck {
    pub command: CommandLine,
    /// Its process's environment and the ports.
    pub environment: Vec<(String, String)>,
    pub timing: Timing,
}

impl Verifier for CommandCheck {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            let line = self.command.line();
            let target = format!("command {line}");
            let text = format!("run {line}");
            poll(
                process,
                report,
                self.timing,
                SPAWN_FLOOR,
                &target,
                &text,
                None,
                || self.attempt(process),
            )
            .await
        })
    }
}

impl CommandCheck {
    async fn attempt(&self, process: &ProcessHandle) -> Result<(), String> {
        let program = self.command.program();
        let mut command = process::Command::from(&self.command);
        command.envs(self.environment.iter().cloned());
        // An attempt cut short by `interval` drops this future, and with it the attempt's
        // group, which is then killed (and reaped once it has gone).
        let finished = run_to_end(command, process.watchdog().cloned())
            .await
            .map_err(|e| format!("cannot run {program}: {}", reason(&e)))?;
        if finished.end == ProcessEnd::Exited(0) {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&finished.stderr);
        let said = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        Err(if said.is_empty() {
            finished.end.to_string()
        } else {
            format!("{}: {}", finished.end, said.trim())
        })
    }
}

/// Passes when a command exits with code 0: bring your own check, in any language. Give
/// either `command` or `shell`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandArguments {
    /// The program and its arguments, run directly: `["pg_isready", "-h", "127.0.0.1"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub command: Option<Vec<String>>,

    /// A command line run with `default_shell`: `"redis-cli ping | grep -q PONG"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub shell: Option<String>,

    /// Seconds to keep trying before the check fails.
    #[serde(default = "Seconds::thirty")]
    pub timeout: Seconds,

    /// The longest wait between attempts, and the limit on each attempt, in seconds.
    #[serde(default = "Interval::one")]
    pub interval: Interval,
}

impl Kind for CommandCheck {
    type Arguments = CommandArguments;
    const NAME: &'static str = "command";
    const SUMMARY: &'static str = "passes when `command` (or the `shell` line) exits with code 0";
    const NUMBER_ARGUMENTS: &'static [&'static str] = &["timeout", "interval"];
    const COMMAND_ARGUMENTS: &'static [&'static str] = &["command", "shell"];

    /// Exactly one of `command` and `shell`.
    fn problems(arguments: &Value) -> Vec<(&'static str, String)> {
        let problem = match (arguments.get("command"), arguments.get("shell")) {
            (Some(_), Some(_)) => "give \"command\" or \"shell\", not both",
            (None, None) => {
                "give \"command\" (the program and its arguments) or \"shell\" (a command line)"
            }
            _ => return Vec::new(),
        };
        vec![("", problem.to_owned())]
    }

    fn resolve(arguments: &CommandArguments, process: &Resolution) -> Self {
        CommandCheck {
            // Validation requires exactly one of the two.
            command: match (&arguments.command, &arguments.shell) {
                (Some(argv), _) => CommandLine::Direct {
                    program: argv.first().cloned().unwrap_or_default(),
                    args: argv.iter().skip(1).cloned().collect(),
                },
                (None, line) => CommandLine::Shell {
                    shell: process.shell.to_owned(),
                    line: line.clone().unwrap_or_default(),
                },
            },
            environment: [process.environment, process.ports].concat(),
            timing: Timing::of(arguments.timeout, arguments.interval),
        }
    }
}
