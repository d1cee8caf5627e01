//! Children's output: every stdout and stderr comes through rmanager (`capture`), cut into
//! lines (`lines`), kept as each process's recent output (`recent`), and printed on
//! rmanager's stdout after the process's name, lines never interleaved (`printer`).

mod capture;
mod lines;
pub mod printer;
mod recent;

pub use capture::{Capture, Destination, start};
pub use lines::MAX_LINE;
