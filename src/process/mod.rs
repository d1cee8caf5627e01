//! Running one child process: spawned in its own process group, its exit awaited (never
//! polled), and stopped by signalling the whole group.

mod handle;
mod output;
mod unix;
mod watchdog;

pub use handle::{ExitWatch, ProcessEnd, ProcessHandle, SpawnError, Stop};
pub use output::OutputWatch;
pub use unix::{Signal, signal_group};
pub use watchdog::Watchdog;
