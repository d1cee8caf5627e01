//! rmanager's standard output, where the processes' lines meet. Batches of whole lines
//! are written by one thread, in the order they were sent, so that lines of different
//! processes never interleave, and a terminal that stops reading (a paused pager, a full
//! pipe) stalls neither rmanager nor, until the short queue is full, the children.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::runtime::channel;

/// Batches waiting for the terminal (each at most a read's worth of lines): beyond this,
/// a child's reader waits its turn, which bounds the memory a flood of output takes.
const QUEUE: usize = 4;

enum Job {
    Write(Vec<u8>),
    /// The progress block (whole lines): drawn below everything written and redrawn after
    /// each write until the `last` one, which stays as ordinary lines.
    Board {
        text: Vec<u8>,
        last: bool,
    },
    /// Answered once everything sent before has been written.
    Flush(channel::Sender<()>),
}

static QUEUE_SENDER: OnceLock<channel::Sender<Job>> = OnceLock::new();

/// Batches written, kept for the next ones: a flood of output then goes through the same
/// few buffers instead of fresh memory from the kernel for every read (page faults,
/// zeroed pages, cgroup accounting: a tenth of the reader's time).
static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// As many as can be under way at once: the queue's, the one being written, the one
/// being filled.
const SPARES: usize = QUEUE + 2;

/// An empty buffer for a batch, with room from an earlier one when there is one.
pub fn spare() -> Vec<u8> {
    SPARE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .unwrap_or_default()
}

/// Keeps `batch`'s room for a later [`spare`].
fn recycle(mut batch: Vec<u8>) {
    batch.clear();
    let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
    if spare.len() < SPARES {
        spare.push(batch);
    }
}

fn queue() -> &'static channel::Sender<Job> {
    QUEUE_SENDER.get_or_init(|| {
        let (sender, jobs) = channel::bounded::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("rmanager-output".to_owned())
            .spawn(move || {
                let mut terminal = Terminal::default();
                while let Ok(job) = jobs.recv_blocking() {
                    match job {
                        Job::Write(batch) => {
                            terminal.write(&batch);
                            recycle(batch);
                        }
                        Job::Board { text, last } => terminal.board(text, last),
                        Job::Flush(done) => {
                            let _ = done.try_send(());
                        }
                    }
                }
            })
            .expect("a thread for the output");
        sender
    })
}

/// rmanager's stdout, with the progress block kept below the lines written.
#[derive(Default)]
struct Terminal {
    /// The block as last sent (empty: none).
    board: Vec<u8>,
    /// How many of its lines are on the screen, above the cursor.
    shown: usize,
    /// Whether the last byte written ended a line: the block is drawn only there (raw
    /// output may stop mid-line).
    mid_line: bool,
}

impl Terminal {
    fn write(&mut self, batch: &[u8]) {
        let hide = self.hide();
        if let Some(&last) = batch.last() {
            self.mid_line = last != b'\n';
        }
        let board = self.draw();
        // Up to three writes rather than a copy of the batch: the block is only ever on a
        // terminal, and a file gets the batch alone.
        let mut stdout = std::io::stdout().lock();
        // A closed terminal is not worth dying for: the lines are still in each process's
        // recent output.
        let _ = [&hide[..], batch, board]
            .iter()
            .filter(|part| !part.is_empty())
            .try_for_each(|part| stdout.write_all(part))
            .and_then(|()| stdout.flush());
    }

    fn board(&mut self, text: Vec<u8>, last: bool) {
        let mut out = self.hide();
        self.board = text;
        if last {
            if self.mid_line {
                out.push(b'\n');
            }
            out.append(&mut self.board);
            self.mid_line = false;
        }
        out.extend_from_slice(self.draw());
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    }

    /// The escape codes that take the block off the screen: up to its first line, and
    /// clear everything below.
    fn hide(&mut self) -> Vec<u8> {
        match std::mem::take(&mut self.shown) {
            0 => Vec::new(),
            n => format!("\x1b[{n}A\r\x1b[J").into_bytes(),
        }
    }

    /// The block, to be written where a line begins (else nothing).
    fn draw(&mut self) -> &[u8] {
        if self.mid_line || self.board.is_empty() {
            return &[];
        }
        self.shown = self.board.iter().filter(|&&b| b == b'\n').count();
        &self.board
    }
}

/// Writes `batch` (whole lines) to rmanager's stdout, after what was sent before.
pub async fn print(batch: Vec<u8>) {
    if batch.is_empty() {
        return recycle(batch);
    }
    let _ = queue().send(Job::Write(batch)).await;
}

/// The same, from code that cannot wait asynchronously: rmanager's own lines.
pub fn print_blocking(batch: Vec<u8>) {
    let _ = queue().send_blocking(Job::Write(batch));
}

/// Shows `text` as the progress block, in place of the one before; dropped when the
/// terminal is behind, since the next one is on its way.
pub fn show_board(text: Vec<u8>) {
    let _ = queue().try_send(Job::Board { text, last: false });
}

/// Replaces the progress block with `text` for good, as ordinary lines, and waits until it
/// is written.
pub fn end_board(text: Vec<u8>) {
    if queue()
        .send_blocking(Job::Board { text, last: true })
        .is_ok()
    {
        flush_blocking();
    }
}

/// Waits until everything sent so far is written: before rmanager exits.
pub async fn flush() {
    let (done, written) = channel::bounded(1);
    // Nothing was ever sent: nothing to wait for (and no thread to start).
    let Some(queue) = QUEUE_SENDER.get() else {
        return;
    };
    if queue.send(Job::Flush(done)).await.is_ok() {
        let _ = written.recv().await;
    }
}

/// The same, from code that cannot wait asynchronously.
pub fn flush_blocking() {
    let (done, written) = channel::bounded(1);
    let Some(queue) = QUEUE_SENDER.get() else {
        return;
    };
    if queue.send_blocking(Job::Flush(done)).is_ok() {
        let _ = written.recv_blocking();
    }
}

/// The start of each of a process's lines: `name | `, the name padded to `width`, and
/// coloured (one colour a process, as docker compose does) when `color` is set.
pub fn label(name: &str, width: usize, index: usize, color: bool) -> Vec<u8> {
    const COLORS: [u8; 10] = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];
    let text = format!("{name:width$} |");
    match color {
        true => format!("\x1b[{}m{text}\x1b[0m ", COLORS[index % COLORS.len()]),
        false => format!("{text} "),
    }
    .into_bytes()
}

/// `at` in RFC 3339, UTC, to the millisecond: `2026-11-30T16:11:31.123Z`.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, seconds) = ((since.as_secs() / 86400) as i64, since.as_secs() % 86400);
    // The civil date of a day count (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc_3339_in_utc() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(timestamp(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(
            timestamp(at(1_796_083_199, 999)),
            "2026-11-30T23:59:59.999Z"
        );
    }
}
