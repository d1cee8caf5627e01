//! `--events FILE`: one JSON object per line for each thing that happens to the
//! environment, with its time, for CI tooling and clients. Written as it happens, and
//! flushed line by line, so that a reader following the file sees each event at once.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use serde::Serialize;

/// Where events go, once the command line asked for them.
static SINK: OnceLock<Mutex<Box<dyn Write + Send>>> = OnceLock::new();

/// Who else hears of them: the progress display.
static OBSERVER: OnceLock<Box<Observer>> = OnceLock::new();

/// Whether the observer hears each failed attempt of a check (only the terminal's block
/// shows them).
static ATTEMPTS_OBSERVED: AtomicBool = AtomicBool::new(false);

type Observer = dyn Fn(&Event) + Send + Sync;

/// What happened. The `event` field names the kind; `process` names the process.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// A process was started.
    Started {
        process: &'a str,
        pid: u32,
    },
    /// Its check passed (or it has none).
    Ready {
        process: &'a str,
    },
    /// An attempt of its check failed.
    CheckAttemptFailed {
        process: &'a str,
        reason: &'a str,
    },
    /// Its start failed: it could not be started, or its check failed.
    Failed {
        process: &'a str,
        reason: &'a str,
    },
    /// It ended by itself; `code` is the exit code, or the negative signal number.
    Exited {
        process: &'a str,
        code: i32,
    },
    /// Had to be killed after its grace time: what was left of its group.
    Killed {
        process: &'a str,
        killed: &'a [String],
    },
    RestartBegun {
        process: &'a str,
    },
    RestartFinished {
        process: &'a str,
        pid: u32,
    },
    /// Every process is ready.
    EnvironmentReady {
        processes: usize,
    },
    /// The launch failed; everything is being stopped.
    EnvironmentFailed {
        process: &'a str,
        reason: &'a str,
    },
    ShutdownBegun,
    /// Everything has stopped.
    ShutdownFinished,
}

/// Sends events to `path` (`-`: stdout) from now on.
pub fn init(path: &Path) -> io::Result<()> {
    let sink: Box<dyn Write + Send> = match path.to_str() {
        Some("-") => Box::new(io::stdout()),
        _ => Box::new(File::create(path)?),
    };
    let _ = SINK.set(Mutex::new(sink));
    Ok(())
}

/// Passes every event to `observer` from now on (once: a second one is ignored); each
/// failed attempt of a check only if `attempts`.
pub fn observe(observer: impl Fn(&Event) + Send + Sync + 'static, attempts: bool) {
    if OBSERVER.set(Box::new(observer)).is_ok() {
        ATTEMPTS_OBSERVED.store(attempts, Ordering::Relaxed);
    }
}

/// Whether anyone hears of a check's failed attempts: a check makes thousands, and each
/// is worded (an error's text, a string) only then.
pub fn attempts_wanted() -> bool {
    ATTEMPTS_OBSERVED.load(Ordering::Relaxed) || SINK.get().is_some()
}

/// Records `event`, when events were asked for, and tells the observer.
pub fn emit(event: Event) {
    if let Some(observer) = OBSERVER.get() {
        let attempt = matches!(event, Event::CheckAttemptFailed { .. });
        if !attempt || ATTEMPTS_OBSERVED.load(Ordering::Relaxed) {
            observer(&event);
        }
    }
    let Some(sink) = SINK.get() else {
        return;
    };
    #[derive(Serialize)]
    struct Stamped<'a> {
        time: String,
        #[serde(flatten)]
        event: Event<'a>,
    }
    let stamped = Stamped {
        time: crate::output::printer::timestamp(SystemTime::now()),
        event,
    };
    if let Ok(mut line) = serde_json::to_vec(&stamped) {
        line.push(b'\n');
        let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
        // A sink that cannot be written (a full disk, a closed pipe) loses events, not
        // the environment.
        let _ = sink.write_all(&line).and_then(|()| sink.flush());
    }
}
