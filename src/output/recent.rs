//! The recent output of one process, kept for failure reports (and later the logs
//! endpoint): the last lines up to a count and a size, whichever is reached first.

use std::collections::VecDeque;
use std::time::SystemTime;

/// Which of a process's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output.
#[derive(Debug, Clone)]
#[expect(
    dead_code,
    reason = "when and where a line came from is for the logs endpoint"
)]
pub struct Line {
    pub at: SystemTime,
    pub stream: Stream,
    pub text: Box<[u8]>,
}

impl Line {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// A ring of the last lines.
#[derive(Debug)]
pub struct Recent {
    lines: VecDeque<Line>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl Recent {
    /// The most bytes kept, whatever the count of lines.
    pub const BYTES: usize = 1 << 20;

    pub fn new(max_lines: usize) -> Recent {
        Recent {
            lines: VecDeque::new(),
            bytes: 0,
            max_lines,
            max_bytes: Self::BYTES,
        }
    }

    pub fn push(&mut self, stream: Stream, text: &[u8]) {
        if self.max_lines == 0 {
            return;
        }
        while self.lines.len() >= self.max_lines
            || (!self.lines.is_empty() && self.bytes + text.len() > self.max_bytes)
        {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.text.len();
        }
        self.bytes += text.len();
        self.lines.push_back(Line {
            at: SystemTime::now(),
            stream,
            text: text.into(),
        });
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<Line> {
        self.lines
            .iter()
            .skip(self.lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}
