//! The supervisor: the one owner of every process. It launches them in order, gates each on
//! its verifier, records exits, and runs the shutdown; signals reach it as events.

mod run;
mod status;

pub use run::run;
pub use status::ManagerStatus;
