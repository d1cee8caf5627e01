//! The resolved, ready-to-launch form of a configuration: what the supervisor runs.
//!
//! Everything that can be decided from the file alone is decided here (argv or shell line,
//! which shell, output mode, verifier arguments with their defaults, durations), so nothing
//! downstream reads raw JSON or knows about pymanager's spellings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::config;
use crate::config::model::{MessageKind, ProcessConfig, ShellSetting, Startup};
use crate::error::{Diagnostic, Error};
pub use crate::ports::{Allocation, Ports};
pub use crate::process::{CommandLine, EnvironmentFile, Output};
use crate::verify::Resolution;
pub use crate::verify::VerifierSpec;

/// A whole test environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerSpec {
    pub http: HttpSpec,
    /// Stay up after every process has exited.
    pub keep_alive: bool,
    /// How long each process gets between SIGTERM and SIGKILL.
    pub graceful_time: Duration,
    pub messages: Messages,
    /// How the processes' output is printed.
    pub output: OutputStyle,
    /// In file order, which is launch order; `id` is the 1-based position.
    pub processes: Vec<ProcessSpec>,
    /// The ports the file names, each held until a process that names it starts.
    pub ports: Arc<Ports>,
}

/// A configuration as the command line reads it: the spec, and what `--validate` and
/// `--print-config` show.
pub struct Loaded {
    pub spec: ManagerSpec,
    /// Near misses among the variables of command lines.
    pub warnings: Vec<Diagnostic>,
    /// The file with its variables replaced.
    pub resolved: Value,
}

/// How the processes' lines are printed on rmanager's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputStyle {
    /// Each line after the process's name (else unchanged, as pymanager printed them).
    pub prefix: bool,
    /// The names in colour (the command line decides: a terminal, NO_COLOR, --color).
    pub color: bool,
    /// The time each line arrived, after the name.
    pub timestamps: bool,
    /// How the launch is shown (the command line decides).
    pub progress: Progress,
}

/// How the launch is shown, by the names docker compose gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A block with a row per process, redrawn in place: for a terminal.
    Tty,
    /// A line per process started and per process ready: for logs.
    Plain,
    /// Nothing: a library's host tells its own story.
    #[default]
    Quiet,
}

/// The HTTP control API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub enabled: bool,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub token: Option<TokenSource>,
}

/// Where the control API's bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Value(String),
    /// The name of an environment variable, read when the API starts.
    Env(String),
}

/// Which optional messages to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Messages {
    pub process_exit: bool,
    pub verifier_fail: bool,
    pub verifier_verbose: bool,
}

/// One process, ready to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// 1, 2, ... in file order, as pymanager numbers them.
    pub id: usize,
    /// The key in `processes`.
    pub name: String,
    pub command: CommandLine,
    /// The command line as pymanager shows it: executable and arguments joined by spaces.
    pub display: String,
    pub working_directory: Option<PathBuf>,
    pub environment_file: Option<EnvironmentFile>,
    pub output: Output,
    /// How many of its latest output lines are kept.
    pub log_lines: usize,
    /// Its stdout and stderr are a pseudo-terminal.
    pub tty: bool,
    pub verifier: Option<VerifierSpec>,
    /// Variables over rmanager's environment: the file's (its env files, then its
    /// `environment`), then the process's own, in that order (a later one wins).
    pub environment: Vec<(String, String)>,
    /// The ports, set last, over everything (an environment file's exports too).
    pub ports: Vec<(String, String)>,
    /// The ports let go just before it starts: those it names, and those nothing names.
    pub releases: Vec<String>,
    /// Indices (in `ManagerSpec::processes`) of the processes that must be ready before
    /// this one starts; with sequential startup, the one before it is among them.
    pub depends_on: Vec<usize>,
}

impl ProcessSpec {
    /// How to start it.
    pub(crate) fn launch(&self) -> crate::process::Launch<'_> {
        crate::process::Launch {
            command: &self.command,
            working_directory: self.working_directory.as_deref(),
            environment_file: self.environment_file.as_ref(),
            environment: &self.environment,
            ports: &self.ports,
            output: &self.output,
            log_lines: self.log_lines,
            tty: self.tty,
            pattern: self
                .verifier
                .as_ref()
                .and_then(|v| v.verifier().watches_output()),
        }
    }
}

