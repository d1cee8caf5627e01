//! The recent output of one process, kept for failure reports (and later the logs
//! endpoint): the last lines up to a count and a size, whichever is reached first. The
//! text is kept in one ring of bytes, so that keeping a line costs a copy, not an
//! allocation: a child may print millions of lines a second.

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
    pub text: String,
}

/// Where a kept line came from; its text is the next `len` bytes of the ring.
#[derive(Debug)]
struct Kept {
    at: SystemTime,
    stream: Stream,
    len: usize,
}

/// A ring of the last lines.
#[derive(Debug)]
pub struct Recent {
    lines: VecDeque<Kept>,
    text: VecDeque<u8>,
    max_lines: usize,
}

impl Recent {
    /// The most bytes kept, whatever the count of lines.
    pub const BYTES: usize = 1 << 20;

    pub fn new(max_lines: usize) -> Recent {
        Recent {
            lines: VecDeque::new(),
            text: VecDeque::new(),
            max_lines,
        }
    }

    /// Keeps `text`, which arrived `at`, dropping the oldest lines beyond the limits.
    pub fn push(&mut self, at: SystemTime, stream: Stream, text: &[u8]) {
        if self.max_lines == 0 {
            return;
        }
        while self.lines.len() >= self.max_lines
            || (!self.lines.is_empty() && self.text.len() + text.len() > Self::BYTES)
        {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.text.drain(..old.len);
        }
        self.text.extend(text);
        self.lines.push_back(Kept {
            at,
            stream,
            len: text.len(),
        });
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<Line> {
        let skipped = self.lines.len().saturating_sub(n);
        let mut start: usize = self.lines.iter().take(skipped).map(|l| l.len).sum();
        self.lines
            .iter()
            .skip(skipped)
            .map(|kept| {
                let bytes: Vec<u8> = self.text.range(start..start + kept.len).copied().collect();
                start += kept.len;
                Line {
                    at: kept.at,
                    stream: kept.stream,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_are_kept_within_both_limits() {
        let mut recent = Recent::new(3);
        for text in ["one", "two", "three", "four"] {
            recent.push(SystemTime::now(), Stream::Stdout, text.as_bytes());
        }
        let texts = |r: &Recent, n| r.last(n).into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(texts(&recent, 10), ["two", "three", "four"]);
        assert_eq!(texts(&recent, 1), ["four"]);
        let mut recent = Recent::new(1000);
        let big = vec![b'x'; Recent::BYTES / 2 + 1];
        for _ in 0..3 {
            recent.push(SystemTime::now(), Stream::Stderr, &big);
        }
        assert_eq!(
            recent.last(10).len(),
            1,
            "two halves and more are over 1 MiB"
        );
    }
}
