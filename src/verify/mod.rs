//! Readiness checks: how rmanager knows a process reached its desired state. One file per
//! kind; `verifier` holds what they share.

mod exited;
mod http;
mod plain_http;
mod verifier;

pub use exited::ExitedVerifier;
pub use http::HttpOkVerifier;
pub use verifier::{Readiness, Reporter, Verifier, for_spec, seconds as seconds_text};
