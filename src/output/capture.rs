//! One pipeline per process: its stdout and stderr come through pipes that rmanager
//! reads, and each line goes to the process's destination (the terminal, after the
//! process's name; a file; nowhere), to its `log` check, and into its recent output, which
//! failure reports quote. The child waits on rmanager only when the terminal itself stops
//! reading.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_io::Async;
use futures_lite::{AsyncReadExt, future};
use regex::Regex;

use super::lines::{Piece, Splitter};
use super::printer;
use super::recent::{Recent, Stream};
use crate::latch::Latch;

/// How long a line without its end waits for more before it is handed on as it is
/// (`printf 'ready'`, a prompt). The timer runs only while such a part is waiting.
const QUIET: Duration = Duration::from_millis(50);

/// The pipe size asked for, and the most read at once.
const PIPE: usize = 1 << 20;
const CHUNK: usize = 256 * 1024;

/// Where a process's output goes.
pub enum Destination {
    /// rmanager's stdout, each line after this label; without one, the bytes as they are.
    Terminal(Option<Label>),
    /// This file, the bytes as they are.
    File(File),
    /// Nowhere but the recent output.
    Nowhere,
}

/// How each of a process's lines begins on rmanager's stdout.
pub struct Label {
    /// `name | `, padded and perhaps coloured (see [`super::printer::label`]).
    pub name: Vec<u8>,
    /// Whether the time the line arrived follows the name.
    pub timestamps: bool,
}

/// What the reading of a process's output tells: its `log` check's match, its end, and its
/// recent lines.
#[derive(Clone)]
pub struct Capture {
    /// Set when a line matched the `log` check's pattern.
    pub matched: Arc<Latch<()>>,
    /// Set when both streams reached end-of-file and everything read was passed on.
    pub drained: Arc<Latch<()>>,
    /// Whether a line longer than [`super::MAX_LINE`] came in pieces.
    pub cut: Arc<AtomicBool>,
    recent: Arc<Mutex<Recent>>,
}

impl Capture {
    /// The text of the last `n` lines it printed, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.last(n).into_iter().map(|line| line.text).collect()
    }
}

struct Pipeline {
    capture: Capture,
    destination: Destination,
    pattern: Option<Regex>,
}

/// Reads `stdout` and `stderr` (rmanager's ends of the child's pipes; a pseudo-terminal
/// carries both as stdout) in the background, keeping the last `keep` lines.
pub fn start(
    stdout: File,
    stderr: Option<File>,
    destination: Destination,
    pattern: Option<Regex>,
    keep: usize,
) -> std::io::Result<Capture> {
    let capture = Capture {
        matched: Arc::new(Latch::new()),
        drained: Arc::new(Latch::new()),
        cut: Arc::new(AtomicBool::new(false)),
        recent: Arc::new(Mutex::new(Recent::new(keep))),
    };
    let pipeline = Arc::new(Pipeline {
        capture: capture.clone(),
        destination,
        pattern,
    });
    let streams: Vec<(File, Stream)> = std::iter::once((stdout, Stream::Stdout))
        .chain(stderr.map(|stderr| (stderr, Stream::Stderr)))
        .collect();
    let open = Arc::new(AtomicUsize::new(streams.len()));
    for (file, stream) in streams {
        // A larger pipe (up to the system's limit for one, 1 MiB by default) lets a chatty
        // child write on while rmanager passes on what came before: fewer switches between
        // the two. Where it cannot grow, the default 64 KiB serves.
        let _ = rustix::pipe::fcntl_setpipe_size(&file, PIPE);
        let file = Async::new(file)?;
        let (pipeline, open) = (pipeline.clone(), open.clone());
        crate::runtime::spawn(async move {
            // Counted when dropped, so that a reader that panics (a bug, said by
            // `runtime::spawn`) still lets the waiters for the last lines go.
            let _reading = Reading {
                open,
                drained: pipeline.capture.drained.clone(),
            };
            pipeline.read(file, stream).await;
        });
    }
    Ok(capture)
}

/// One stream being read; the last to end marks the output drained.
struct Reading {
    open: Arc<AtomicUsize>,
    drained: Arc<Latch<()>>,
}

impl Drop for Reading {
    fn drop(&mut self) {
        if self.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.set(());
        }
    }
}

enum Read {
    Bytes(usize),
    Quiet,
    End,
}

impl Pipeline {
    async fn read(&self, mut from: Async<File>, stream: Stream) {
        let mut splitter = Splitter::default();
        let mut chunk = vec![0; CHUNK];
        let mut gathered = Gathered::default();
        loop {
            let read = async {
                match from.read(&mut chunk).await {
                    Ok(0) | Err(_) => Read::End,
                    Ok(n) => Read::Bytes(n),
                }
            };
            let next = if splitter.pending() {
                future::race(read, async {
                    crate::runtime::sleep(QUIET).await;
                    Read::Quiet
                })
                .await
            } else {
                read.await
            };
            let mut batch = match &self.destination {
                Destination::Terminal(_) => printer::spare(),
                Destination::File(_) | Destination::Nowhere => Vec::new(),
            };
            match next {
                Read::Bytes(n) => {
                    if let Destination::Terminal(Some(label)) = &self.destination {
                        // Room for labels on lines of 32 bytes or more: no copy as it grows.
                        batch.reserve(n + n / 32 * label.name.len().max(8) + label.name.len());
                    }
                    let bytes = &chunk[..n];
                    self.pass_on(bytes, &mut batch);
                    let split = |line: &mut dyn FnMut(&[u8], Piece)| splitter.feed(bytes, line);
                    self.lines(stream, bytes, &mut gathered, &mut batch, split);
                }
                Read::Quiet | Read::End => {
                    let split = |line: &mut dyn FnMut(&[u8], Piece)| splitter.flush(line);
                    self.lines(stream, &[], &mut gathered, &mut batch, split);
                }
            }
            printer::print(batch).await;
            if let Read::End = next {
                return;
            }
        }
    }

