//! The output of a process whose readiness is a line in it (the `log` check). Its stdout
//! and stderr come through pipes that rmanager copies to where the options say (terminal,
//! file, or nowhere) chunk by chunk as they arrive, so nothing is delayed or lost, and the
//! lines are matched on the side until one matches.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::runtime::io::{self, ReadExt, WriteExt};
use regex::Regex;

use crate::latch::Latch;

/// The longest line matched whole; the rest of a longer line is not looked at.
pub const MAX_LINE: usize = 64 * 1024;

/// What the copying tells a `log` check.
#[derive(Clone)]
pub struct OutputWatch {
    /// Set when a line matched.
    pub matched: Arc<Latch<()>>,
    /// Set when both streams reached end-of-file.
    pub drained: Arc<Latch<()>>,
    /// Whether a line longer than [`MAX_LINE`] was matched on its first MAX_LINE bytes only.
    pub cut: Arc<AtomicBool>,
}

/// Where copied output goes.
pub enum Sink {
    Stdout,
    File(File),
    Nowhere,
}

/// Copies `stdout` and `stderr` to `sink` in the background, matching lines to `pattern`.
pub fn watch(
    stdout: impl io::Read + Unpin + Send + 'static,
    stderr: impl io::Read + Unpin + Send + 'static,
    sink: Sink,
    pattern: Regex,
) -> std::io::Result<OutputWatch> {
    let watch = OutputWatch {
        matched: Arc::new(Latch::new()),
        drained: Arc::new(Latch::new()),
        cut: Arc::new(AtomicBool::new(false)),
    };
    let pattern = Arc::new(pattern);
    let open = Arc::new(AtomicUsize::new(2));
    let writer = |sink: &Sink| -> std::io::Result<Option<Box<dyn io::Write + Unpin + Send>>> {
        Ok(match sink {
            Sink::Stdout => Some(Box::new(io::stdout())),
            Sink::File(file) => Some(Box::new(crate::runtime::fs::File::from(file.try_clone()?))),
            Sink::Nowhere => None,
        })
    };
    let streams: [Box<dyn io::Read + Unpin + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
    for stream in streams {
        let to = writer(&sink)?;
        let (watch, pattern, open) = (watch.clone(), pattern.clone(), open.clone());
        crate::runtime::spawn(async move {
            copy(stream, to, &pattern, &watch).await;
            if open.fetch_sub(1, Ordering::SeqCst) == 1 {
                watch.drained.set(());
            }
        });
    }
    Ok(watch)
}

async fn copy(
    mut from: Box<dyn io::Read + Unpin + Send>,
    mut to: Option<Box<dyn io::Write + Unpin + Send>>,
    pattern: &Regex,
    watch: &OutputWatch,
) {
    let matched = &*watch.matched;
    let mut chunk = vec![0; 64 * 1024];
    let mut line = Vec::new();
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(writer) = &mut to {
            // A sink that fails (a closed terminal) stops the copying, not the reading:
            // the child must never block on a full pipe.
            if writer.write_all(&chunk[..n]).await.is_err() || writer.flush().await.is_err() {
                to = None;
            }
        }
        if matched.get().is_none() {
            for piece in chunk[..n].split_inclusive(|&b| b == b'\n') {
                let room = MAX_LINE.saturating_sub(line.len());
                if piece.len() > room + usize::from(piece.ends_with(b"\n")) {
                    watch.cut.store(true, Ordering::Relaxed);
                }
                line.extend_from_slice(&piece[..piece.len().min(room)]);
                if piece.ends_with(b"\n") {
                    check(&line, pattern, matched);
                    line.clear();
                }
            }
        }
    }
    if !line.is_empty() {
        check(&line, pattern, matched);
    }
}

fn check(line: &[u8], pattern: &Regex, matched: &Latch<()>) {
    let text = String::from_utf8_lossy(line);
    if pattern.is_match(text.trim_end_matches(['\n', '\r'])) {
        matched.set(());
    }
}
