//! Running one child process: spawned in its own process group, its exit awaited (never
//! polled), and stopped by signalling the whole group.

mod handle;
mod unix;
mod watchdog;

pub use handle::{ExitWatch, ProcessEnd, ProcessHandle, SpawnError, Stop};
pub use unix::Signal;
pub use watchdog::Watchdog;
