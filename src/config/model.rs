//! The configuration file as Rust types: serde reads them, schemars describes them.
//!
//! These types mirror the file one to one (the raw layer); `spec` resolves them into what
//! gets launched. Every doc comment here becomes a `description` in the published schema,
//! so it is written for the person editing a config file.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

pub use crate::seconds::{Interval, Seconds};
pub use crate::verify::VerifierArguments;
use crate::verify::{VERIFIER_TYPES, VerifierType};

/// An rmanager configuration file: the processes of a test environment, how to check that
/// each one is ready, and how to control them. Every pymanager 0.2.6.1 file is a valid
/// rmanager file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "rmanager configuration")]
pub struct ConfigFile {
    /// The JSON Schema this file follows; ignored by rmanager, read by editors.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub schema: Option<String>,

    /// Verifier modules to load, as in pymanager: module name -> the verifier classes it
    /// provides. A verifier `type` of the form `module.Class` must be listed here; the short
    /// type names (`http`, `exited`) need no entry. Built in: `pymutils.http_verifier`
    /// (`HttpOkVerifier`) and `pymutils.exited_verifier` (`ExitedVerifier`).
    #[serde(default)]
    pub modules: IndexMap<String, Module>,

    /// The HTTP control API.
    #[serde(default)]
    pub http: HttpConfig,

    /// Keep rmanager running after every process has exited (so processes can be restarted
    /// through the HTTP API). Default: false, rmanager exits when the last process exits.
    #[serde(
        rename = "keep-alive",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "bool")]
    pub keep_alive: Option<bool>,

    /// The spelling pymanager's code reads; same meaning as `keep-alive`. Give only one of them.
    #[serde(
        rename = "keep_alive",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "bool")]
    pub keep_alive_underscore: Option<bool>,

    /// Seconds each process gets to exit after SIGTERM before it is killed with SIGKILL.
    #[serde(default = "Seconds::ten")]
    pub graceful_time: Seconds,

    /// The shell for processes whose `shell` option is `true`, and for sourcing environment
    /// files: `true` for the user's shell ($SHELL, else /bin/sh), or a shell's name or path.
    #[serde(default = "ShellSetting::on")]
    #[schemars(schema_with = "default_shell_schema")]
    pub default_shell: ShellSetting,

    /// Extra messages rmanager prints about the processes it runs.
    #[serde(default)]
    pub messages: Vec<MessageKind>,

    /// How the processes' output is printed on rmanager's stdout.
    #[serde(default)]
    pub output: OutputConfig,

    /// How processes start: `sequential` (pymanager's way: in file order, each once the one
    /// before it is ready) or `parallel` (each as soon as everything in its `depends_on` is
    /// ready).
    #[serde(default)]
    pub startup: Startup,

    /// Variables for every process's environment, and for `${NAME}` in this file: name ->
    /// value, a string. A process's own `environment` overrides them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(schema_with = "environment_schema")]
    pub environment: IndexMap<String, String>,

    /// A `.env` file (or a list of them, read in order) whose variables every process gets,
    /// and `${NAME}` may use: `KEY=value` lines, `export`, `#` comments, quotes. Read by
    /// rmanager, without a shell; relative to rmanager's working directory.
    #[serde(default, skip_serializing_if = "EnvFiles::is_empty")]
    pub env_file: EnvFiles,

    /// TCP ports by variable name: 0 asks for a free port on 127.0.0.1, chosen at start and
    /// held until the first process that names it starts; a number is that port. Each is
    /// set in every process's environment and may be used as `${NAME}` in this file.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(schema_with = "ports_schema")]
    pub ports: IndexMap<String, u16>,

    /// The processes to run, by name. The order in the file is the launch order: with a
    /// verifier, a process must be ready before the next one starts (unless `startup` is
    /// `parallel`).
    #[schemars(extend("minProperties" = 1))]
    pub processes: IndexMap<String, ProcessConfig>,
}

/// How processes start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Startup {
    /// In file order, each once the one before it is ready (and its `depends_on` too).
    #[default]
    Sequential,
    /// Each as soon as every process in its `depends_on` is ready.
    Parallel,
}

/// How the processes' output is printed on rmanager's stdout.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Begin each line with the process's name, `web | ...` (the default); `false` prints
    /// the processes' output unchanged, as pymanager did (the `--raw` option).
    #[serde(default = "OutputConfig::yes")]
    pub prefix: bool,

    /// After the name, the time each line arrived (UTC, to the millisecond), as
    /// `--timestamps` does.
    #[serde(default)]
    pub timestamps: bool,
}

impl OutputConfig {
    fn yes() -> bool {
        true
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            prefix: true,
            timestamps: false,
        }
    }
}

/// A verifier module, as pymanager loads them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// The verifier classes this module provides, such as `HttpOkVerifier`.
    #[serde(default)]
    pub verifiers: Vec<String>,
}

