//! Running child processes: each managed process leads a group of its own that is provably
//! ours until it is empty (`group`), every child is started from one long-lived thread that
//! makes it die with rmanager (`launcher`), a watchdog process kills every group should
//! rmanager be killed (`watchdog`), where possible inside a cgroup of the environment's
//! own (`cgroup`), and orphans that left their group come back to rmanager to be stopped
//! and reaped (`orphans`). The system calls are in `linux`.

mod cgroup;
mod child;
mod command;
mod group;
mod handle;
mod launch;
mod launcher;
mod linux;
mod orphans;
mod spawn;
mod watchdog;

pub use child::{Child, ProcessEnd};
pub use command::{Command, Stdio};
pub use group::{Stop, run_to_end};
pub use handle::{ProcessHandle, SpawnError};
pub use launch::{CommandLine, EnvironmentFile, Launch, Output};
pub use linux::Signal;
pub use orphans::Orphans;
pub use watchdog::Watchdog;