    /// The bytes as they are, to a destination that takes them so.
    fn pass_on(&self, bytes: &[u8], batch: &mut Vec<u8>) {
        match &self.destination {
            Destination::Terminal(None) => batch.extend_from_slice(bytes),
            // A file that cannot be written (a full disk) loses its copy, not the reading:
            // the child must never block on a full pipe.
            Destination::File(file) => {
                let _ = (&*file).write_all(bytes);
            }
            Destination::Terminal(Some(_)) | Destination::Nowhere => {}
        }
    }

    /// Hands each line `split` finds in `read` (and what came before it) to the `log`
    /// check, the labelled terminal and the recent output.
    fn lines(
        &self,
        stream: Stream,
        read: &[u8],
        gathered: &mut Gathered,
        batch: &mut Vec<u8>,
        split: impl FnOnce(&mut dyn FnMut(&[u8], Piece)),
    ) {
        let capture = &self.capture;
        // The lines of one read arrived together.
        let at = SystemTime::now();
        let label = match &self.destination {
            Destination::Terminal(Some(label)) if label.timestamps => {
                let mut text = label.name.clone();
                text.extend_from_slice(printer::timestamp(at).as_bytes());
                text.push(b' ');
                Some(Cow::Owned(text))
            }
            Destination::Terminal(Some(label)) => Some(Cow::Borrowed(&label.name)),
            _ => None,
        };
        split(&mut |line: &[u8], piece: Piece| {
            gathered.note(line, read);
            if piece == Piece::Start {
                capture.cut.store(true, Ordering::Relaxed);
            }
            // A long line is matched on its first piece.
            if let (Some(pattern), Piece::Whole | Piece::Start) = (&self.pattern, piece) {
                if capture.matched.get().is_none()
                    && pattern.is_match(&String::from_utf8_lossy(line))
                {
                    capture.matched.set(());
                }
            }
            if let Some(label) = &label {
                batch.extend_from_slice(label);
                batch.extend_from_slice(line);
                batch.push(b'\n');
            }
        });
        let mut recent = capture.recent.lock().unwrap_or_else(|e| e.into_inner());
        gathered.keep(&mut recent, at, stream, read);
    }
}

/// The lines of one read, noted as they are found and kept once it is done: only the last
/// [`Recent::max_lines`] of them can stay in the recent output, and a flood's read holds
/// thousands, so the rest are never copied there. A line is noted by its place in the read,
/// or copied aside when it is not in it (the end of a line begun by an earlier read).
#[derive(Default)]
struct Gathered {
    lines: Vec<(Place, std::ops::Range<usize>)>,
    aside: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Place {
    Read,
    Aside,
}

impl Gathered {
    fn note(&mut self, line: &[u8], read: &[u8]) {
        let start = (line.as_ptr() as usize).wrapping_sub(read.as_ptr() as usize);
        if start <= read.len() && line.len() <= read.len() - start {
            self.lines.push((Place::Read, start..start + line.len()));
        } else {
            let start = self.aside.len();
            self.aside.extend_from_slice(line);
            self.lines.push((Place::Aside, start..self.aside.len()));
        }
    }

    fn keep(&mut self, recent: &mut Recent, at: SystemTime, stream: Stream, read: &[u8]) {
        let skipped = self.lines.len().saturating_sub(recent.max_lines());
        for (place, range) in &self.lines[skipped..] {
            let text = match place {
                Place::Read => &read[range.clone()],
                Place::Aside => &self.aside[range.clone()],
            };
            recent.push(at, stream, text);
        }
        self.lines.clear();
        self.aside.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recent output after `reads`, each split and gathered as the reader does.
    fn recent_after(reads: &[&[u8]], max_lines: usize) -> Vec<String> {
        let (mut recent, mut gathered) = (Recent::new(max_lines), Gathered::default());
        let mut splitter = Splitter::default();
        for read in reads {
            splitter.feed(read, &mut |line, _| gathered.note(line, read));
            gathered.keep(&mut recent, SystemTime::now(), Stream::Stdout, read);
        }
        recent.last(100).into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn a_read_keeps_its_last_lines_whether_in_it_or_begun_before() {
        let reads: [&[u8]; 2] = [b"one\ntw", b"o\nthree\nfour\nfive\n"];
        assert_eq!(
            recent_after(&reads, 10),
            ["one", "two", "three", "four", "five"]
        );
        assert_eq!(recent_after(&reads, 3), ["three", "four", "five"]);
        assert_eq!(recent_after(&reads, 4), ["two", "three", "four", "five"]);
    }
}