/// The HTTP control API: list processes, read the status, restart one, shut all down.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve the HTTP control API.
    #[serde(default)]
    pub enabled: bool,

    /// The TCP port to listen on; 0 picks a free port.
    #[serde(default = "HttpConfig::default_port")]
    pub port: u16,

    /// The address to listen on. The default keeps the API off the network.
    #[serde(default = "HttpConfig::default_host")]
    #[schemars(length(min = 1))]
    pub host: String,

    /// A bearer token: every endpoint but `GET /status` then requires the header
    /// `Authorization: Bearer <token>`. Prefer `token_env`, which keeps it out of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub token: Option<String>,

    /// The name of an environment variable that holds the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub token_env: Option<String>,
}

impl HttpConfig {
    fn default_port() -> u16 {
        5001
    }

    fn default_host() -> String {
        "127.0.0.1".to_owned()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: false,
            port: Self::default_port(),
            host: Self::default_host(),
            token: None,
            token_env: None,
        }
    }
}

/// A kind of extra message rmanager prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum MessageKind {
    /// Print `Process <command> exited with code N` when a process exits.
    #[serde(rename = "process.exit")]
    ProcessExit,
    /// Print `Verifier fail: <why>` for each failed verifier attempt.
    #[serde(rename = "verifier.fail")]
    VerifierFail,
    /// Print every verifier attempt (`Verifier: <what it tries>`); implies `verifier.fail`.
    #[serde(rename = "verifier.verbose")]
    VerifierVerbose,
}

/// One process of the environment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// The program to run: a name looked up in PATH, or a path. In shell mode, the start of
    /// the command line.
    #[schemars(length(min = 1))]
    pub executable: String,

    /// The program's arguments. In shell mode they are joined to the executable with spaces
    /// and the shell interprets the line, so `$VAR`, `&&` and `&` work.
    #[serde(default)]
    pub arguments: Vec<String>,

    /// How the process is launched.
    #[serde(default)]
    pub options: ProcessOptions,

    /// How rmanager knows the process reached its desired state. Without one, the process
    /// counts as ready once it has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "VerifierConfig")]
    pub verifier: Option<VerifierConfig>,

    /// Variables for this process's environment, over the top-level ones: name -> value, a
    /// string.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(schema_with = "environment_schema")]
    pub environment: IndexMap<String, String>,

    /// `.env` files for this process's environment, over the top-level ones and under its
    /// `environment`.
    #[serde(default, skip_serializing_if = "EnvFiles::is_empty")]
    pub env_file: EnvFiles,

    /// Names of the processes that must be ready before this one starts. With `startup`
    /// `sequential`, only earlier processes may be named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("uniqueItems" = true))]
    pub depends_on: Vec<String>,
}

/// How a process is launched.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessOptions {
    /// Discard the process's output. Cannot be combined with `redirect_output`.
    #[serde(default)]
    pub suppress_output: bool,

    /// The directory the process runs in, absolute or relative to rmanager's own working
    /// directory. The executable is still looked up from rmanager's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub working_directory: Option<String>,

    /// A file that receives the process's output (stdout and stderr); created or truncated.
    /// Cannot be combined with `suppress_output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub redirect_output: Option<String>,

    /// A shell script sourced with `default_shell` before launch; the variables it exports
    /// are added to the process's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub environment_file: Option<String>,

    /// Run the command line through a shell: `true` for `default_shell`, a shell's name or
    /// path, or `false` (the default) to run the executable directly.
    #[serde(default)]
    pub shell: ShellSetting,

    /// Give the process a pseudo-terminal for stdout and stderr, so that programs which
    /// buffer their output when it is not a terminal (Python without -u, Perl, C stdio)
    /// print each line as it comes, in colour where they colour a terminal's.
    #[serde(default)]
    pub tty: bool,

    /// How many of the process's latest output lines rmanager keeps (at most 1 MiB of
    /// them), for failure reports; 0 keeps none.
    #[serde(default = "ProcessOptions::default_log_lines")]
    pub log_lines: usize,
}

impl ProcessOptions {
    fn default_log_lines() -> usize {
        1000
    }
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            suppress_output: false,
            working_directory: None,
            redirect_output: None,
            environment_file: None,
            shell: ShellSetting::Off,
            tty: false,
            log_lines: Self::default_log_lines(),
        }
    }
}

/// An object whose keys are variable names and whose values follow `values`.
fn variables_schema(values: Value) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": {
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "errorMessage": "expected a variable name (letters, digits and _, not first a digit)",
        },
        "additionalProperties": values,
    })
}

fn environment_schema(_: &mut SchemaGenerator) -> Schema {
    variables_schema(serde_json::json!({
        "type": "string",
        "errorMessage": "expected a string (a value is text: write \"1\" or \"true\", quoted)",
    }))
}

fn ports_schema(_: &mut SchemaGenerator) -> Schema {
    variables_schema(serde_json::json!({
        "type": "integer",
        "minimum": 0,
        "maximum": 65535,
        "errorMessage": "expected a port number from 0 to 65535 (0: a free one)",
    }))
}

/// One `.env` file or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum EnvFiles {
    One(String),
    Many(Vec<String>),
}

impl EnvFiles {
    fn is_empty(&self) -> bool {
        matches!(self, EnvFiles::Many(paths) if paths.is_empty())
    }
}

