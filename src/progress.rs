//! How the launch looks while it happens, drawn from the lifecycle events: on a terminal, a
//! block with a row per process, redrawn in place below the processes' lines as docker
//! compose draws it, and left as its final state; in a log, a line per process started and
//! per process ready. Both end with the launch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::{self, Event};
use crate::output::printer;
use crate::spec::{ManagerSpec, Progress};

/// How often the block is redrawn while nothing happens: its clocks and spinners move.
const TICK: Duration = Duration::from_millis(100);

/// Starts showing the launch of `spec` as its `output.progress` asks.
pub fn show(spec: &ManagerSpec) {
    let progress = spec.output.progress;
    if progress == Progress::Quiet {
        return;
    }
    let board = Arc::new(Mutex::new(Board::new(spec)));
    let seen = board.clone();
    let observer = move |event: &Event| {
        let mut board = seen.lock().unwrap_or_else(|e| e.into_inner());
        if board.over {
            return;
        }
        let index = board.update(event);
        match progress {
            Progress::Tty if board.over => printer::end_board(board.render(Rows::All)),
            // A failed attempt waits for the next tick: a check may make hundreds.
            Progress::Tty if index.is_some() => {
                printer::show_board(board.render(Rows::FitTerminal))
            }
            Progress::Tty => {}
            _ => {
                if let Some(index) = index {
                    board.say(index);
                }
            }
        }
    };
    // Only the block shows a check's failed attempts.
    let tty = progress == Progress::Tty;
    events::observe(observer, tty);
    if tty {
        crate::runtime::spawn(async move {
            loop {
                crate::runtime::sleep(TICK).await;
                let board = board.lock().unwrap_or_else(|e| e.into_inner());
                if board.over {
                    return;
                }
                printer::show_board(board.render(Rows::FitTerminal));
            }
        });
    }
}

struct Board {
    rows: Vec<Row>,
    /// The longest name's length, to align the rows.
    width: usize,
    color: bool,
    /// The launch has ended (every process ready, or the shutdown begun).
    over: bool,
}

struct Row {
    name: String,
    depends_on: Vec<usize>,
    state: State,
}

enum State {
    Waiting,
    Checking {
        since: Instant,
        pid: u32,
        failed_attempts: u32,
        last_failure: Option<String>,
    },
    Ready(Duration),
    Failed(String),
    Exited(i32),
}

#[derive(Clone, Copy, PartialEq)]
enum Rows {
    All,
    /// As many as the terminal shows without scrolling (the block is redrawn by moving the
    /// cursor up, which cannot reach lines scrolled away).
    FitTerminal,
}

impl Board {
    fn new(spec: &ManagerSpec) -> Board {
        let rows: Vec<Row> = spec
            .processes
            .iter()
            .map(|p| Row {
                name: p.name.clone(),
                depends_on: p.depends_on.clone(),
                state: State::Waiting,
            })
            .collect();
        Board {
            width: rows
                .iter()
                .map(|r| r.name.chars().count())
                .max()
                .unwrap_or(0),
            rows,
            color: spec.output.color,
            over: false,
        }
    }

    /// Takes `event` in; returns the row whose state it changed.
    fn update(&mut self, event: &Event) -> Option<usize> {
        let row = |name: &str| self.rows.iter().position(|r| r.name == name);
        let (index, state) = match *event {
            Event::Started { process, pid } => (
                row(process)?,
                State::Checking {
                    since: Instant::now(),
                    pid,
                    failed_attempts: 0,
                    last_failure: None,
                },
            ),
            Event::CheckAttemptFailed { process, reason } => {
                let index = row(process)?;
                if let State::Checking {
                    failed_attempts,
                    last_failure,
                    ..
                } = &mut self.rows[index].state
                {
                    *failed_attempts += 1;
                    *last_failure = Some(reason.to_owned());
                }
                return None;
            }
            Event::Ready { process } => {
                let index = row(process)?;
                let took = match self.rows[index].state {
                    State::Checking { since, .. } => since.elapsed(),
                    _ => Duration::ZERO,
                };
                (index, State::Ready(took))
            }
            Event::Failed { process, reason } => (row(process)?, State::Failed(reason.to_owned())),
            // A process that ends after it was ready (a one-shot step) stays ready.
            Event::Exited { process, code } => {
                let index = row(process)?;
                if !matches!(self.rows[index].state, State::Checking { .. }) {
                    return None;
                }
                (index, State::Exited(code))
            }
            Event::EnvironmentReady { .. }
            | Event::EnvironmentFailed { .. }
            | Event::ShutdownBegun => {
                self.over = true;
                return None;
            }
            _ => return None,
        };
        self.rows[index].state = state;
        Some(index)
    }