impl ManagerSpec {
    /// Reads, checks and resolves the configuration at `path`, its ports held.
    pub fn load(path: &Path) -> Result<ManagerSpec, Error> {
        Ok(Self::load_with(path, Allocation::Hold)?.spec)
    }

    /// Checks and resolves a configuration given as text (for Rust test suites; messages
    /// name it `<string>`), its ports held.
    pub fn load_str(text: &str) -> Result<ManagerSpec, Error> {
        let loaded = Self::read(
            |allocate| config::load_str(text, allocate),
            Allocation::Hold,
        )?;
        Ok(loaded.spec)
    }

    /// Reads the configuration at `path`, its ports given out as `allocation` says.
    pub fn load_with(path: &Path, allocation: Allocation) -> Result<Loaded, Error> {
        Self::read(|allocate| config::load(path, allocate), allocation)
    }

    fn read(
        load: impl FnOnce(config::load::Allocate) -> Result<config::load::Loaded, Error>,
        allocation: Allocation,
    ) -> Result<Loaded, Error> {
        let (mut ports, mut failure) = (None, None);
        let loaded = load(
            &mut |requested: &IndexMap<String, u16>| match Ports::allocate(requested, allocation) {
                Ok(allocated) => ports.insert(allocated).values().clone(),
                Err(e) => {
                    failure = Some(e);
                    requested.clone()
                }
            },
        )?;
        if let Some(e) = failure {
            return Err(Error::Port(e));
        }
        let ports = Arc::new(ports.unwrap_or_else(Ports::none));
        let shell = std::env::var("SHELL").ok();
        Ok(Loaded {
            spec: Self::resolve(&loaded, ports, shell.as_deref()),
            warnings: loaded.variables.warnings,
            resolved: loaded.resolved,
        })
    }

    /// Resolves a checked configuration. `user_shell` is the value of $SHELL, if any.
    pub fn resolve(
        loaded: &config::load::Loaded,
        ports: Arc<Ports>,
        user_shell: Option<&str>,
    ) -> ManagerSpec {
        let config = &loaded.config;
        let variables = &loaded.variables;
        let default_shell = match &config.default_shell {
            ShellSetting::Named(shell) => shell.clone(),
            // `false` is refused by the schema; treat it like `true` rather than guess.
            ShellSetting::On | ShellSetting::Off => user_shell
                .filter(|s| !s.is_empty())
                .unwrap_or("/bin/sh")
                .to_owned(),
        };
        let port_variables: Vec<(String, String)> = ports
            .values()
            .iter()
            .map(|(name, port)| (name.clone(), port.to_string()))
            .collect();
        let named = |name: &String| variables.uses.iter().any(|uses| uses.contains(name));
        let mut processes: Vec<ProcessSpec> = config
            .processes
            .iter()
            .enumerate()
            .map(|(i, (name, process))| {
                let mut spec = ProcessSpec::resolve(i + 1, name, process, &default_shell);
                spec.environment = [
                    &variables.environment[..],
                    &variables.process_environments[i],
                ]
                .concat();
                spec.ports = port_variables.clone();
                spec.releases = ports
                    .values()
                    .keys()
                    .filter(|port| variables.uses[i].contains(*port) || !named(port))
                    .cloned()
                    .collect();
                spec.verifier = process.verifier.as_ref().map(|verifier| {
                    verifier.arguments.resolve(&Resolution {
                        shell: &default_shell,
                        environment: &spec.environment,
                        ports: &spec.ports,
                    })
                });
                spec
            })
            .collect();
        // Names become indices; sequential startup adds the edge to the process before.
        for (index, process) in config.processes.values().enumerate() {
            let depends_on = &mut processes[index].depends_on;
            if config.startup == Startup::Sequential && index > 0 {
                depends_on.push(index - 1);
            }
            for name in &process.depends_on {
                // Validation refused unknown names; this only guards the library API.
                if let Some(other) = config.processes.get_index_of(name) {
                    if !depends_on.contains(&other) {
                        depends_on.push(other);
                    }
                }
            }
        }
        ManagerSpec {
            http: HttpSpec {
                enabled: config.http.enabled,
                host: config.http.host.clone(),
                port: config.http.port,
                token: match (&config.http.token, &config.http.token_env) {
                    (Some(token), _) => Some(TokenSource::Value(token.clone())),
                    (None, Some(name)) => Some(TokenSource::Env(name.clone())),
                    (None, None) => None,
                },
            },
            keep_alive: config
                .keep_alive
                .or(config.keep_alive_underscore)
                .unwrap_or(false),
            graceful_time: config.graceful_time.duration(),
            output: OutputStyle {
                prefix: config.output.prefix,
                color: false,
                timestamps: config.output.timestamps,
                progress: Progress::Quiet,
            },
            messages: Messages {
                process_exit: config.messages.contains(&MessageKind::ProcessExit),
                verifier_fail: config
                    .messages
                    .iter()
                    .any(|m| matches!(m, MessageKind::VerifierFail | MessageKind::VerifierVerbose)),
                verifier_verbose: config.messages.contains(&MessageKind::VerifierVerbose),
            },
            processes,
            ports,
        }
    }
}

