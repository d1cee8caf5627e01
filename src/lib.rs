//! rmanager launches the processes a test environment needs, waits until each one reached
//! its desired state, offers HTTP control over them, and shuts them all down on request.
//!
//! # Theory of operation
//!
//! A configuration file flows through two layers, as ripgrep's arguments do:
//!
//! 1. [`config`] reads the file: JSON syntax, then the generated JSON Schema (every error
//!    at once, each at its line:column), then the typed [`config::model`], then the checks
//!    a schema cannot express (verifier modules, exclusive options, duplicate keys). A
//!    check's arguments are typed, described and checked by its kind's own module in
//!    `verify`, which also runs it: one module per kind.
//! 2. [`spec`] resolves that into a [`spec::ManagerSpec`]: argv or shell line, output mode,
//!    verifier arguments with defaults. Nothing after this point reads raw JSON.
//!
//! 3. [`supervisor`] runs it: one job per process owns that process (start, check, restart,
//!    stop), and a coordinator owns launch order (each process once [`verify`] says the
//!    processes it depends on are ready), keep-alive and shutdown. Each process leads a
//!    process group of its own ([`process`]) that stays provably ours until it is empty;
//!    exits are awaited (never polled), and shutdown stops every group at once: SIGTERM,
//!    then SIGKILL after `graceful_time` to what is left. A watchdog process, the
//!    parent-death signal, a cgroup where one can be made and (from the command line)
//!    orphans adopted as a child subreaper make sure nothing outlives rmanager.
//!    [`supervisor::Manager`] is the handle to a running environment: status, process
//!    list, restart, shutdown. ARCHITECTURE.md has the state machines and invariants.
//!
//! [`cli`] is the command-line front; the binary only parses arguments and calls it. It
//! runs an [`environment`] (control API, manager, signals) in the foreground, as a daemon,
//! or around a fixture command; [`report`] is where the manager's own lines go. Rust test
//! suites use [`ManagerSpec::load`] (or [`ManagerSpec::load_str`]) and [`supervisor::Manager`]
//! directly, as a fixture.

pub mod cli;
pub mod config;
mod daemon;
mod environment;
pub mod error;
mod events;
mod fault;
mod fixture;
mod http;
mod latch;
mod output;
mod ports;
mod process;
mod progress;
mod report;
mod runtime;
mod seconds;
pub mod spec;
pub mod supervisor;
mod verify;
mod words;

pub use error::Error;
pub use process::SpawnError;
pub use spec::ManagerSpec;
