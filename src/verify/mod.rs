//! Readiness checks: how rmanager knows a process reached its desired state. One file per
//! kind, listed in `kind`; `verifier` holds what they share (the trait, the polling loop,
//! the messages).

mod command;
mod diag;
mod exited;
mod file;
mod http;
mod kind;
mod log;
mod net;
mod plain_http;
mod prober;
mod tcp;
mod verifier;

pub use command::CommandCheck;
pub use exited::ExitedVerifier;
pub use file::FileCheck;
pub use http::HttpOkVerifier;
pub use kind::{Resolution, VERIFIER_TYPES, VerifierArguments, VerifierSpec, VerifierType};
pub use log::LogCheck;
pub use net::already_answering;
pub use tcp::TcpCheck;
pub use verifier::{Readiness, Reporter, seconds as seconds_text};
#[cfg(test)]
pub use {http::HttpMethod, verifier::Timing};
