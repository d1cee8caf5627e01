//! The `http` check (pymanager's HttpOkVerifier): a request answered with a passing
//! status.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use surf::{RequestBuilder, Url};

use super::kind::{Kind, Resolution};
use super::net::{loopback_addresses, refused_at_once};
use super::plain_http::{PlainHttp, RawStatus};
use super::verifier::{Backoff, Check, Readiness, Reporter, Timing, Verifier, poll};
use crate::process::ProcessHandle;
use crate::seconds::{Interval, Seconds};
use crate::words::quoted;

/// Passes when a request to `url` answers with a 2xx status, or one of `status`
/// (pymanager's HttpOkVerifier, plus `method` and `status`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOkVerifier {
    pub url: String,
    pub timing: Timing,
    pub headers: Vec<(String, String)>,
    pub method: HttpMethod,
    /// The codes that pass; empty: any 2xx.
    pub status: Vec<u16>,
}

impl Verifier for HttpOkVerifier {
    fn listens_on(&self) -> Option<(String, u16)> {
        let url = Url::parse(&self.url).ok()?;
        let host = url.host_str()?.trim_matches(['[', ']']).to_owned();
        Some((host, url.port_or_known_default()?))
    }

    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            // Validation checked the URL; this guards the library API.
            let url = match Url::parse(&self.url) {
                Ok(url) => url,
                Err(e) => return Readiness::Failed(format!("{}: not a valid URL: {e}", self.url)),
            };
            let client = surf::Client::with_http_client(PlainHttp);
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
    /// One request, and the redirects it answers with; `Err` says why it did not pass.
    /// Redirects are followed here, as pymanager's `requests.get` does, rather than by
    /// surf's middleware, which sends every request twice (once to look for a redirect).
    async fn attempt(
        &self,
        client: &surf::Client,
        method: surf::http::Method,
        url: &Url,
    ) -> Result<(), String> {
        let mut url = url.clone();
        for _ in 0..=REDIRECTS {
            let mut request = RequestBuilder::new(method, url.clone());
            for (name, value) in &self.headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = client.send(request).await.map_err(|e| e.to_string())?;
            let code = response
                .ext::<RawStatus>()
                .map_or(u16::from(response.status()), |raw| raw.0);
            // A redirect is followed, unless its code is one that passes (`"status": 302`).
            let passes = match &self.status[..] {
                [] => (200..300).contains(&code),
                codes => codes.contains(&code),
            };
            let location = response.header("Location").map(|l| l.last().as_str());
            match (passes, code, location) {
                (true, ..) => return Ok(()),
                (false, 301 | 302 | 303 | 307 | 308, Some(location)) => {
                    url = url
                        .join(location)
                        .map_err(|e| format!("status {code} to {}: {e}", quoted(location)))?;
                }
                (false, ..) => return Err(format!("status {code}")),
            }
        }
        Err(format!("more than {REDIRECTS} redirects"))
    }
}

/// The most redirects an attempt follows (as many as `requests`).
const REDIRECTS: usize = 30;

/// Passes when a request to `url` answers with a 2xx status (or one of `status`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpOkArguments {
    /// The plain-http URL to request, such as `http://127.0.0.1:8000/health`; `localhost`
    /// reaches a service on 127.0.0.1 or on ::1. Redirects are followed.
    #[schemars(
        length(min = 1),
        pattern(r"^[hH][tT][tT][pP]://"),
        extend("errorMessage" = "expected a plain http:// URL (rmanager's checks do not speak https)")
    )]
    pub url: String,

    /// Seconds to keep trying before the verifier fails.
    #[serde(default = "Seconds::thirty")]
    pub timeout: Seconds,

    /// The longest wait between attempts, and the limit on each attempt, in seconds.
    #[serde(default = "Interval::one")]
    pub interval: Interval,

    /// Headers to send with each request: names and values of visible ASCII characters.
    #[serde(default)]
    #[schemars(extend(
        "propertyNames" = {"pattern": "^[!-9;-~]+$", "errorMessage": "expected a header name of visible ASCII characters, without ':'"},
        "additionalProperties" = {"type": "string", "pattern": "^[\t -~]*$", "errorMessage": "expected a header value of visible ASCII characters"}
    ))]
    pub headers: IndexMap<String, String>,

    /// The request method.
    #[serde(default)]
    pub method: HttpMethod,

    /// The status code that passes, or a list of them; default: any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "StatusCodes")]
    pub status: Option<StatusCodes>,
}

/// The method of the http check's request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum HttpMethod {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
}

/// One status code, or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(extend("errorMessage" = "expected a status code from 100 to 599, or a list of them"))]
pub enum StatusCodes {
    One(HttpStatus),
    Any(#[schemars(length(min = 1))] Vec<HttpStatus>),
}

/// An HTTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct HttpStatus(#[schemars(range(min = 100, max = 599))] pub u16);

impl Kind for HttpOkVerifier {
    type Arguments = HttpOkArguments;
    const NAME: &'static str = "http";
    const PYMANAGER: Option<(&'static str, &'static str)> =
        Some(("pymutils.http_verifier", "HttpOkVerifier"));
    const SUMMARY: &'static str =
        "passes when a request to `url` answers with a 2xx status (or one of `status`)";
    const NUMBER_ARGUMENTS: &'static [&'static str] = &["timeout", "interval"];

    /// A URL the schema's pattern admits (http://...) but no client could request.
    fn problems(arguments: &Value) -> Vec<(&'static str, String)> {
        let url = arguments.get("url").and_then(Value::as_str);
        match url.map(Url::parse) {
            Some(Err(e)) if url.is_some_and(|u| u.to_ascii_lowercase().starts_with("http://")) => {
                vec![(
                    "/url",
                    format!(
                        "{} is not a valid URL: {e}",
                        quoted(url.unwrap_or_default())
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }

    fn resolve(arguments: &HttpOkArguments, _: &Resolution) -> Self {
        HttpOkVerifier {
            url: arguments.url.clone(),
            timing: Timing::of(arguments.timeout, arguments.interval),
            headers: arguments
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            method: arguments.method,
            status: match &arguments.status {
                None => Vec::new(),
                Some(StatusCodes::One(code)) => vec![code.0],
                Some(StatusCodes::Any(codes)) => codes.iter().map(|c| c.0).collect(),
            },
        }
    }
}
