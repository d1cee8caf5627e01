use surf::middleware::Redirect;
use surf::{RequestBuilder, Url};

use super::net::{loopback_addresses, refused_at_once};
use super::plain_http::{PlainHttp, RawStatus};
use super::verifier::{Backoff, Check, Readiness, Reporter, Timing, Verifier, poll};
use crate::config::model::HttpMethod;
use crate::process::ProcessHandle;

/// Passes when a request to `url` answers with a 2xx status, or one of `status`
/// (pymanager's HttpOkVerifier, plus `method` and `status`).
pub struct HttpOkVerifier {
    pub url: String,
    pub timing: Timing,
    pub headers: Vec<(String, String)>,
    pub method: HttpMethod,
    /// The codes that pass; empty: any 2xx.
    pub status: Vec<u16>,
}

impl Verifier for HttpOkVerifier {
    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            // Validation checked the URL; this guards the library API.
            let url = match Url::parse(&self.url) {
                Ok(url) => url,
                Err(e) => return Readiness::Failed(format!("{}: not a valid URL: {e}", self.url)),
            };
            // Redirects are followed, as pymanager's `requests.get` does.
            let client = surf::Client::with_http_client(PlainHttp).with(Redirect::default());
            let method = match self.method {
                HttpMethod::Get => surf::http::Method::Get,
                HttpMethod::Head => surf::http::Method::Head,
            };
            let attempt_text = format!("{method} {}", self.url);
            // A loopback service is probed first (see net::probe): the request is sent
            // only once something accepts connections.
            let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
            let port = url.port_or_known_default().unwrap_or(80);
            let probed = loopback_addresses(host, port).await;
            poll(
                process,
                report,
                self.timing,
                Backoff::CHEAP,
                &self.url,
                &attempt_text,
                probed.as_deref(),
                || async {
                    if let Some(why) = probed.as_deref().and_then(refused_at_once) {
                        return Err(why);
                    }
                    self.attempt(&client, method, &url).await
                },
            )
            .await
        })
    }
}

impl HttpOkVerifier {
    /// One request; `Err` says why it did not pass.
    async fn attempt(
        &self,
        client: &surf::Client,
        method: surf::http::Method,
        url: &Url,
    ) -> Result<(), String> {
        let mut request = RequestBuilder::new(method, url.clone());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = client.send(request).await.map_err(|e| e.to_string())?;
        let code = response
            .ext::<RawStatus>()
            .map_or(u16::from(response.status()), |raw| raw.0);
        let passes = match &self.status[..] {
            [] => (200..300).contains(&code),
            codes => codes.contains(&code),
        };
        if passes {
            Ok(())
        } else {
            Err(format!("status {code}"))
        }
    }
}
