//! Connecting to a service, for the http and tcp checks: every address a host resolves to
//! is tried, and `localhost` is both loopbacks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::runtime::net::{TcpStream, ToSocketAddrs};

use super::diag;
use super::verifier::Verifier;

/// The addresses to try for `host` (a name or an IP address, without brackets).
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![(ip, port).into()]);
    }
    // RFC 6761: `localhost` is loopback, whatever /etc/hosts says; many hosts files map it
    // to 127.0.0.1 only, while the service may listen on ::1.
    if is_localhost(host) {
        return Ok(vec![
            (Ipv4Addr::LOCALHOST, port).into(),
            (Ipv6Addr::LOCALHOST, port).into(),
        ]);
    }
    Ok((host, port)
        .to_socket_addrs()
        .await
        .map_err(|e| format!("cannot resolve {host}: {}", reason(&e)))?
        .collect())
}

fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Connects to the first address that accepts; the error names every address tried.
pub async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut failures = Vec::new();
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => failures.push((*address, reason(&e))),
        }
    }
    if failures.is_empty() {
        return Err("the host name resolves to no address".to_owned());
    }
    Err(per_address(&failures))
}

/// Why each address failed, as a message says it: the address is news only when there
/// were several.
pub fn per_address(failures: &[(SocketAddr, String)]) -> String {
    match failures {
        [(_, why)] => why.clone(),
        all => all
            .iter()
            .map(|(address, why)| format!("{address}: {why}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// An I/O error in the words of a message: "connection refused", not
/// "Connection refused (os error 111)".
pub fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_owned(),
    }
}

/// The addresses of `host`:`port` when it is loopback (an address, or `localhost`), which
/// [`probe`] can settle at once; None otherwise.
pub async fn loopback_addresses(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    let loopback = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) || is_localhost(host);
    match loopback {
        true => resolve(host, port).await.ok(),
        false => None,
    }
}

/// What already listened on the loopback port a tcp or http check tries, before its
/// process started.
#[derive(Debug)]
pub struct Occupied {
    /// `host:port`, for messages.
    pub target: String,
    port: u16,
    /// The listening sockets then (their inodes).
    sockets: Vec<u64>,
    /// Who held them, as `name (pid N)`.
    pub holder: String,
}

impl Occupied {
    /// When every socket that listens on the port now listened before the process
    /// started, what answered the check was not the process: who did.
    pub fn stale_answer(&self) -> Option<&str> {
        let now = crate::ports::listening_sockets(self.port);
        now.iter()
            .all(|socket| self.sockets.contains(socket))
            .then_some(self.holder.as_str())
    }
}

/// What accepts connections on the loopback `host:port` a tcp or http check tries, before
/// its process has started.
pub async fn already_answering(check: &dyn Verifier) -> Option<Occupied> {
    let (host, port) = check.listens_on()?;
    let addresses = loopback_addresses(&host, port).await?;
    if !addresses
        .iter()
        .any(|address| matches!(probe(address), Probe::Open))
    {
        return None;
    }
    let sockets = crate::ports::listening_sockets(port);
    Some(Occupied {
        target: match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        },
        port,
        holder: crate::ports::holder_of(&sockets).unwrap_or_else(|| "another process".into()),
        sockets,
    })
}

/// Whether something listens at an address, as far as can be told at once.
pub enum Probe {
    /// Something accepted the connection.
    Open,
    /// Nothing listens, for this reason (put in words only when it is shown).
    Refused(rustix::io::Errno),
    /// Not known without waiting (not loopback, or the kernel is still connecting).
    Unknown,
}

/// Looks, without waiting, whether something listens at a loopback address: in the
/// kernel's table of listeners where it can ([`diag`]), else by connecting. On loopback
/// the kernel has settled a connect by the time the call returns (accepted or refused; a
/// poll with no timeout reads which). Either way a check learns "not yet" for a few system
/// calls, without the reactor, a timer or an HTTP client: most attempts cost only this.
pub fn probe(address: &SocketAddr) -> Probe {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    if !address.ip().is_loopback() {
        return Probe::Unknown;
    }
    match diag::listening(address) {
        Some(true) => return Probe::Open,
        // What a connect would have said.
        Some(false) => return Probe::Refused(rustix::io::Errno::CONNREFUSED),
        None => {}
    }
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let Ok(socket) = rustix::net::socket_with(family, SocketType::STREAM, flags, None) else {
        return Probe::Unknown;
    };
    match rustix::net::connect(&socket, address) {
        Ok(()) => Probe::Open,
        Err(rustix::io::Errno::INPROGRESS) => {
            use rustix::event::{PollFd, PollFlags, poll};
            let mut fds = [PollFd::new(&socket, PollFlags::OUT)];
            match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
                Ok(1) => match rustix::net::sockopt::socket_error(&socket) {
                    Ok(Ok(())) => Probe::Open,
                    Ok(Err(error)) => Probe::Refused(error),
                    Err(_) => Probe::Unknown,
                },
                _ => Probe::Unknown,
            }
        }
        Err(error) => Probe::Refused(error),
    }
}

/// Refused at once by every address, with the words of [`connect`]'s error; None when a
/// real connection attempt is needed.
pub fn refused_at_once(addresses: &[SocketAddr]) -> Option<String> {
    let mut failures = Vec::new();
    for address in addresses {
        match probe(address) {
            Probe::Refused(why) => failures.push((*address, reason(&why.into()))),
            Probe::Open | Probe::Unknown => return None,
        }
    }
    (!failures.is_empty()).then(|| per_address(&failures))
}