impl ProcessSpec {
    fn resolve(id: usize, name: &str, process: &ProcessConfig, default_shell: &str) -> Self {
        let options = &process.options;
        let display = std::iter::once(&process.executable)
            .chain(&process.arguments)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let shell = match &options.shell {
            ShellSetting::Off => None,
            ShellSetting::On => Some(default_shell.to_owned()),
            ShellSetting::Named(shell) => Some(shell.clone()),
        };
        let environment_file = options
            .environment_file
            .as_ref()
            .map(|path| EnvironmentFile {
                path: PathBuf::from(path),
                shell: shell.clone().unwrap_or_else(|| default_shell.to_owned()),
            });
        let command = match shell {
            Some(shell) => CommandLine::Shell {
                shell,
                line: display.clone(),
            },
            None => CommandLine::Direct {
                program: process.executable.clone(),
                args: process.arguments.clone(),
            },
        };
        let output = match (&options.redirect_output, options.suppress_output) {
            (Some(path), _) => Output::File(PathBuf::from(path)),
            (None, true) => Output::Suppress,
            (None, false) => Output::Inherit,
        };
        ProcessSpec {
            id,
            name: name.to_owned(),
            command,
            display,
            working_directory: options.working_directory.as_ref().map(PathBuf::from),
            log_lines: options.log_lines,
            tty: options.tty,
            environment_file,
            output,
            verifier: None,
            environment: Vec::new(),
            ports: Vec::new(),
            releases: Vec::new(),
            depends_on: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::verify::{ExitedVerifier, HttpMethod, HttpOkVerifier, Timing};
    use std::path::Path;

    use super::*;
    use crate::config::load::check;

    fn resolve(text: &str, user_shell: Option<&str>) -> ManagerSpec {
        let loaded = check(Path::new("test.json"), text.as_bytes(), &mut |r| r.clone())
            .expect("a valid config");
        ManagerSpec::resolve(&loaded, Arc::new(Ports::none()), user_shell)
    }

    #[test]
    fn defaults_follow_pymanager() {
        let spec = resolve(
            r#"{"processes": {"web": {"executable": "srv", "arguments": ["-p", "80"]}}}"#,
            None,
        );
        assert_eq!(
            spec.http,
            HttpSpec {
                enabled: false,
                host: "127.0.0.1".into(),
                port: 5001,
                token: None,
            }
        );
        assert!(!spec.keep_alive);
        assert_eq!(spec.graceful_time, Duration::from_secs(10));
        assert_eq!(spec.messages, Messages::default());
        let web = &spec.processes[0];
        assert_eq!(
            (web.id, web.name.as_str(), web.display.as_str()),
            (1, "web", "srv -p 80")
        );
        assert_eq!(
            web.command,
            CommandLine::Direct {
                program: "srv".into(),
                args: vec!["-p".into(), "80".into()]
            }
        );
        assert_eq!((&web.output, &web.verifier), (&Output::Inherit, &None));
    }

    #[test]
    fn shells_resolve_through_default_shell() {
        let text = r#"{"processes": {
            "a": {"executable": "echo $HOME", "options": {"shell": true, "environment_file": "env.sh"}},
            "b": {"executable": "echo", "arguments": ["x", "&&", "y"], "options": {"shell": "zsh"}},
            "c": {"executable": "env", "options": {"environment_file": "env.sh"}}
        }}"#;
        let spec = resolve(text, Some("/bin/bash"));
        let shell = |shell: &str, line: &str| CommandLine::Shell {
            shell: shell.into(),
            line: line.into(),
        };
        assert_eq!(spec.processes[0].command, shell("/bin/bash", "echo $HOME"));
        assert_eq!(spec.processes[1].command, shell("zsh", "echo x && y"));
        let sourced_by = |i: usize| {
            spec.processes[i]
                .environment_file
                .as_ref()
                .map(|e| e.shell.as_str())
        };
        assert_eq!(
            [sourced_by(0), sourced_by(2)],
            [Some("/bin/bash"), Some("/bin/bash")]
        );
        // Without $SHELL, /bin/sh; a named default_shell wins over $SHELL.
        assert_eq!(
            resolve(text, None).processes[0].command,
            shell("/bin/sh", "echo $HOME")
        );
        let named = text.replacen('{', r#"{"default_shell": "dash", "#, 1);
        assert_eq!(
            resolve(&named, Some("/bin/bash")).processes[0].command,
            shell("dash", "echo $HOME")
        );
    }

    #[test]
    fn options_and_verifiers_resolve_with_their_defaults() {
        let text = r#"{"keep_alive": true, "graceful_time": 0.5, "messages": ["verifier.verbose"],
          "http": {"enabled": true, "port": 0},
          "processes": {
            "a": {"executable": "a", "options": {"suppress_output": true}, "verifier": {"type": "exited"}},
            "b": {"executable": "b", "options": {"redirect_output": "b.log", "working_directory": "/tmp"},
                  "verifier": {"type": "http", "arguments": {"url": "http://localhost:1/", "headers": {"X": "1"}}}}
        }}"#;
        let spec = resolve(text, None);
        assert!(spec.keep_alive);
        assert_eq!(spec.graceful_time, Duration::from_millis(500));
        assert_eq!(
            spec.messages,
            Messages {
                process_exit: false,
                verifier_fail: true,
                verifier_verbose: true
            }
        );
        assert_eq!((spec.http.enabled, spec.http.port), (true, 0));
        let [a, b] = &spec.processes[..] else {
            panic!("two processes")
        };
        assert_eq!(a.output, Output::Suppress);
        assert_eq!(
            a.verifier,
            Some(VerifierSpec::Exited(ExitedVerifier {
                timeout: Duration::from_secs(30),
                expect_code: 0
            }))
        );
        assert_eq!(b.output, Output::File("b.log".into()));
        assert_eq!(b.working_directory.as_deref(), Some(Path::new("/tmp")));
        assert_eq!(
            b.verifier,
            Some(VerifierSpec::HttpOk(HttpOkVerifier {
                url: "http://localhost:1/".into(),
                timing: Timing {
                    timeout: Duration::from_secs(30),
                    interval: Duration::from_secs(1),
                },
                headers: vec![("X".into(), "1".into())],
                method: HttpMethod::Get,
                status: Vec::new(),
            }))
        );
    }

    #[test]
    fn processes_keep_file_order() {
        let text = r#"{"processes": {"zeta": {"executable": "z"}, "alpha": {"executable": "a"}, "mid": {"executable": "m"}}}"#;
        let names: Vec<_> = resolve(text, None)
            .processes
            .iter()
            .map(|p| (p.id, p.name.clone()))
            .collect();
        assert_eq!(
            names,
            [(1, "zeta".into()), (2, "alpha".into()), (3, "mid".into())]
        );
    }
}
