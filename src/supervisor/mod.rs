//! The supervisor: one job per process (`job`), which alone owns that process, and a
//! coordinator (`coordinator`) that owns launch order, keep-alive and shutdown. Readers
//! see a `snapshot`; [`Manager`] is the handle to it all.

mod context;
mod coordinator;
mod job;
mod manager;
mod snapshot;

pub use job::RestartError;
pub use manager::Manager;
pub use snapshot::{ManagerStatus, ProcessState, RunState};
