//! One managed process: its group, started from its spec with its output where the spec
//! says, and stopped as a whole.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use regex::Regex;

use super::group::{ProcessGroup, Stop};
use super::{Command, EnvironmentFile, Launch, Output, ProcessEnd, Stdio, Watchdog};
use crate::latch::Latch;
use crate::output::{self, Capture, Destination, Label};

/// The longest a stop waits for the last of a process's copied output.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The longest sourcing an environment file may take.
const SOURCE_LIMIT: Duration = Duration::from_secs(10);

/// Why a process could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The environment file is missing, or sourcing it failed.
    EnvironmentFile { path: PathBuf, reason: String },
    /// The redirect_output file cannot be created.
    OutputFile { path: PathBuf, source: io::Error },
    /// The program could not be executed.
    Spawn { program: String, source: io::Error },
    /// The log check's pattern is not a regular expression (validation checks it).
    Pattern(String),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            SpawnError::EnvironmentFile { path, reason } => {
                write!(f, "environment file {}: {reason}", path.display())
            }
            SpawnError::OutputFile { path, source } => {
                write!(f, "cannot create output file {}: {source}", path.display())
            }
            SpawnError::Spawn { program, source } => write!(f, "cannot run {program}: {source}"),
            SpawnError::Pattern(why) => write!(f, "the log check's pattern: {why}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::OutputFile { source, .. } | SpawnError::Spawn { source, .. } => {
                Some(source)
            }
            SpawnError::EnvironmentFile { .. } | SpawnError::Pattern(_) => None,
        }
    }
}

/// A running (or ended) managed process, leader of its own process group.
pub struct ProcessHandle {
    group: ProcessGroup,
    output: Capture,
    watchdog: Option<Arc<Watchdog>>,
}

impl ProcessHandle {
    /// Starts the process `spec` describes; its lines on the terminal begin with `label`
    /// (none: they are printed as they are).
    pub async fn spawn(
        spec: &Launch<'_>,
        label: Option<Label>,
        watchdog: Option<Arc<Watchdog>>,
    ) -> Result<ProcessHandle, SpawnError> {
        let environment = match spec.environment_file {
            Some(file) => {
                // The file may read the ports, as the process will.
                let environment = [spec.environment, spec.ports].concat();
                Some(source_environment(file, &environment, watchdog.clone()).await?)
            }
            None => None,
        };
        let mut command = Command::from(spec.command);
        if let Some(dir) = spec.working_directory {
            command.current_dir(dir);
        }
        match environment {
            // What the file exported, over what it was sourced with.
            Some(sourced) => command.env_clear().envs(sourced),
            None => command.envs(spec.environment.iter().cloned()),
        };
        command.envs(spec.ports.iter().cloned());
        let program = spec.command.program();
        let output_error = |source| match spec.output {
            Output::File(path) => SpawnError::OutputFile {
                path: path.clone(),
                source,
            },
            _ => SpawnError::Spawn {
                program: program.to_owned(),
                source,
            },
        };
        let pattern = match spec.pattern {
            Some(pattern) => {
                Some(Regex::new(pattern).map_err(|e| SpawnError::Pattern(e.to_string()))?)
            }
            None => None,
        };
        let destination = match spec.output {
            Output::Inherit => Destination::Terminal(label),
            Output::Suppress => Destination::Nowhere,
            Output::File(path) => Destination::File(File::create(path).map_err(output_error)?),
        };
        let terminal = match spec.tty {
            true => Some(pseudo_terminal().map_err(output_error)?),
            false => None,
        };
        command.stdin(Stdio::Null);
        match &terminal {
            Some((_, child)) => {
                let side = || child.try_clone().map(Stdio::Fd).map_err(output_error);
                command.stdout(side()?).stderr(side()?);
            }
            None => {
                command.stdout(Stdio::Piped).stderr(Stdio::Piped);
            }
        }
        let (group, pipes) = ProcessGroup::spawn(command, watchdog.clone())
            .await
            .map_err(|source| SpawnError::Spawn {
                program: program.to_owned(),
                source,
            })?;
        // With a terminal, its other side is the child's alone from now on: once the child
        // and what it started have closed it, reading ends.
        let (stdout, stderr) = match terminal {
            Some((ours, _)) => (File::from(ours), None),
            None => match (pipes.stdout, pipes.stderr) {
                (Some(stdout), stderr @ Some(_)) => (stdout, stderr),
                _ => unreachable!("both streams were asked for as pipes"),
            },
        };
        // A failure here leaves a started group, which dropping kills.
        let output = output::start(stdout, stderr, destination, pattern, spec.log_lines)
            .map_err(output_error)?;
        Ok(ProcessHandle {
            group,
            output,
            watchdog,
        })
    }

