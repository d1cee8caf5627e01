//! Faults the tests inject, to prove that a panic is reported and ends whatever waits on
//! the task it killed: `RMANAGER_FAULT=PLACE:SUBJECT` (`start:web`, `shutdown:`) panics
//! there; and delays, to open on purpose a window that only a loaded machine opens by
//! chance: `RMANAGER_PAUSE=PLACE` waits there. Debug builds only.

/// Panics when `RMANAGER_FAULT` names `place` and `subject` (a process's name, or "").
#[cfg(debug_assertions)]
pub fn point(place: &str, subject: &str) {
    let Some(fault) = std::env::var_os("RMANAGER_FAULT") else {
        return;
    };
    if fault.to_str() == Some(&format!("{place}:{subject}")) {
        panic!("fault injected at {place}:{subject}");
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_: &str, _: &str) {}

/// Waits 300 ms, letting the other tasks run, when `RMANAGER_PAUSE` names `place`.
#[cfg(debug_assertions)]
pub async fn pause(place: &str) {
    if std::env::var_os("RMANAGER_PAUSE").is_some_and(|p| p == place) {
        crate::runtime::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub async fn pause(_: &str) {}
