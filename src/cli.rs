//! The command line: flags (their --help text is in the doc comments below) and what each
//! mode does.

use std::fs::File;
use std::io::IsTerminal;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::config;
use crate::daemon::{self, Detached};
use crate::environment::Environment;
use crate::error::{Error, exit_code};
use crate::fixture;
use crate::runtime::block_on;
use crate::spec::{Allocation, Loaded, ManagerSpec, Progress};

/// Launch the processes a test environment needs, wait until each is ready, control them
/// over HTTP, and shut them all down together.
///
/// Exit codes: 0 ok, 1 file not found, 2 file unreadable (or a usage error), 3 invalid
/// configuration, 4 no processes, 5 setup failed.
#[derive(Debug, Parser)]
#[command(name = "rmanager", version, disable_version_flag = true)]
pub struct Cli {
    /// The configuration file [default: rmanager.json, or pymanager.json when only that exists]
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Check the configuration file and exit: launch nothing
    #[arg(long, conflicts_with_all = ["print_schema", "daemon"])]
    pub validate: bool,

    /// Print the configuration's JSON Schema and exit
    #[arg(long)]
    pub print_schema: bool,

    /// Print the configuration with its variables replaced (free ports chosen as a run
    /// would, tokens masked) and exit
    #[arg(long, conflicts_with_all = ["validate", "print_schema", "daemon"])]
    pub print_config: bool,

    /// Run in the background: return once every process is ready (exit 0), or failed (exit 5)
    #[arg(short, long, conflicts_with = "command")]
    pub daemon: bool,

    /// With --daemon, write the daemon's pid to FILE
    #[arg(long, value_name = "FILE", requires = "daemon")]
    pub pidfile: Option<PathBuf>,

    /// Show launch and verification step by step
    #[arg(short, long)]
    pub verbose: bool,

    /// Show debug detail (implies --verbose)
    #[arg(short = 'w', long)]
    pub debug: bool,

    /// Print the processes' output unchanged, without `name | ` before each line (as
    /// pymanager did; also `"output": {"prefix": false}`)
    #[arg(long)]
    pub raw: bool,

    /// After each process's name, the time each line arrived (also `"output":
    /// {"timestamps": true}`)
    #[arg(long)]
    pub timestamps: bool,

    /// Colour each process's name: auto (on a terminal, unless NO_COLOR is set), always or
    /// never
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: Color,

    /// How the launch is shown: auto (tty on a terminal, unless -v; else plain), tty (a
    /// block redrawn in place), plain (a line per process started and ready) or quiet
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: ProgressFlag,

    /// Write one JSON object per line to FILE (`-`: stdout) for each lifecycle event
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// Once every process is ready, write the ports (and RMANAGER_URL) to FILE as KEY=value
    /// lines
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Write rmanager's own messages to FILE instead of the terminal
    #[arg(short, long, value_name = "FILE")]
    pub logfile: Option<PathBuf>,

    /// Print the version and exit
    #[arg(short = 'V', long, action = clap::ArgAction::Version)]
    version: Option<bool>,

    /// Fixture mode: run COMMAND once every process is ready, then shut down and exit with
    /// COMMAND's exit code
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// When process names are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// `--progress`: docker compose's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressFlag {
    Auto,
    Tty,
    Plain,
    Quiet,
}

impl Cli {
    /// Runs the mode the flags ask for and returns the process exit code.
    pub fn run(self) -> u8 {
        let code = self.run_mode();
        // rmanager's last lines may still be on their way to the terminal.
        crate::output::printer::flush_blocking();
        code
    }

