//! The `tcp` check: a connection that is accepted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{Kind, Resolution};
use super::net::{connect, loopback_addresses, refused_at_once, resolve};
use super::verifier::{Backoff, Check, Reporter, Timing, Verifier, poll};
use crate::process::ProcessHandle;
use crate::seconds::{Interval, Seconds};

/// Passes when a TCP connection to `host`:`port` is accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
    pub timing: Timing,
}

impl Verifier for TcpCheck {
    fn listens_on(&self) -> Option<(String, u16)> {
        Some((self.host.clone(), self.port))
    }

    fn verify<'a>(&'a self, process: &'a ProcessHandle, report: &'a Reporter) -> Check<'a> {
        Box::pin(async move {
            let target = format!("tcp {}:{}", self.host, self.port);
            let text = format!("connect to {}:{}", self.host, self.port);
            let probed = loopback_addresses(&self.host, self.port).await;
            poll(
                process,
                report,
                self.timing,
                Backoff::CHEAP,
                &target,
                &text,
                probed.as_deref(),
                || async {
                    let addresses = resolve(&self.host, self.port).await?;
                    if let Some(why) = refused_at_once(&addresses) {
                        return Err(why);
                    }
                    connect(&addresses).await.map(drop)
                },
            )
            .await
        })
    }
}

/// Passes when a TCP connection to `host`:`port` is accepted.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpArguments {
    /// The host to connect to; `localhost` tries 127.0.0.1 and ::1.
    #[serde(default = "TcpArguments::default_host")]
    #[schemars(length(min = 1))]
    pub host: String,

    /// The port to connect to.
    #[schemars(range(min = 1))]
    pub port: u16,

    /// Seconds to keep trying before the check fails.
    #[serde(default = "Seconds::thirty")]
    pub timeout: Seconds,

    /// The longest wait between attempts, and the limit on each attempt, in seconds.
    #[serde(default = "Interval::one")]
    pub interval: Interval,
}

impl TcpArguments {
    fn default_host() -> String {
        "127.0.0.1".to_owned()
    }
}

impl Kind for TcpCheck {
    type Arguments = TcpArguments;
    const NAME: &'static str = "tcp";
    const SUMMARY: &'static str = "passes when a TCP connection to `host`:`port` is accepted";
    const NUMBER_ARGUMENTS: &'static [&'static str] = &["port", "timeout", "interval"];

    fn resolve(arguments: &TcpArguments, _: &Resolution) -> Self {
        TcpCheck {
            host: arguments.host.clone(),
            port: arguments.port,
            timing: Timing::of(arguments.timeout, arguments.interval),
        }
    }
}
