//! What every request passes before it reaches an endpoint, and the shape of every error.
//!
//! The API can restart and kill processes, so it is privileged even on loopback: a web page
//! in the user's browser must not reach it. DNS rebinding (a hostile name that resolves to
//! 127.0.0.1) is stopped by accepting only Host headers that are an IP address or
//! localhost; a cross-origin request by refusing an Origin that is not the API's own; and
//! anything else that can connect by the optional bearer token.

use tide::{Middleware, Next, Request, StatusCode};

use super::reply::error;

pub struct Guard {
    port: u16,
    token: Option<String>,
}

impl Guard {
    pub fn new(port: u16, token: Option<String>) -> Guard {
        Guard { port, token }
    }

    /// `localhost` or an IP address, with the bound port (or none, when that is 80).
    fn allowed_host(&self, host: &str) -> bool {
        let (name, port) = match host.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((ip, rest)) => (ip, rest.strip_prefix(':')),
                None => return false,
            },
            None => match host.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (host, None),
            },
        };
        let port_ok = match port {
            Some(port) => port.parse() == Ok(self.port),
            None => self.port == 80,
        };
        port_ok
            && (name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok())
    }

    fn authorized<State>(&self, req: &Request<State>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        if req.method() == tide::http::Method::Get && req.url().path() == "/status" {
            return true;
        }
        let Some(given) = req.header("Authorization").map(|h| h.last().as_str()) else {
            return false;
        };
        // RFC 6750: the scheme name is case-insensitive.
        let Some((scheme, credentials)) = given.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time_eq(credentials.trim().as_bytes(), token.as_bytes())
    }
}

/// Compares without stopping at the first difference, so timing reveals nothing of the
/// token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[tide::utils::async_trait]
impl<State: Clone + Send + Sync + 'static> Middleware<State> for Guard {
    async fn handle(&self, req: Request<State>, next: Next<'_, State>) -> tide::Result {
        // Two Host headers, or two different lengths, leave it open which one a proxy in
        // front of us believed: RFC 9112 says to refuse such a request.
        let values = |name| -> Vec<String> {
            req.header(name)
                .map(|v| v.iter().map(|v| v.as_str().to_owned()).collect())
                .unwrap_or_default()
        };
        let lengths = values("Content-Length");
        if values("Host").len() > 1 || lengths.windows(2).any(|w| w[0] != w[1]) {
            return Ok(error(
                StatusCode::BadRequest,
                "The request has conflicting Host or Content-Length headers.",
            ));
        }
        let host = req.header("Host").map(|h| h.last().as_str().to_owned());
        let Some(host) = host.filter(|h| self.allowed_host(h)) else {
            return Ok(error(
                StatusCode::Forbidden,
                &format!(
                    "Host header not allowed; address the API as 127.0.0.1:{0} or localhost:{0}.",
                    self.port
                ),
            ));
        };
        if let Some(origin) = req.header("Origin").map(|h| h.last().as_str()) {
            if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
                return Ok(error(
                    StatusCode::Forbidden,
                    "Cross-origin requests are not allowed.",
                ));
            }
        }
        if !self.authorized(&req) {
            let mut refused = error(
                StatusCode::Unauthorized,
                "This API requires the header Authorization: Bearer <token>.",
            );
            refused.insert_header("WWW-Authenticate", "Bearer");
            return Ok(refused);
        }
        Ok(next.run(req).await)
    }
}

/// Gives the errors tide answers by itself (unknown route, wrong method, an endpoint's
/// error) the same JSON shape as ours.
pub struct ErrorShape;

#[tide::utils::async_trait]
impl<State: Clone + Send + Sync + 'static> Middleware<State> for ErrorShape {
    async fn handle(&self, req: Request<State>, next: Next<'_, State>) -> tide::Result {
        let response = next.run(req).await;
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error())
            || response.is_empty() != Some(true)
        {
            return Ok(response);
        }
        let message = match status {
            StatusCode::NotFound => "Not found.".to_owned(),
            StatusCode::MethodNotAllowed => "Method not allowed.".to_owned(),
            _ => match response.error() {
                Some(e) => e.to_string(),
                None => status.canonical_reason().to_owned(),
            },
        };
        let mut shaped = error(status, &message);
        if let Some(allow) = response.header("Allow") {
            shaped.insert_header("Allow", allow);
        }
        Ok(shaped)
    }
}
