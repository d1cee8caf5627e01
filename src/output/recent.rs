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

    /// The most lines kept.
    pub fn max_lines(&self) -> usize {
        self.max_lines
    }

    /// Keeps `text`, which arrived `at`.
    pub fn push(&mut self, at: SystemTime, stream: Stream, text: &[u8]) {
        if self.max_lines == 0 {
            return;
        }
        self.text.extend(text);
        self.lines.push_back(Kept {
            at,
            stream,
            len: text.len(),
        });
        // The oldest lines beyond the limits go in bulk, once half as many again have
        // come: a chatty child's line is then a copy and no bookkeeping.
        if 2 * self.lines.len() > 3 * self.max_lines || 2 * self.text.len() > 3 * Self::BYTES {
            let (count, bytes) = self.beyond_limits();
            self.lines.drain(..count);
            self.text.drain(..bytes);
        }
    }

    /// How many of the oldest lines, and how many bytes, are beyond the limits: counted
    /// from the oldest, so that the cost is in the lines dropped, not in those kept.
    fn beyond_limits(&self) -> (usize, usize) {
        let (mut count, mut bytes) = (0, 0);
        for line in &self.lines {
            if self.lines.len() - count <= self.max_lines && self.text.len() - bytes <= Self::BYTES
            {
                break;
            }
            count += 1;
            bytes += line.len;
        }
        (count, bytes)
    }

    /// The last `n` lines within the limits, oldest first.
    pub fn last(&self, n: usize) -> Vec<Line> {
        let (beyond, mut start) = self.beyond_limits();
        let skipped = beyond.max(self.lines.len().saturating_sub(n));
        start += self
            .lines
            .range(beyond..skipped)
            .map(|l| l.len)
            .sum::<usize>();
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
        // The oldest go in bulk once more than 4.5 lines are kept; the extra ones never show.
        let push = |recent: &mut Recent, text: &str| {
            recent.push(SystemTime::now(), Stream::Stdout, text.as_bytes())
        };
        push(&mut recent, "five");
        push(&mut recent, "six");
        assert_eq!(texts(&recent, 10), ["four", "five", "six"]);
        assert_eq!(recent.lines.len(), 4);
        push(&mut recent, "seven");
        assert_eq!(recent.lines.len(), 3);
        assert_eq!(texts(&recent, 10), ["five", "six", "seven"]);
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
