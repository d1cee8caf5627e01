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

/// One process as the control API and the library report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessState {
    /// 1, 2, ... in file order.
    pub id: usize,
    /// Its key in the configuration.
    pub name: String,
    /// Its command line, as pymanager shows it.
    pub command: String,
    pub run: RunState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Not launched (yet): an earlier process is not ready, or the launch was cut short.
    NotStarted,
    Running {
        pid: u32,
    },
    /// With the exit code, or the negative signal number when a signal killed it.
    Terminated {
        code: i32,
    },
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            RunState::NotStarted => "not started",
            RunState::Running { .. } => "running",
            RunState::Terminated { .. } => "terminated",
        })
    }
}
