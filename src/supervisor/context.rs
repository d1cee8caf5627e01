//! What the coordinator and every job share: the spec, the guards that outlive a killed
//! rmanager, the two stages of a shutdown, and the snapshot readers see.

use std::sync::{Arc, Mutex};

use super::snapshot::Snapshot;
use crate::latch::Latch;
use crate::output::Capture;
use crate::process::{Orphans, Watchdog};
use crate::spec::ManagerSpec;

pub(super) struct Context {
    pub spec: ManagerSpec,
    pub watchdog: Arc<Watchdog>,
    /// With rmanager as a child subreaper: the orphans to stop at shutdown.
    pub orphans: Option<Arc<Orphans>>,
    pub snapshot: Snapshot,
    /// Set when shutdown begins: from then on no process starts, and a start or check
    /// under way gives up.
    pub stopping: Latch<()>,
    /// Set when everything is to be killed at once (a second SIGINT).
    pub forced: Latch<()>,
    /// Each process's output, once it has started: for failure reports.
    pub outputs: Vec<Mutex<Option<Capture>>>,
}

impl Context {
    /// The last `n` lines process `index` printed, as text.
    pub fn last_lines(&self, index: usize, n: usize) -> Vec<String> {
        let output = self.outputs[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        output.as_ref().map(|o| o.last(n)).unwrap_or_default()
    }
}
