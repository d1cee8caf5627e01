//! Faults the tests inject, to prove that a panic is reported and ends whatever waits on
//! the task it killed: `RMANAGER_FAULT=PLACE:SUBJECT` (`start:web`, `shutdown:`) panics
//! there. Debug builds only.

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
