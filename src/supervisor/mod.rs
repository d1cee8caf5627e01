//! The supervisor: the one owner of every process. It launches them in order, gates each on
//! its verifier, records exits, restarts one on request, and runs the shutdown.
//! [`Manager`] is the handle to it.

mod manager;
mod restart;
mod run;
mod status;

pub use manager::Manager;
pub use restart::RestartError;
pub use status::{ManagerStatus, ProcessState, RunState};
