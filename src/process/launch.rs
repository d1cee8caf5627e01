//! How a managed process is to be started, as the spec layer resolved it: its command
//! line, its environment, where its output goes. `ProcessHandle::spawn` reads only this.

use std::path::{Path, PathBuf};

/// What to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Run `program` with `args`, no shell involved.
    Direct { program: String, args: Vec<String> },
    /// Run `shell -c line`.
    Shell { shell: String, line: String },
}

impl CommandLine {
    /// The program that runs: the named one, or the shell.
    pub fn program(&self) -> &str {
        match self {
            CommandLine::Direct { program, .. } => program,
            CommandLine::Shell { shell, .. } => shell,
        }
    }

    /// The command line as a user would type it.
    pub fn line(&self) -> String {
        match self {
            CommandLine::Direct { program, args } => std::iter::once(program)
                .chain(args)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            CommandLine::Shell { line, .. } => line.clone(),
        }
    }
}

/// A script whose exported variables are added to a process's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFile {
    pub path: PathBuf,
    /// The shell that sources it.
    pub shell: String,
}

/// Where a process's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// To rmanager's stdout, as pymanager does.
    Inherit,
    /// Nowhere.
    Suppress,
    /// Into this file, created or truncated.
    File(PathBuf),
}

/// Everything `ProcessHandle::spawn` needs to start one managed process.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    pub command: &'a CommandLine,
    pub working_directory: Option<&'a Path>,
    pub environment_file: Option<&'a EnvironmentFile>,
    /// Variables over rmanager's environment.
    pub environment: &'a [(String, String)],
    /// The ports, set last, over everything (an environment file's exports too).
    pub ports: &'a [(String, String)],
    pub output: &'a Output,
    /// How many of its latest output lines are kept.
    pub log_lines: usize,
    /// Its stdout and stderr are a pseudo-terminal.
    pub tty: bool,
    /// A regular expression its lines are matched against (a `log` check's).
    pub pattern: Option<&'a str>,
}