    /// Its output: the `log` check's match, and its recent lines.
    pub fn output(&self) -> &Capture {
        &self.output
    }

    /// The watchdog that guards it, and whatever its checks start.
    pub fn watchdog(&self) -> Option<&Arc<Watchdog>> {
        self.watchdog.as_ref()
    }

    pub fn pid(&self) -> u32 {
        self.group.pgid()
    }

    /// How the process itself (the group's leader) ended, once it has.
    pub fn leader_end(&self) -> Option<ProcessEnd> {
        self.group.leader_end()
    }

    pub async fn leader_ended(&self) -> ProcessEnd {
        self.group.leader_ended().await
    }

    /// The leader's end, once the whole group has gone: until then the process counts as
    /// running, even when only what it started in the background is left.
    pub fn ended(&self) -> Option<ProcessEnd> {
        self.group.emptied()
    }

    /// The leader's end if the whole group has gone, judged now rather than when the
    /// group's watch task next looks.
    pub fn gone(&self) -> Option<ProcessEnd> {
        self.ended().or_else(|| {
            let end = self.leader_end()?;
            self.group.members().is_empty().then_some(end)
        })
    }

    pub async fn wait_ended(&self) -> ProcessEnd {
        self.group.wait_empty().await
    }

    /// Stops the whole process group (see [`ProcessGroup::terminate`]), then waits for the
    /// last of its output to be written out.
    pub async fn terminate(&self, grace: Duration, force: &Latch<()>) -> Stop {
        let stop = self.group.terminate(grace, force).await;
        self.output_written().await;
        stop
    }

    /// Waits until its output has been passed on, unless something outside the group
    /// holds the pipes open.
    pub async fn output_written(&self) {
        let drained = async { self.output.drained.wait().await };
        future::race(drained, crate::runtime::sleep(DRAIN_LIMIT)).await;
    }
}

/// Runs the environment file through its shell and returns the resulting environment:
/// rmanager's own, overlaid with what the file exports.
async fn source_environment(
    file: &EnvironmentFile,
    environment: &[(String, String)],
    watchdog: Option<Arc<Watchdog>>,
) -> Result<Vec<(String, String)>, SpawnError> {
    let failed = |reason: String| SpawnError::EnvironmentFile {
        path: file.path.clone(),
        reason,
    };
    if !file.path.is_file() {
        return Err(failed("no such file".to_owned()));
    }
    // `.` looks a bare name up in PATH, not in the working directory.
    let path = if file.path.components().count() == 1 && file.path.is_relative() {
        Path::new(".").join(&file.path)
    } else {
        file.path.clone()
    };
    let mut command = Command::new(&file.shell);
    command
        // What the file itself prints goes to stderr: stdout carries the variables, after
        // a marker that says the file was sourced to its end.
        .args([
            "-c",
            ". \"$1\" >&2 && printf 'rmanager-environment\\0' && env -0",
            "rmanager-environment",
        ])
        .arg(&path)
        .envs(environment.iter().cloned());
    let run = super::group::run_to_end(command, watchdog);
    let finished = future::race(async { Some(run.await) }, async {
        crate::runtime::sleep(SOURCE_LIMIT).await;
        None
    })
    .await
    .ok_or_else(|| {
        failed(format!(
            "sourcing it did not finish within {} s",
            SOURCE_LIMIT.as_secs()
        ))
    })?
    .map_err(|e| failed(format!("cannot run {}: {e}", file.shell)))?;
    if finished.end != ProcessEnd::Exited(0) {
        let stderr = String::from_utf8_lossy(&finished.stderr);
        return Err(failed(format!("sourcing failed: {}", stderr.trim())));
    }
    let marker = b"rmanager-environment\0";
    let Some(start) = finished
        .stdout
        .windows(marker.len())
        .position(|w| w == marker)
    else {
        return Err(failed(
            "it ended the shell (exit?) before its variables could be read".to_owned(),
        ));
    };
    Ok(finished.stdout[start + marker.len()..]
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect())
}

/// A pseudo-terminal for a child's stdout and stderr: rmanager's side and the child's. The
/// child sees a terminal, so that runtimes which buffer a pipe (Python, Perl, C stdio)
/// write each line as it comes; output processing is off, so its bytes arrive as written.
fn pseudo_terminal() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::OpenptFlags;
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let ours = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&ours)?;
    rustix::pty::unlockpt(&ours)?;
    let child = rustix::pty::ioctl_tiocgptpeer(&ours, flags)?;
    let mut modes = rustix::termios::tcgetattr(&child)?;
    modes.output_modes -= rustix::termios::OutputModes::OPOST;
    rustix::termios::tcsetattr(&child, rustix::termios::OptionalActions::Now, &modes)?;
    Ok((ours, child))
}
