//! The HTTP control API (tide), compatible with pymanager's: list the processes, read the
//! manager's status, restart one process, shut everything down.
//!
//! `routes` holds the endpoints; `guard` the checks every request passes first (Host,
//! Origin, bearer token, conflicting headers) and the error shape of what tide answers by
//! itself; `reply` the shape of every answer; `listener` the bounded accept loop.

mod guard;
mod listener;
mod reply;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::runtime::net::TcpListener;

use crate::error::Error;
use crate::spec::{HttpSpec, TokenSource};
use crate::supervisor::Manager;

/// The control API's socket, bound before any process launches so that a port in use is
/// a setup error that costs nothing, and `GET /status` answers from the start.
pub struct ControlApi {
    listener: TcpListener,
    address: SocketAddr,
    token: Option<String>,
}

impl ControlApi {
    pub async fn bind(spec: &HttpSpec) -> Result<ControlApi, Error> {
        let setup = |reason: String| Error::ControlApi { reason };
        let token = match &spec.token {
            None => None,
            Some(TokenSource::Value(token)) => Some(token.clone()),
            Some(TokenSource::Env(name)) => match std::env::var(name) {
                Ok(token) if !token.is_empty() => Some(token),
                _ => {
                    return Err(setup(format!(
                        "http.token_env names the environment variable {name}, which is not set or empty"
                    )));
                }
            },
        };
        let listener = TcpListener::bind((spec.host.as_str(), spec.port))
            .await
            .map_err(|e| setup(format!("cannot listen on {}:{}: {e}", spec.host, spec.port)))?;
        let address = listener
            .local_addr()
            .map_err(|e| setup(format!("cannot read the bound address: {e}")))?;
        Ok(ControlApi {
            listener,
            address,
            token,
        })
    }

    /// Where it listens, as a URL: `http://127.0.0.1:5001`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves requests for `manager` in the background, for as long as rmanager runs.
    pub fn serve(self, manager: Arc<Manager>) {
        let mut app = tide::with_state(routes::Api { manager });
        app.with(guard::ErrorShape);
        app.with(guard::Guard::new(self.address.port(), self.token));
        routes::add(&mut app);
        crate::runtime::spawn(async move {
            if let Err(e) = listener::serve(app, self.listener).await {
                log::error!("the HTTP control API stopped: {e}");
            }
        });
    }
}
