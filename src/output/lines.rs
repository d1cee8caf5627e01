//! Cutting a stream into lines. `\n`, `\r\n` and a lone `\r` end a line (progress output
//! redraws its line with `\r`); a line longer than [`MAX_LINE`] is handed on in pieces of
//! that size, so that memory stays bounded whatever a child prints.

/// The longest piece of a line handed on whole.
pub const MAX_LINE: usize = 64 * 1024;

/// What a piece handed on is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// A whole line.
    Whole,
    /// The first MAX_LINE bytes of a longer line.
    Start,
    /// The rest of a longer line, a piece at a time.
    Rest,
}

/// The part of a line received so far.
#[derive(Default)]
pub struct Splitter {
    partial: Vec<u8>,
    /// Pieces of the current line have been handed on.
    continuing: bool,
    /// The last byte seen was a `\r`: a `\n` right after it ends nothing more.
    after_return: bool,
}

impl Splitter {
    /// Takes the next `bytes` of the stream; calls `line` with each line (or piece of a
    /// long one) they complete, without its ending.
    pub fn feed(&mut self, mut bytes: &[u8], line: &mut dyn FnMut(&[u8], Piece)) {
        if self.after_return && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_return = false;
        // Most output has no `\r` at all: one look for one, then the cheaper search.
        let returns = memchr::memchr(b'\r', bytes).is_some();
        let next_end = |bytes: &[u8]| match returns {
            true => memchr::memchr2(b'\n', b'\r', bytes),
            false => memchr::memchr(b'\n', bytes),
        };
        while let Some(end) = next_end(bytes) {
            self.complete(&bytes[..end], line);
            let ending = bytes[end];
            bytes = &bytes[end + 1..];
            if ending == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_return = true,
                    Some(_) => {}
                }
            }
        }
        self.extend(bytes, line);
    }

    /// Whether part of a line is waiting for its end.
    pub fn pending(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Hands on the part of a line received so far as if it had ended: for a quiet stream
    /// (a prompt, `printf 'ready'`) and at end-of-file.
    pub fn flush(&mut self, line: &mut dyn FnMut(&[u8], Piece)) {
        if !self.partial.is_empty() {
            let piece = self.last_piece();
            line(&self.partial, piece);
            self.partial.clear();
        }
    }

    fn complete(&mut self, end: &[u8], line: &mut dyn FnMut(&[u8], Piece)) {
        if self.partial.is_empty() && !self.continuing && end.len() <= MAX_LINE {
            line(end, Piece::Whole);
            return;
        }
        self.extend(end, line);
        let piece = self.last_piece();
        line(&self.partial, piece);
        self.partial.clear();
    }

    fn last_piece(&mut self) -> Piece {
        match std::mem::take(&mut self.continuing) {
            true => Piece::Rest,
            false => Piece::Whole,
        }
    }

    /// Adds to the partial line, handing on each full MAX_LINE piece.
    fn extend(&mut self, mut bytes: &[u8], line: &mut dyn FnMut(&[u8], Piece)) {
        while self.partial.len() + bytes.len() > MAX_LINE {
            let take = MAX_LINE - self.partial.len();
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let piece = match self.continuing {
                true => Piece::Rest,
                false => Piece::Start,
            };
            line(&self.partial, piece);
            self.partial.clear();
            self.continuing = true;
        }
        self.partial.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(String, Piece)> {
        let mut splitter = Splitter::default();
        let mut lines = Vec::new();
        let mut collect =
            |l: &[u8], piece: Piece| lines.push((String::from_utf8_lossy(l).into_owned(), piece));
        for chunk in chunks {
            splitter.feed(chunk, &mut collect);
        }
        splitter.flush(&mut collect);
        lines
    }

    fn whole(lines: &[&str]) -> Vec<(String, Piece)> {
        lines
            .iter()
            .map(|l| (l.to_string(), Piece::Whole))
            .collect()
    }

    #[test]
    fn every_line_ending_ends_a_line_once() {
        assert_eq!(split(&[b"a\nb\r\nc\rd"]), whole(&["a", "b", "c", "d"]));
        // A \r\n split between two reads is one ending.
        assert_eq!(split(&[b"a\r", b"\nb\n"]), whole(&["a", "b"]));
        assert_eq!(split(&[b"a\r", b"\r\n"]), whole(&["a", ""]));
        assert_eq!(split(&[b"pa", b"rt", b"ial\n"]), whole(&["partial"]));
    }

    #[test]
    fn a_long_line_comes_in_pieces() {
        let mut input = vec![b'x'; MAX_LINE * 2 + 10];
        input.extend_from_slice(b"\nnext\n");
        let lines = split(&[&input[..100], &input[100..]]);
        let pieces: Vec<(usize, Piece)> = lines.iter().map(|(l, p)| (l.len(), *p)).collect();
        assert_eq!(
            pieces,
            [
                (MAX_LINE, Piece::Start),
                (MAX_LINE, Piece::Rest),
                (10, Piece::Rest),
                (4, Piece::Whole)
            ]
        );
    }
}
