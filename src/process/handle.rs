use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;

use regex::Regex;

use super::Watchdog;
use super::output::{self, OutputWatch, Sink};
use super::unix::{Signal, signal_group};
use crate::latch::Latch;
use crate::spec::{Command, EnvironmentFile, Output, ProcessSpec, VerifierSpec};

/// The longest a stop waits for the last of a process's copied output.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    Exited(i32),
    Signaled(i32),
}

impl ProcessEnd {
    /// The code pymanager reports: the exit code, or the negative signal number.
    pub fn code(self) -> i32 {
        match self {
            ProcessEnd::Exited(code) => code,
            ProcessEnd::Signaled(signal) => -signal,
        }
    }
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ProcessEnd::Exited(code) => write!(f, "exited with code {code}"),
            ProcessEnd::Signaled(signal) => write!(f, "was killed by signal {signal}"),
        }
    }
}

/// How a process was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It ended within its grace time (or had ended already).
    Graceful,
    /// It was killed when its grace time ran out.
    AfterGrace,
    /// It was killed at once, on request.
    Forced,
}

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

/// Lets any number of tasks await one process's end.
#[derive(Clone)]
pub struct ExitWatch(Arc<Latch<ProcessEnd>>);

impl ExitWatch {
    /// Waits until the process has ended and been reaped.
    pub async fn wait(&self) -> ProcessEnd {
        self.0.wait().await
    }

    /// The end, if the process has ended.
    pub fn ended(&self) -> Option<ProcessEnd> {
        self.0.get()
    }
}

/// A running (or ended) child process, leader of its own process group.
pub struct ProcessHandle {
    pid: u32,
    exit: ExitWatch,
    output: Option<OutputWatch>,
}

impl ProcessHandle {
    /// Starts the process a spec describes.
    pub async fn spawn(
        spec: &ProcessSpec,
        watchdog: &Watchdog,
    ) -> Result<ProcessHandle, SpawnError> {
        let environment = match &spec.environment_file {
            Some(file) => Some(source_environment(file).await?),
            None => None,
        };
        let (program, args) = match &spec.command {
            Command::Direct { program, args } => (program.as_str(), args.clone()),
            Command::Shell { shell, line } => (shell.as_str(), vec!["-c".to_owned(), line.clone()]),
        };
        let mut command = std::process::Command::new(program);
        command.args(&args);
        // Its own group, so that every signal reaches the grandchildren too.
        command.process_group(0);
        watchdog.watch(&mut command);
        if let Some(dir) = &spec.working_directory {
            command.current_dir(dir);
        }
        if let Some(environment) = environment {
            command.env_clear().envs(environment);
        }
        let output_error = |source| match &spec.output {
            Output::File(path) => SpawnError::OutputFile {
                path: path.clone(),
                source,
            },
            _ => SpawnError::Spawn {
                program: program.to_owned(),
                source,
            },
        };
        // A log check reads the output on its way; otherwise it goes straight where it goes.
        let pattern = match &spec.verifier {
            Some(VerifierSpec::Log { pattern, .. }) => {
                Some(Regex::new(pattern).map_err(|e| SpawnError::Pattern(e.to_string()))?)
            }
            _ => None,
        };
        let (stdout, stderr) = match pattern {
            Some(_) => (Stdio::piped(), Stdio::piped()),
            None => output_stdio(&spec.output).map_err(output_error)?,
        };
        let sink = match (&pattern, &spec.output) {
            (Some(_), Output::File(path)) => Sink::File(File::create(path).map_err(output_error)?),
            (Some(_), Output::Inherit) => Sink::Stdout,
            _ => Sink::Nowhere,
        };
        // Converting resets stdio, so it is set afterwards.
        let mut command = async_process::Command::from(command);
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let mut child = command.spawn().map_err(|source| SpawnError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        let pid = child.id();
        let output = match (pattern, child.stdout.take(), child.stderr.take()) {
            (Some(pattern), Some(out), Some(err)) => {
                Some(output::watch(out, err, sink, pattern).map_err(output_error)?)
            }
            _ => None,
        };

        let end = Arc::new(Latch::new());
        let watch = ExitWatch(end.clone());
        async_std::task::spawn(async move {
            // status() is driven by SIGCHLD, not by polling, and reaps the child.
            let end_state = match child.status().await {
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => ProcessEnd::Exited(code),
                    (None, Some(signal)) => ProcessEnd::Signaled(signal),
                    (None, None) => ProcessEnd::Exited(-1),
                },
                Err(e) => {
                    log::error!("lost track of process {pid}: {e}");
                    ProcessEnd::Exited(-1)
                }
            };
            end.set(end_state);
        });
        Ok(ProcessHandle {
            pid,
            exit: watch,
            output,
        })
    }

    /// What the copying of its output says, when a `log` check reads it.
    pub fn output(&self) -> Option<&OutputWatch> {
        self.output.as_ref()
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn exit(&self) -> &ExitWatch {
        &self.exit
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL after `grace`, or at once when
    /// `force` is set. Returns how the leader ended and how it was stopped.
    pub async fn terminate(&self, grace: Duration, force: &Latch<()>) -> (ProcessEnd, Stop) {
        let mut stop = Stop::Graceful;
        if self.exit.ended().is_none() {
            self.signal(if grace.is_zero() {
                Signal::Kill
            } else {
                Signal::Term
            });
            let waited = future::race(async { Ok(self.exit.wait().await) }, async {
                future::race(
                    async {
                        async_std::task::sleep(grace).await;
                        Err(Stop::AfterGrace)
                    },
                    async {
                        force.wait().await;
                        Err(Stop::Forced)
                    },
                )
                .await
            })
            .await;
            if let Err(how) = waited {
                self.signal(Signal::Kill);
                stop = how;
            }
        }
        let end = self.exit.wait().await;
        // The leader is gone; whatever it left behind in its group goes too.
        self.signal(Signal::Kill);
        // Output being copied for a log check is still written out, unless something
        // outside the group holds the pipe open.
        if let Some(output) = &self.output {
            let drained = async { output.drained.wait().await };
            future::race(drained, async_std::task::sleep(DRAIN_LIMIT)).await;
        }
        (end, stop)
    }

    fn signal(&self, signal: Signal) {
        if let Err(e) = signal_group(self.pid, signal) {
            log::warn!("cannot signal process group {}: {e}", self.pid);
        }
    }
}

/// Where the child's stdout and stderr go.
fn output_stdio(output: &Output) -> io::Result<(Stdio, Stdio)> {
    match output {
        // Both streams to rmanager's stdout, as pymanager does.
        Output::Inherit => {
            let stdout = io::stdout();
            let duplicate = || stdout.as_fd().try_clone_to_owned().map(Stdio::from);
            Ok((duplicate()?, duplicate()?))
        }
        // Not a pipe nobody reads (pymanager's choice, which blocks a chatty child forever).
        Output::Suppress => Ok((Stdio::null(), Stdio::null())),
        Output::File(path) => {
            let file = File::create(path)?;
            Ok((Stdio::from(file.try_clone()?), Stdio::from(file)))
        }
    }
}

/// Runs the environment file through its shell and returns the resulting environment:
/// rmanager's own, overlaid with what the file exports.
async fn source_environment(file: &EnvironmentFile) -> Result<Vec<(String, String)>, SpawnError> {
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
    let output = async_process::Command::new(&file.shell)
        .args(["-c", ". \"$1\" && env -0", "rmanager-environment"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| failed(format!("cannot run {}: {e}", file.shell)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!("sourcing failed: {}", stderr.trim())));
    }
    Ok(output
        .stdout
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect())
}
