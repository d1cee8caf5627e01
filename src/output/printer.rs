//! rmanager's standard output, where the processes' lines meet. Batches of whole lines
//! are written by one thread, in the order they were sent, so that lines of different
//! processes never interleave, and a terminal that stops reading (a paused pager, a full
//! pipe) stalls neither rmanager nor, until the short queue is full, the children.

use std::io::Write;
use std::sync::OnceLock;

use crate::runtime::channel;

/// Batches waiting for the terminal (each at most a read's worth of lines): beyond this,
/// a child's reader waits its turn, which bounds the memory a flood of output takes.
const QUEUE: usize = 4;

enum Job {
    Write(Vec<u8>),
    /// Answered once everything sent before has been written.
    Flush(channel::Sender<()>),
}

fn queue() -> &'static channel::Sender<Job> {
    static QUEUE_SENDER: OnceLock<channel::Sender<Job>> = OnceLock::new();
    QUEUE_SENDER.get_or_init(|| {
        let (sender, jobs) = channel::bounded::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("rmanager-output".to_owned())
            .spawn(move || {
                let stdout = std::io::stdout();
                while let Ok(job) = jobs.recv_blocking() {
                    match job {
                        // A closed terminal is not worth dying for: the lines are still
                        // in each process's recent output.
                        Job::Write(batch) => {
                            let mut out = stdout.lock();
                            let _ = out.write_all(&batch).and_then(|()| out.flush());
                        }
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

/// Writes `batch` (whole lines) to rmanager's stdout, after what was sent before.
pub async fn print(batch: Vec<u8>) {
    let _ = queue().send(Job::Write(batch)).await;
}

/// Waits until everything sent so far is written: before rmanager exits.
pub async fn flush() {
    let (done, written) = channel::bounded(1);
    if queue().send(Job::Flush(done)).await.is_ok() {
        let _ = written.recv().await;
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
