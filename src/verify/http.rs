use std::time::{Duration, Instant};

use futures_lite::future;

use surf::http::Method;
use surf::middleware::Redirect;
use surf::{RequestBuilder, Url};

use super::plain_http::PlainHttp;
use super::verifier::{Backoff, Check, Readiness, Reporter, Verifier, seconds};
use crate::process::ExitWatch;

/// Passes when a GET of `url` answers with a 2xx status (pymanager's HttpOkVerifier).
pub struct HttpOkVerifier {
    pub url: String,
    pub timeout: Duration,
    /// The longest wait between attempts, and the limit on each attempt.
    pub interval: Duration,
    pub headers: Vec<(String, String)>,
}

impl HttpOkVerifier {
    /// One request; `Err` says why it did not pass.
    async fn attempt(&self, client: &surf::Client, url: &Url) -> Result<(), String> {
        let mut request = RequestBuilder::new(Method::Get, url.clone());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match async_std::future::timeout(self.interval, client.send(request)).await {
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("status {}", u16::from(response.status()))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}", seconds(self.interval))),
        }
    }
}

impl Verifier for HttpOkVerifier {
    fn verify<'a>(&'a self, process: &'a ExitWatch, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            let ended = async {
                let end = process.wait().await;
                Readiness::Failed(format!("{end} before it became ready"))
            };
            future::race(ended, self.poll(report)).await
        })
    }
}

impl HttpOkVerifier {
    async fn poll(&self, report: &Reporter) -> Readiness {
        // Validation checked the URL; this guards the library API.
        let url = match Url::parse(&self.url) {
            Ok(url) => url,
            Err(e) => return Readiness::Failed(format!("{}: not a valid URL: {e}", self.url)),
        };
        // Redirects are followed, as pymanager's `requests.get` does.
        let client = surf::Client::with_http_client(PlainHttp).with(Redirect::default());
        let started = Instant::now();
        let mut backoff = Backoff::new(self.interval);
        let mut attempts = 0;
        loop {
            attempts += 1;
            report.attempt(&format!(
                "GET {} (limit {})",
                self.url,
                seconds(self.interval)
            ));
            let why = match self.attempt(&client, &url).await {
                Ok(()) => return Readiness::Ready,
                Err(why) => format!("{}: {why}", self.url),
            };
            report.fail(&why);
            let elapsed = started.elapsed();
            if elapsed >= self.timeout {
                return Readiness::Failed(format!(
                    "{why} ({attempts} attempts in {})",
                    seconds(elapsed)
                ));
            }
            async_std::task::sleep(backoff.next_delay().min(self.timeout - elapsed)).await;
        }
    }
}