impl Default for EnvFiles {
    fn default() -> Self {
        EnvFiles::Many(Vec::new())
    }
}

impl JsonSchema for EnvFiles {
    fn schema_name() -> Cow<'static, str> {
        "EnvFiles".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A `.env` file's path, or a list of them.",
            "anyOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string", "minLength": 1 } },
            ],
            "errorMessage": "expected a file's path, or a list of them",
        })
    }
}

/// A shell choice: `false` for none, `true` for the default, or a shell's name or path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ShellSetting {
    #[default]
    Off,
    On,
    Named(String),
}

impl ShellSetting {
    fn on() -> Self {
        ShellSetting::On
    }
}

impl JsonSchema for ShellSetting {
    fn schema_name() -> Cow<'static, str> {
        "ShellSetting".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A shell: `true` for the default shell, `false` for none, or a shell's name or path such as `bash` or `/bin/zsh`.",
            "type": ["boolean", "string"],
            "minLength": 1,
            "errorMessage": "expected true, false, or a shell's name or path",
        })
    }
}

fn default_shell_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "The default shell: `true` for the user's shell ($SHELL, else /bin/sh), or a shell's name or path such as `bash` or `/bin/zsh`.",
        "anyOf": [{ "const": true }, { "type": "string", "minLength": 1 }],
        "default": true,
        "errorMessage": "expected true, or a shell's name or path",
    })
}

impl Serialize for ShellSetting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ShellSetting::Off => serializer.serialize_bool(false),
            ShellSetting::On => serializer.serialize_bool(true),
            ShellSetting::Named(name) => serializer.serialize_str(name),
        }
    }
}

// Hand-written rather than `#[serde(untagged)]`, whose errors say nothing useful.
impl<'de> Deserialize<'de> for ShellSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShellVisitor;

        impl Visitor<'_> for ShellVisitor {
            type Value = ShellSetting;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false, or a shell's name or path")
            }

            fn visit_bool<E: de::Error>(self, on: bool) -> Result<ShellSetting, E> {
                Ok(if on {
                    ShellSetting::On
                } else {
                    ShellSetting::Off
                })
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<ShellSetting, E> {
                Ok(ShellSetting::Named(name.to_owned()))
            }
        }

        deserializer.deserialize_any(ShellVisitor)
    }
}

/// How rmanager checks that a process reached its desired state.
#[derive(Debug, Clone, Serialize)]
pub struct VerifierConfig {
    /// The type as written in the file, such as `http` or
    /// `pymutils.http_verifier.HttpOkVerifier`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub arguments: VerifierArguments,
}

/// The verifier as written in the file, before its arguments are read by type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerifier {
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

impl<'de> Deserialize<'de> for VerifierConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawVerifier::deserialize(deserializer)?;
        let kind = VerifierType::find(&raw.type_name).ok_or_else(|| {
            de::Error::custom(format_args!("unknown verifier type {:?}", raw.type_name))
        })?;
        let arguments = raw
            .arguments
            .unwrap_or_else(|| Value::Object(Default::default()));
        let arguments = (kind.parse)(arguments).map_err(de::Error::custom)?;
        Ok(VerifierConfig {
            type_name: raw.type_name,
            arguments,
        })
    }
}

// Written by hand so that each type's arguments are described under it: editors complete
// `url` under an HttpOkVerifier and `expect_code` under an ExitedVerifier. `if`/`then` rather
// than `oneOf` because a validator then reports the failing argument itself, not "matches no
// branch".
impl JsonSchema for VerifierConfig {
    fn schema_name() -> Cow<'static, str> {
        "Verifier".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut names = Vec::new();
        let mut descriptions = Vec::new();
        let mut branches = Vec::new();
        for kind in VERIFIER_TYPES {
            let long = kind.long_name();
            let label = kind.pymanager.map_or(kind.short_name, |(_, class)| class);
            let kind_names: Vec<&str> = std::iter::once(kind.short_name)
                .chain(long.as_deref())
                .collect();
            for name in &kind_names {
                names.push((*name).to_owned());
                descriptions.push(format!("{label}: {}.", kind.summary));
            }
            let mut then = json_schema!({
                "properties": { "arguments": (kind.arguments_schema)(generator) },
            });
            if kind.arguments_required {
                then.insert("required".into(), serde_json::json!(["arguments"]));
            }
            branches.push(json_schema!({
                "if": {
                    "properties": { "type": { "enum": kind_names } },
                    "required": ["type"],
                },
                "then": then,
            }));
        }
        json_schema!({
            "description": "How rmanager knows the process reached its desired state.",
            "type": "object",
            "properties": {
                "type": {
                    "description": "The kind of check. A `module.Class` name must be listed in `modules`; a short name needs no entry.",
                    "enum": names,
                    "enumDescriptions": descriptions,
                },
                "arguments": {
                    "description": "The verifier's arguments; which ones depends on `type`.",
                    "type": "object",
                },
            },
            "required": ["type"],
            "additionalProperties": false,
            "allOf": branches,
        })
    }
}
