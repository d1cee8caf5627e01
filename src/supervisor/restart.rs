//! Restarting one process: stop it gracefully, start it again from its spec, verify it
//! again. Runs on the caller's task, beside the supervisor task, so that the rest of the
//! environment (and the control API) carries on meanwhile.

use std::fmt;
use std::sync::Arc;

use super::run::{Event, Shared, UpError};
use super::{ManagerStatus, ProcessState};

/// Why a restart did not happen or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartError {
    /// No process has this id.
    NotFound(usize),
    /// The environment is still starting; restarts wait until it is running.
    Launching,
    ShuttingDown,
    /// It could not be started again, or did not become ready; why, in words that follow
    /// its name.
    Failed {
        process: String,
        reason: String,
    },
}

impl fmt::Display for RestartError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RestartError::NotFound(id) => write!(f, "Process with id '{id}' not found."),
            RestartError::Launching => f.write_str("The environment is still starting."),
            // pymanager's words.
            RestartError::ShuttingDown => f.write_str("Process is in shutdown."),
            RestartError::Failed { process, reason } => write!(f, "{process}: {reason}"),
        }
    }
}

impl std::error::Error for RestartError {}

pub(super) async fn restart(
    shared: &Arc<Shared>,
    index: usize,
) -> Result<ProcessState, RestartError> {
    // Before the lock, which the launch holds while it brings the process up.
    if shared.launched.get().is_none() {
        return Err(RestartError::Launching);
    }
    let _serial = shared.restarts[index].lock().await;
    let old = {
        let mut state = shared.lock();
        if shared.shutting_down.get().is_some()
            || matches!(
                state.status,
                ManagerStatus::Shutdown | ManagerStatus::ForceShutdown
            )
        {
            return Err(RestartError::ShuttingDown);
        }
        state.slots[index].restarting = true;
        state.slots[index].handle.clone()
    };
    let result = replace(shared, index, old).await;
    let state = {
        let mut state = shared.lock();
        state.slots[index].restarting = false;
        shared.process_state(&state, index)
    };
    let _ = shared.events.try_send(Event::RestartFinished);
    result.map(|()| state)
}

async fn replace(
    shared: &Arc<Shared>,
    index: usize,
    old: Option<Arc<crate::process::ProcessHandle>>,
) -> Result<(), RestartError> {
    let spec = &shared.spec.processes[index];
    log::info!("restarting {}", spec.name);
    if let Some(old) = old {
        shared
            .stop(&spec.name, &old, shared.spec.graceful_time)
            .await;
    }
    shared.bring_up(index).await.map_err(|e| match e {
        UpError::Failed(reason) => RestartError::Failed {
            process: spec.name.clone(),
            reason,
        },
        UpError::ShuttingDown => RestartError::ShuttingDown,
    })
}