    /// The line a log gets when row `index` changed: started and ready only (a failure is
    /// told by the failure report).
    fn say(&self, index: usize) {
        let row = &self.rows[index];
        match &row.state {
            State::Checking { pid, .. } => crate::say!("{}: started (pid {pid})", row.name),
            State::Ready(took) => {
                crate::say!("{}: ready in {:.2} s", row.name, took.as_secs_f64())
            }
            _ => {}
        }
    }

    fn render(&self, rows: Rows) -> Vec<u8> {
        let (columns, lines) = terminal_size();
        let mut shown: Vec<usize> = (0..self.rows.len()).collect();
        let mut hidden_ready = 0;
        let room = lines.saturating_sub(2).max(2);
        if rows == Rows::FitTerminal && shown.len() > room {
            // The ready ones make way, counted on a line of their own.
            shown.retain(|&i| !matches!(self.rows[i].state, State::Ready(_)));
            shown.truncate(room - 1);
            hidden_ready = self.rows.len() - shown.len();
        }
        let mut text = Vec::new();
        for index in shown {
            let (mark, line) = self.row(index);
            self.push_line(&mut text, mark, &line, columns);
        }
        if hidden_ready > 0 {
            let line = format!("{:w$}  and {hidden_ready} more", "", w = self.width);
            self.push_line(&mut text, Mark::Ready, &line, columns);
        }
        text
    }

    /// Row `index` as a mark and its text.
    fn row(&self, index: usize) -> (Mark, String) {
        let row = &self.rows[index];
        let width = self.width;
        let (mark, what) = match &row.state {
            State::Waiting if self.over => (Mark::None, "not started".to_owned()),
            State::Waiting => {
                let waiting_for: Vec<&str> = row
                    .depends_on
                    .iter()
                    .filter(|&&d| !matches!(self.rows[d].state, State::Ready(_)))
                    .map(|&d| self.rows[d].name.as_str())
                    .collect();
                match waiting_for.is_empty() {
                    true => (Mark::None, "starting".to_owned()),
                    false => (
                        Mark::None,
                        format!("waiting for {}", waiting_for.join(", ")),
                    ),
                }
            }
            State::Checking { .. } if self.over => (Mark::None, "stopped".to_owned()),
            State::Checking {
                since,
                failed_attempts,
                last_failure,
                ..
            } => {
                let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let elapsed = since.elapsed();
                let frame = (elapsed.as_millis() / TICK.as_millis()) as usize % spinner.len();
                let mut what = format!("checking {:.1} s", elapsed.as_secs_f64());
                if let Some(last) = last_failure {
                    let s = if *failed_attempts == 1 { "" } else { "s" };
                    what.push_str(&format!(" ({failed_attempts} attempt{s} failed: {last})"));
                }
                (Mark::Spinner(spinner[frame]), what)
            }
            State::Ready(took) => (Mark::Ready, format!("ready in {:.2} s", took.as_secs_f64())),
            State::Failed(reason) => (Mark::Failed, format!("failed: {reason}")),
            State::Exited(code) if *code < 0 => {
                (Mark::Failed, format!("killed by signal {}", -code))
            }
            State::Exited(code) => (Mark::Failed, format!("exited with code {code}")),
        };
        (mark, format!("{:width$}  {what}", row.name))
    }

    /// ` ✔ line`, cut to the terminal's width (a line that wrapped would take two rows,
    /// and the redraw would miss one).
    fn push_line(&self, text: &mut Vec<u8>, mark: Mark, line: &str, columns: usize) {
        let line: String = line.chars().take(columns.saturating_sub(4)).collect();
        let (symbol, color) = match mark {
            Mark::None => (' ', None),
            Mark::Spinner(c) => (c, Some(36)),
            Mark::Ready => ('✔', Some(32)),
            Mark::Failed => ('✘', Some(31)),
        };
        let symbol = match (self.color, color) {
            (true, Some(color)) => format!("\x1b[{color}m{symbol}\x1b[0m"),
            _ => symbol.to_string(),
        };
        text.extend_from_slice(format!(" {symbol} {line}\n").as_bytes());
    }
}

#[derive(Clone, Copy)]
enum Mark {
    None,
    Spinner(char),
    Ready,
    Failed,
}

/// The terminal's columns and lines (80 x 24 when it does not say).
fn terminal_size() -> (usize, usize) {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok();
    let or = |n: u16, default: usize| if n == 0 { default } else { usize::from(n) };
    size.map_or((80, 24), |s| (or(s.ws_col, 80), or(s.ws_row, 24)))
}
