//! Waiting for a loopback port to accept connections, cheaply.
//!
//! A check that waits 200 ms for a service tries about a hundred times (see [`Backoff`]).
//! Each wake of an async task costs tens of microseconds of thread hand-offs in the
//! runtime, and each TCP connect creates and tears down a socket. So the waiting is done
//! here, on one thread that serves every check: it sleeps until the next attempt is due,
//! asks the kernel whether something listens on the port (one `sock_diag` lookup on a
//! netlink socket kept open, a few microseconds; a non-blocking connect where that is not
//! available), and answers a check once its port accepts or its time is up. The check's
//! task wakes once, not a hundred times.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::net::{Probe, per_address, probe, reason};
use super::verifier::Backoff;
use crate::runtime::channel;

/// How the waiting ended.
#[derive(Debug)]
pub struct Probed {
    /// Whether something accepts connections now.
    pub open: bool,
    pub attempts: u32,
    /// Why the last attempt failed, when one did.
    pub last: Option<String>,
}

struct Watch {
    addresses: Vec<SocketAddr>,
    backoff: Backoff,
    until: Instant,
    next: Instant,
    attempts: u32,
    /// What each address said last time (worded only for the answer).
    last: Vec<(SocketAddr, Probe)>,
    reply: channel::Sender<Probed>,
}

/// Watches handed to the prober thread, which is woken (unparked) for each: a park with a
/// timeout is the cheapest sleep there is, and the thread sleeps thousands of times.
static INCOMING: Mutex<Vec<Watch>> = Mutex::new(Vec::new());
static THREAD: OnceLock<std::thread::Thread> = OnceLock::new();

/// Probes `addresses` (loopback ones) at once and then after each of `backoff`'s waits,
/// until one accepts or `until` passes. Dropping the future ends the probing.
pub async fn until_open(addresses: &[SocketAddr], backoff: Backoff, until: Instant) -> Probed {
    let (reply, answer) = channel::bounded(1);
    let now = Instant::now();
    let watch = Watch {
        addresses: addresses.to_vec(),
        backoff,
        until,
        next: now,
        attempts: 0,
        last: Vec::new(),
        reply,
    };
    INCOMING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(watch);
    let thread = THREAD.get_or_init(|| {
        std::thread::Builder::new()
            .name("rmanager-prober".to_owned())
            .spawn(serve)
            .expect("a thread for the prober")
            .thread()
            .clone()
    });
    thread.unpark();
    answer.recv().await.unwrap_or(Probed {
        open: false,
        attempts: 0,
        last: Some("the prober thread is gone".to_owned()),
    })
}

/// The prober thread: probe what is due, answer what is settled, sleep until the next.
fn serve() {
    let diag = Diag::open()
        .inspect_err(|e| log::debug!("no sock_diag ({e}); checks probe by connecting"))
        .ok();
    let mut watches: Vec<Watch> = Vec::new();
    loop {
        watches.append(&mut INCOMING.lock().unwrap_or_else(|e| e.into_inner()));
        let now = Instant::now();
        watches.retain_mut(|watch| {
            if watch.reply.is_closed() {
                return false;
            }
            if watch.next > now {
                return true;
            }
            watch.attempts += 1;
            let open = attempt(watch, diag.as_ref());
            // `now` throughout: an attempt takes microseconds, and every clock read counts
            // when there are thousands of them.
            let expired = !open && now >= watch.until;
            if open || expired {
                let _ = watch.reply.try_send(Probed {
                    open,
                    attempts: watch.attempts,
                    last: (!open).then(|| words(&watch.last)),
                });
                return false;
            }
            watch.next = (now + watch.backoff.delay_at(now)).min(watch.until);
            true
        });
        // Woken early by a new watch (or spuriously): the loop looks again.
        match watches.iter().map(|w| w.next).min() {
            None => std::thread::park(),
            Some(next) => std::thread::park_timeout(next.saturating_duration_since(now)),
        }
    }
}

/// One attempt at every address: whether one accepts connections.
fn attempt(watch: &mut Watch, diag: Option<&Diag>) -> bool {
    watch.last.clear();
    for address in &watch.addresses {
        let answer = match diag.and_then(|diag| diag.listening(address)) {
            Some(true) => Probe::Open,
            // What a connect would have said.
            Some(false) => Probe::Refused(rustix::io::Errno::CONNREFUSED),
            None => probe(address),
        };
        match answer {
            Probe::Open => return true,
            other => watch.last.push((*address, other)),
        }
    }
    false
}

/// Why the last attempt failed, as [`super::net::connect`] words it.
fn words(last: &[(SocketAddr, Probe)]) -> String {
    let failures: Vec<(SocketAddr, String)> = last
        .iter()
        .map(|(address, probe)| {
            let why = match probe {
                Probe::Refused(why) => reason(&(*why).into()),
                Probe::Open | Probe::Unknown => "no answer yet".to_owned(),
            };
            (*address, why)
        })
        .collect();
    per_address(&failures)
}

/// A netlink socket for `sock_diag` (what `ss` uses): whether a TCP listener takes
/// connections at an address, looked up in the kernel's table without making a connection.
struct Diag(OwnedFd);

/// `SOCK_DIAG_BY_FAMILY`, the request and its answer; `NLMSG_ERROR`, the answer when
/// nothing matches.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const TCP_LISTEN: u32 = 10;

impl Diag {
    fn open() -> std::io::Result<Diag> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
        let socket = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )?;
        Ok(Diag(socket))
    }

    /// Whether a listener takes connections at `address`: an exact lookup (no dump), as
    /// the kernel routes a connection to it, wildcard and dual-stack listeners included.
    /// None when the kernel cannot tell (then a connect decides).
    fn listening(&self, address: &SocketAddr) -> Option<bool> {
        // nlmsghdr (16 bytes), then inet_diag_req_v2 (56 bytes).
        let mut request = [0u8; 72];
        request[0..4].copy_from_slice(&72u32.to_ne_bytes());
        request[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        let (family, source): (u8, [u8; 16]) = match address {
            SocketAddr::V4(v4) => {
                let mut source = [0; 16];
                source[..4].copy_from_slice(&v4.ip().octets());
                (libc::AF_INET as u8, source)
            }
            SocketAddr::V6(v6) => (libc::AF_INET6 as u8, v6.ip().octets()),
        };
        request[16] = family;
        request[17] = libc::IPPROTO_TCP as u8;
        request[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        // inet_diag_sockid: sport, dport (big-endian), src, dst, interface, cookie.
        request[24..26].copy_from_slice(&address.port().to_be_bytes());
        request[28..44].copy_from_slice(&source);
        request[64..72].copy_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
        rustix::net::send(&self.0, &request, rustix::net::SendFlags::empty()).ok()?;
        let mut answer = [0u8; 512];
        let (n, _) =
            rustix::net::recv(&self.0, &mut answer, rustix::net::RecvFlags::empty()).ok()?;
        if n < 20 {
            return None;
        }
        match u16::from_ne_bytes([answer[4], answer[5]]) {
            SOCK_DIAG_BY_FAMILY => Some(true),
            NLMSG_ERROR => {
                let error = -i32::from_ne_bytes([answer[16], answer[17], answer[18], answer[19]]);
                (error == libc::ENOENT).then_some(false)
            }
            _ => None,
        }
    }
}
