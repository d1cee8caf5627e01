//! What to start: a program, its arguments, environment, working directory and standard
//! streams. Our own type rather than std's `Command` because every child is set up between
//! clone and exec (its own group, death with rmanager, the watchdog's record), which std
//! allows only through `pre_exec`, and that makes every spawn a full fork (see `spawn`).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::CommandLine;

/// Where one of a child's standard streams goes.
#[derive(Debug, Default)]
pub enum Stdio {
    /// rmanager's own.
    #[default]
    Inherit,
    /// /dev/null.
    Null,
    /// A pipe whose other end rmanager reads.
    Piped,
    /// This file or descriptor.
    Fd(OwnedFd),
}

impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio::Fd(file.into())
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio::Fd(fd)
    }
}

/// A program to start, built as with std's `Command`.
#[derive(Debug)]
pub struct Command {
    pub(super) program: OsString,
    pub(super) args: Vec<OsString>,
    /// Whether the child starts from an empty environment rather than rmanager's.
    pub(super) env_clear: bool,
    /// Changes to that environment, in order: set (Some) or removed (None).
    pub(super) env: Vec<(OsString, Option<OsString>)>,
    pub(super) current_dir: Option<PathBuf>,
    pub(super) stdio: [Stdio; 3],
    /// Whether it leads a process group of its own.
    pub(super) new_group: bool,
    /// The watchdog's record, sent by the child itself before it runs its program.
    pub(super) record: Option<super::watchdog::Record>,
    /// The environment's cgroup, where the child starts.
    pub(super) cgroup: Option<super::cgroup::Entry>,
}

impl Command {
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            current_dir: None,
            stdio: Default::default(),
            new_group: false,
            record: None,
            cgroup: None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Command {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self.env(key, value);
        }
        self
    }

    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    pub fn stdin(&mut self, stdio: Stdio) -> &mut Command {
        self.stdio[0] = stdio;
        self
    }

    pub fn stdout(&mut self, stdio: Stdio) -> &mut Command {
        self.stdio[1] = stdio;
        self
    }

    pub fn stderr(&mut self, stdio: Stdio) -> &mut Command {
        self.stdio[2] = stdio;
        self
    }
}

impl From<&CommandLine> for Command {
    fn from(spec: &CommandLine) -> Command {
        let mut command = Command::new(spec.program());
        match spec {
            CommandLine::Direct { args, .. } => command.args(args),
            CommandLine::Shell { line, .. } => command.arg("-c").arg(line),
        };
        command
    }
}
