use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Stdio;
use std::time::Duration;

use super::net::reason;
use super::verifier::{Check, Reporter, Timing, Verifier, poll};
use crate::process::{ProcessHandle, Signal, signal_group};
use crate::spec::Command;

/// The shortest wait between attempts: each one spawns a process.
const SPAWN_FLOOR: Duration = Duration::from_millis(10);

/// Passes when a command exits with code 0: how users bring checks of their own, in any
/// language (a pymanager verifier class becomes a script).
pub struct CommandCheck {
    pub command: Command,
    pub timing: Timing,
}

impl Verifier for CommandCheck {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            let line = match &self.command {
                Command::Direct { program, args } => std::iter::once(program)
                    .chain(args)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                Command::Shell { line, .. } => line.clone(),
            };
            let target = format!("command {line}");
            let text = format!("run {line}");
            poll(
                process,
                report,
                self.timing,
                SPAWN_FLOOR,
                &target,
                &text,
                || self.attempt(),
            )
            .await
        })
    }
}

impl CommandCheck {
    async fn attempt(&self) -> Result<(), String> {
        let (program, args) = match &self.command {
            Command::Direct { program, args } => (program.as_str(), args.clone()),
            Command::Shell { shell, line } => (shell.as_str(), vec!["-c".to_owned(), line.clone()]),
        };
        let mut command = std::process::Command::new(program);
        command.args(&args).process_group(0);
        let mut command = async_process::Command::from(command);
        command
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {program}: {}", reason(&e)))?;
        // An attempt cut short by `interval` drops this future: the guard then kills the
        // attempt's whole group, and async-process (kill_on_drop) reaps it.
        let _group = GroupGuard(child.id());
        let output = child.output().await.map_err(|e| reason(&e))?;
        if output.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        let how = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "failed".to_owned(),
        };
        Err(if said.is_empty() {
            how
        } else {
            format!("{how}: {}", said.trim())
        })
    }
}

/// Kills a process group when dropped.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = signal_group(self.0, Signal::Kill);
    }
}
