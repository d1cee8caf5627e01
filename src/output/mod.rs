//! Children's output: every stdout and stderr comes through rmanager (`capture`), cut into
//! lines (`lines`), kept as each process's recent output (`recent`), and printed on
//! rmanager's stdout after the process's name, lines never interleaved (`printer`).

mod capture;
mod lines;
pub mod printer;
mod recent;

pub use capture::{Capture, Destination, Label, start};
pub use lines::MAX_LINE;

/// A process's last lines as rmanager quotes them after one of its own lines: a heading,
/// then each line indented. Empty when there are none.
pub fn quoted(name: &str, lines: &[String]) -> String {
    let (n, s) = (lines.len(), if lines.len() == 1 { "" } else { "s" });
    if n == 0 {
        return String::new();
    }
    let mut text = format!("rmanager: {name}'s last {n} line{s} of output:\n");
    for line in lines {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}
