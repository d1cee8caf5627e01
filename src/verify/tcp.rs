use super::net::{connect, loopback_addresses, refused_at_once, resolve};
use super::verifier::{Backoff, Check, Reporter, Timing, Verifier, poll};
use crate::process::ProcessHandle;

/// Passes when a TCP connection to `host`:`port` is accepted.
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
    pub timing: Timing,
}

impl Verifier for TcpCheck {
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
