//! rmanager's errors, each carrying what a user needs to fix the problem, and the one place
//! that maps them to exit codes.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::process::{ProcessEnd, SpawnError};

/// The exit codes rmanager documents in its README.
pub mod exit_code {
    pub const OK: u8 = 0;
    pub const CONFIG_NOT_FOUND: u8 = 1;
    pub const CONFIG_UNREADABLE: u8 = 2;
    pub const CONFIG_INVALID: u8 = 3;
    pub const NO_PROCESSES: u8 = 4;
    pub const SETUP_FAILED: u8 = 5;
    /// A command-line usage error (clap's code, as pymanager's was).
    pub const USAGE: u8 = 2;
    /// Fixture mode: COMMAND was found but cannot be run (the shell's code).
    pub const COMMAND_NOT_EXECUTABLE: u8 = 126;
    /// Fixture mode: COMMAND was not found (the shell's code).
    pub const COMMAND_NOT_FOUND: u8 = 127;
    /// Fixture mode: COMMAND was killed by signal N: this plus N.
    pub const KILLED_BY_SIGNAL: u8 = 128;
}

/// One problem in a configuration file, at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    /// JSON pointer to the offending value, such as `/processes/web/options/shell`; empty for
    /// the whole document.
    pub pointer: String,
    /// What is wrong and what is allowed, in plain words.
    pub message: String,
}

#[derive(Debug)]
pub enum Error {
    ConfigNotFound {
        path: PathBuf,
        /// The file that was also looked for when no file was named.
        fallback: Option<PathBuf>,
    },
    ConfigUnreadable {
        path: PathBuf,
        source: io::Error,
    },
    ConfigInvalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    NoProcesses {
        path: PathBuf,
    },
    /// A process could not be started or did not become ready; everything was stopped.
    Setup {
        process: String,
        failure: Failure,
        /// The processes the launch never reached.
        not_started: Vec<String>,
        /// The process's last lines of output, for the report.
        output: Box<[String]>,
        /// Other processes that failed on their own during setup.
        also_failed: Box<[EndedEarly]>,
    },
    /// A port the file asks for cannot be had.
    Port(crate::ports::PortError),
    /// The daemon's pidfile cannot be written, or another daemon holds it.
    PidFile {
        path: PathBuf,
        source: io::Error,
    },
    /// The control API cannot start: its port is in use, or its token is missing.
    ControlApi {
        reason: String,
    },
    /// The -l file cannot be opened for appending.
    Logfile {
        path: PathBuf,
        source: io::Error,
    },
    /// The --events file cannot be created.
    Events {
        path: PathBuf,
        source: io::Error,
    },
    /// A shutdown was asked for before every process was ready.
    Interrupted,
    /// A bug: a task of rmanager's panicked where nothing can carry on; everything was
    /// killed.
    Internal(String),
    /// rmanager itself could not set up (signal handlers, ...).
    Manager {
        what: &'static str,
        source: io::Error,
    },
}

