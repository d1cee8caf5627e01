//! The manager's own output: every line starts with `rmanager:`, so it cannot be mistaken
//! for a child's, and all of it (the `messages` lines and the log) goes to one place: the
//! terminal, or the file named by `-l`. Children's output is not affected.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

/// Where the lines go when not to stdout.
static LOGFILE: OnceLock<Mutex<File>> = OnceLock::new();

/// Prints one of the manager's own lines: `rmanager: ...`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::report::line(format_args!($($arg)*)) };
}

#[doc(hidden)]
pub fn line(text: fmt::Arguments) {
    also(&format!("rmanager: {text}\n"));
}

/// Writes `text` (whole lines, such as a child's quoted after one of rmanager's) where
/// rmanager's own lines go: the terminal, or the logfile.
pub fn also(text: &str) {
    if text.is_empty() {
        return;
    }
    // A line that cannot be written (a closed terminal, a full disk) is not worth dying for.
    let _ = match LOGFILE.get() {
        Some(file) => file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(text.as_bytes()),
        // Through the thread that writes the children's lines: one writer, so that
        // nothing lands inside a child's line or the progress block.
        None => {
            crate::output::printer::print_blocking(text.as_bytes().to_vec());
            Ok(())
        }
    };
}

/// Writes what a command prints as its result. A reader that went away (`| head -1`, a
/// closed terminal) is no reason to panic, as `print!` would.
pub fn stdout(text: &str) {
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

/// The same, for stderr.
pub fn stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Writes `text` to the logfile too, when there is one: an error that ends rmanager is
/// also part of its log.
pub fn also_to_logfile(text: &str) {
    if let Some(file) = LOGFILE.get() {
        let _ = file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(text.as_bytes());
    }
}

/// Sets up the log (quiet by default; -v info, -w debug; RUST_LOG refines) and, with a
/// logfile, sends every line there.
pub fn init(level: log::LevelFilter, logfile: Option<File>) -> io::Result<()> {
    // tide logs every malformed request as an error: noise, unless debugging.
    let tide = match level {
        log::LevelFilter::Debug | log::LevelFilter::Trace => "debug",
        _ => "off",
    };
    let filter = format!("{},tide={tide}", level.as_str().to_lowercase());
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter));
    builder.format(|buf, record| {
        writeln!(
            buf,
            "rmanager: {}: {}",
            record.level().as_str().to_lowercase(),
            record.args()
        )
    });
    if let Some(file) = logfile {
        builder.target(env_logger::Target::Pipe(Box::new(file.try_clone()?)));
        let _ = LOGFILE.set(Mutex::new(file));
    }
    // A second init (a library user with a logger of its own) keeps the first.
    let _ = builder.try_init();
    Ok(())
}
