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

/// What readers (the control API, the library, soon the CLI client) see of the environment:
/// written only by the coordinator (the status) and each job (its process), read without
/// waiting for either. The lock is held for a copy, never across an await.
pub(super) struct Snapshot {
    state: std::sync::Mutex<State>,
    names: Vec<(String, String)>,
}

struct State {
    status: ManagerStatus,
    runs: Vec<RunState>,
}

impl Snapshot {
    /// One entry per process: its name and command line, in file order.
    pub fn new(names: Vec<(String, String)>) -> Snapshot {
        Snapshot {
            state: std::sync::Mutex::new(State {
                status: ManagerStatus::Booting,
                runs: vec![RunState::NotStarted; names.len()],
            }),
            names,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; its data stays consistent if something did.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> ManagerStatus {
        self.lock().status
    }

    pub fn set_status(&self, status: ManagerStatus) {
        self.lock().status = status;
    }

    /// Moves to `status` unless `keep` says the current one stays: whether to.
    pub fn set_status_unless(
        &self,
        status: ManagerStatus,
        keep: impl Fn(ManagerStatus) -> bool,
    ) -> bool {
        let mut state = self.lock();
        if keep(state.status) {
            return false;
        }
        state.status = status;
        true
    }

    pub fn set_run(&self, index: usize, run: RunState) {
        self.lock().runs[index] = run;
    }

    /// Records that process `index` ended with `code`; returns the environment's status at
    /// that moment, so that its end is told by the job (already running) or by the
    /// coordinator's [`Snapshot::now_running`] (not yet), never both.
    pub fn ended(&self, index: usize, code: i32) -> ManagerStatus {
        let mut state = self.lock();
        state.runs[index] = RunState::Terminated { code };
        state.status
    }

    /// Moves to running; returns the processes that failed by themselves before.
    pub fn now_running(&self) -> Vec<(usize, i32)> {
        let mut state = self.lock();
        state.status = ManagerStatus::Running;
        let failed = state.runs.iter().enumerate();
        failed
            .filter_map(|(index, run)| match run {
                RunState::Terminated { code } if *code != 0 => Some((index, *code)),
                _ => None,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn process(&self, index: usize) -> Option<ProcessState> {
        let (name, command) = self.names.get(index)?;
        Some(ProcessState {
            id: index + 1,
            name: name.clone(),
            command: command.clone(),
            run: self.lock().runs[index],
        })
    }
}