/// A process that ended by itself, with a failure, while the environment was starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedEarly {
    pub process: String,
    /// The exit code, or the negative signal number.
    pub code: i32,
    /// Its last lines of output.
    pub output: Vec<String>,
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::ConfigNotFound { .. } => exit_code::CONFIG_NOT_FOUND,
            Error::ConfigUnreadable { .. } | Error::Logfile { .. } | Error::Events { .. } => {
                exit_code::CONFIG_UNREADABLE
            }
            Error::ConfigInvalid { .. } => exit_code::CONFIG_INVALID,
            Error::NoProcesses { .. } => exit_code::NO_PROCESSES,
            Error::Setup { .. }
            | Error::Port(_)
            | Error::PidFile { .. }
            | Error::ControlApi { .. }
            | Error::Interrupted
            | Error::Internal(_)
            | Error::Manager { .. } => exit_code::SETUP_FAILED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::ConfigNotFound { path, fallback } => {
                write!(f, "{}: no such file", path.display())?;
                if let Some(fallback) = fallback {
                    write!(f, " (nor {}); name one with -f FILE", fallback.display())?;
                }
                Ok(())
            }
            Error::ConfigUnreadable { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            Error::ConfigInvalid { path, diagnostics } => {
                for (i, d) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{}:{}:{}: ", path.display(), d.line, d.column)?;
                    if !d.pointer.is_empty() {
                        write!(f, "{}: ", printable_pointer(&d.pointer))?;
                    }
                    f.write_str(&d.message)?;
                }
                Ok(())
            }
            Error::NoProcesses { path } => write!(
                f,
                "{}: no processes: list at least one under \"processes\"",
                path.display()
            ),
            Error::Setup {
                process,
                failure,
                not_started,
                output,
                also_failed,
            } => {
                write!(
                    f,
                    "rmanager: setup failed: {process}: {failure}; stopped everything"
                )?;
                if !not_started.is_empty() {
                    write!(f, " (never started: {})", not_started.join(", "))?;
                }
                // Its own words are usually the reason, even when its output went nowhere.
                let mut report = crate::output::quoted(process, output);
                for other in also_failed {
                    report.push_str(&format!(
                        "rmanager: {} {} during setup\n{}",
                        other.process,
                        ProcessEnd::from_code(other.code),
                        crate::output::quoted(&other.process, &other.output)
                    ));
                }
                match report.strip_suffix('\n') {
                    Some(report) => write!(f, "\n{report}"),
                    None => Ok(()),
                }
            }
            Error::Port(e) => write!(f, "rmanager: setup failed: {e}"),
            Error::PidFile { path, source } => write!(
                f,
                "rmanager: setup failed: pidfile {}: {source}",
                path.display()
            ),
            Error::ControlApi { reason } => {
                write!(f, "rmanager: setup failed: the HTTP control API: {reason}")
            }
            Error::Events { path, source } => {
                write!(
                    f,
                    "rmanager: cannot write the events file {}: {source}",
                    path.display()
                )
            }
            Error::Logfile { path, source } => {
                write!(
                    f,
                    "rmanager: cannot write the logfile {}: {source}",
                    path.display()
                )
            }
            Error::Interrupted => f.write_str("rmanager: shut down before every process was ready"),
            Error::Internal(what) => {
                write!(f, "rmanager: internal error: {what}; killed everything")
            }
            Error::Manager { what, source } => write!(f, "rmanager: {what}: {source}"),
        }
    }
}

/// A JSON pointer as a message prints it: a key may hold anything, so control characters
/// are escaped (`\u001b`) and a segment longer than 40 characters is shortened.
fn printable_pointer(pointer: &str) -> String {
    pointer
        .split('/')
        .map(|segment| {
            let mut shown = String::new();
            for (i, c) in segment.chars().enumerate() {
                if i == 37 && segment.chars().count() > 40 {
                    shown.push_str("...");
                    break;
                }
                match c {
                    c if c.is_control() => shown.push_str(&format!("\\u{:04x}", c as u32)),
                    c => shown.push(c),
                }
            }
            shown
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Why a process did not come up.
#[derive(Debug, Clone)]
pub enum Failure {
    /// It could not be started.
    Spawn(Arc<SpawnError>),
    /// It started, but its check failed; why, in words that follow its name.
    Check(String),
    /// A bug in rmanager or a library it uses (a panic), caught and reported.
    Internal(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Failure::Spawn(e) => e.fmt(f),
            Failure::Check(why) => f.write_str(why),
            Failure::Internal(what) => write!(f, "internal error: {what}"),
        }
    }
}

/// Equal when they say the same: a spawn error's source has no equality of its own.
impl PartialEq for Failure {
    fn eq(&self, other: &Failure) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Failure {}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Spawn(e) => Some(e.as_ref()),
            Failure::Check(_) | Failure::Internal(_) => None,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Setup { failure, .. } => Some(failure),
            Error::Port(e) => Some(e),
            Error::ConfigUnreadable { source, .. }
            | Error::PidFile { source, .. }
            | Error::Logfile { source, .. }
            | Error::Events { source, .. }
            | Error::Manager { source, .. } => Some(source),
            _ => None,
        }
    }
}
