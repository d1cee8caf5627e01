//! The command line: flags (their --help text is in the doc comments below) and what each
//! mode does.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use futures_lite::{StreamExt, future};
use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
use signal_hook_async_std::Signals;

use std::sync::Arc;

use crate::config;
use crate::error::{Error, exit_code};
use crate::http::ControlApi;
use crate::spec::ManagerSpec;
use crate::supervisor::Manager;

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

    /// Detach into the background once every process is ready
    #[arg(short, long)]
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

impl Cli {
    /// Runs the mode the flags ask for and returns the process exit code.
    pub fn run(self) -> u8 {
        init_logging(&self);
        if self.print_schema {
            print!("{}", config::schema::to_pretty_json());
            return exit_code::OK;
        }
        let path = config::choose_file(self.file.as_deref());
        let spec = match config::load(&path) {
            Ok(spec) => spec,
            Err(error) => return report(&error),
        };
        if self.validate {
            let n = spec.processes.len();
            println!(
                "{}: valid ({n} process{})",
                path.display(),
                if n == 1 { "" } else { "es" }
            );
            return exit_code::OK;
        }
        match async_std::task::block_on(run(spec)) {
            Ok(()) => exit_code::OK,
            Err(error) => report(&error),
        }
    }
}

/// Runs the environment in the foreground until it has shut down. SIGINT, SIGTERM and
/// SIGQUIT start a graceful shutdown; a second SIGINT kills everything at once.
async fn run(spec: ManagerSpec) -> Result<(), Error> {
    let api = match spec.http.enabled {
        true => Some(ControlApi::bind(&spec.http).await?),
        false => None,
    };
    if let Some(api) = &api {
        println!("rmanager: HTTP control listening on {}", api.url());
    }
    // Started before the signal handlers exist, so its watchdog does not inherit them.
    let manager = Arc::new(Manager::start(spec)?);
    if let Some(api) = api {
        api.serve(manager.clone());
    }
    let signals = Signals::new([SIGINT, SIGTERM, SIGQUIT]).map_err(|source| Error::Manager {
        what: "cannot install signal handlers",
        source,
    })?;
    let handle = signals.handle();
    let forward = async {
        let mut signals = signals;
        while let Some(signal) = signals.next().await {
            // A SIGINT during a shutdown, whatever began it, kills everything at once.
            if !manager.shutdown() && signal == SIGINT {
                manager.force_shutdown();
            }
        }
    };
    let result = future::race(manager.wait(), async {
        forward.await;
        unreachable!("the signal stream ends only after its handle is closed")
    })
    .await;
    handle.close();
    result
}

/// Prints an error to stderr and returns its exit code.
fn report(error: &Error) -> u8 {
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

/// rmanager is quiet by default; -v and -w raise the level, RUST_LOG refines it.
fn init_logging(cli: &Cli) {
    let level = match (cli.debug, cli.verbose) {
        (true, _) => "debug",
        (false, true) => "info",
        (false, false) => "warn",
    };
    // tide logs every malformed request as an error: noise, unless debugging.
    let tide = if cli.debug { "debug" } else { "off" };
    let filter = format!("{level},tide={tide}");
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter))
        .format_target(false)
        .init();
}