    fn run_mode(self) -> u8 {
        let logfile = match self.logfile.as_deref().map(open_logfile).transpose() {
            Ok(logfile) => logfile,
            Err(error) => return report(&error),
        };
        let level = match (self.debug, self.verbose) {
            (true, _) => log::LevelFilter::Debug,
            (false, true) => log::LevelFilter::Info,
            (false, false) => log::LevelFilter::Warn,
        };
        let sink = logfile.as_ref().map(File::try_clone).transpose();
        if let Err(e) = sink.and_then(|sink| crate::report::init(level, sink)) {
            eprintln!("rmanager: cannot set up logging: {e}");
            return exit_code::SETUP_FAILED;
        }
        if let Some(path) = &self.events {
            if let Err(source) = crate::events::init(path) {
                return report(&Error::Events {
                    path: path.clone(),
                    source,
                });
            }
        }
        if self.print_schema {
            crate::report::stdout(&config::schema::to_pretty_json());
            return exit_code::OK;
        }
        let path = config::choose_file(self.file.as_deref());
        let allocation = match self.validate || self.print_config {
            true => Allocation::Show,
            false => Allocation::Hold,
        };
        let Loaded {
            mut spec,
            warnings,
            resolved,
        } = match ManagerSpec::load_with(&path, allocation) {
            Ok(loaded) => loaded,
            Err(error) => return report(&error),
        };
        for warning in &warnings {
            crate::report::stderr(&format!(
                "{}:{}:{}: warning: {}: {}\n",
                path.display(),
                warning.line,
                warning.column,
                warning.pointer,
                warning.message
            ));
        }
        if self.print_config {
            crate::report::stdout(&print_config(resolved, &spec));
            return exit_code::OK;
        }
        spec.output.prefix &= !self.raw;
        spec.output.timestamps |= self.timestamps;
        spec.output.color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        spec.output.progress = match self.progress {
            ProgressFlag::Tty => Progress::Tty,
            ProgressFlag::Plain => Progress::Plain,
            ProgressFlag::Quiet => Progress::Quiet,
            // Events on stdout are for a program; a daemon's stdout is its logfile; with
            // -v the log tells each step already, on stderr, which would tear the block.
            ProgressFlag::Auto if self.events.as_deref() == Some(Path::new("-")) => Progress::Quiet,
            ProgressFlag::Auto
                if std::io::stdout().is_terminal()
                    && !self.daemon
                    && level < log::LevelFilter::Info
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb") =>
            {
                Progress::Tty
            }
            ProgressFlag::Auto => Progress::Plain,
        };
        if self.validate {
            let n = spec.processes.len();
            crate::report::stdout(&format!(
                "{}: valid ({n} process{})\n",
                path.display(),
                if n == 1 { "" } else { "es" }
            ));
            return exit_code::OK;
        }
        if self.daemon {
            // Before block_on: the fork must come before the runtime's threads exist.
            return match daemon::detach(logfile.as_ref()) {
                Ok(Detached::Waiting(code)) => code,
                Ok(Detached::Daemon(notifier)) => {
                    let serve = daemon::serve(spec, notifier, self.pidfile, self.env_file);
                    outcome(block_on(serve))
                }
                Err(error) => report(&error),
            };
        }
        if !self.command.is_empty() {
            return match block_on(fixture::run(spec, &self.command, self.env_file)) {
                Ok(code) => code,
                Err(error) => report(&error),
            };
        }
        outcome(block_on(async {
            Environment::start(spec, self.env_file).await?.wait().await
        }))
    }
}

/// The file as a run would see it: variables replaced, ports as given out, and the
/// control API's token masked.
fn print_config(mut resolved: serde_json::Value, spec: &ManagerSpec) -> String {
    if !spec.ports.values().is_empty() {
        resolved["ports"] = serde_json::json!(spec.ports.values());
    }
    if let Some(token) = resolved.pointer_mut("/http/token") {
        *token = "********".into();
    }
    let mut text = serde_json::to_string_pretty(&resolved).unwrap_or_default();
    text.push('\n');
    text
}

fn outcome(result: Result<(), Error>) -> u8 {
    match result {
        Ok(()) => exit_code::OK,
        Err(error) => report(&error),
    }
}

fn open_logfile(path: &Path) -> Result<File, Error> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Logfile {
            path: path.to_owned(),
            source,
        })
}

/// Prints an error to stderr and returns its exit code.
fn report(error: &Error) -> u8 {
    if let Error::Setup { .. } = error {
        crate::report::also_to_logfile(&format!("{error}\n"));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{error}");
    if let Error::ConfigInvalid { path, diagnostics } = error {
        let n = diagnostics.len();
        let _ = writeln!(
            stderr,
            "rmanager: {}: {n}{} error{}",
            path.display(),
            if n >= config::load::MAX_DIAGNOSTICS {
                " or more"
            } else {
                ""
            },
            if n == 1 { "" } else { "s" }
        );
    }
    error.exit_code()
}
