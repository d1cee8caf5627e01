use std::fmt;

/// The manager's state, named as pymanager names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerStatus {
    Booting,
    Launching,
    /// Every process reached its desired state.
    Running,
    Shutdown,
    ForceShutdown,
}

impl fmt::Display for ManagerStatus {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            ManagerStatus::Booting => "booting",
            ManagerStatus::Launching => "launching processes",
            ManagerStatus::Running => "running",
            ManagerStatus::Shutdown => "shutdown",
            ManagerStatus::ForceShutdown => "force shutdown",
        })
    }
}
