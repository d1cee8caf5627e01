use std::time::Duration;

use super::net::reason;
use super::verifier::{Check, Reporter, Timing, Verifier, poll};
use crate::process::CommandLine;
use crate::process::{self, ProcessEnd, ProcessHandle, run_to_end};

/// The shortest wait between attempts: each one spawns a process.
const SPAWN_FLOOR: Duration = Duration::from_millis(10);

/// Passes when a command exits with code 0: how users bring checks of their own, in any
/// language (a pymanager verifier class becomes a script).
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
