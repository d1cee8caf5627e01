//! Waiting for a loopback port to accept connections, cheaply.
//!
//! A check that waits 200 ms for a service tries about a hundred times (see [`Backoff`]).
//! Each wake of an async task costs tens of microseconds of thread hand-offs in the
//! runtime, more than the attempt itself: a refused loopback connect is a few system calls
//! (`net::probe`). So the waiting is done here, on one thread that serves every check:
//! it sleeps until the next attempt is due, probes, and answers a check once its port
//! accepts or its time is up. The check's task wakes once, not a hundred times.

use std::net::SocketAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::net::{Probe, probe, reason};
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

static QUEUE: OnceLock<Mutex<mpsc::Sender<Watch>>> = OnceLock::new();

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
    let queue = QUEUE.get_or_init(|| {
        let (sender, watches) = mpsc::channel();
        std::thread::Builder::new()
            .name("rmanager-prober".to_owned())
            .spawn(move || serve(watches))
            .expect("a thread for the prober");
        Mutex::new(sender)
    });
    let sent = queue.lock().unwrap_or_else(|e| e.into_inner()).send(watch);
    let failed = Probed {
        open: false,
        attempts: 0,
        last: Some("the prober thread is gone".to_owned()),
    };
    match sent {
        Ok(()) => answer.recv().await.unwrap_or(failed),
        Err(_) => failed,
    }
}

/// The prober thread: probe what is due, answer what is settled, sleep until the next.
fn serve(incoming: mpsc::Receiver<Watch>) {
    let mut watches: Vec<Watch> = Vec::new();
    loop {
        let now = Instant::now();
        watches.retain_mut(|watch| {
            if watch.reply.is_closed() {
                return false;
            }
            if watch.next > now {
                return true;
            }
            watch.attempts += 1;
            let open = attempt(watch);
            let expired = !open && Instant::now() >= watch.until;
            if open || expired {
                let _ = watch.reply.try_send(Probed {
                    open,
                    attempts: watch.attempts,
                    last: (!open).then(|| words(&watch.last)),
                });
                return false;
            }
            watch.next = (Instant::now() + watch.backoff.next_delay()).min(watch.until);
            true
        });
        let next = watches.iter().map(|w| w.next).min();
        let received = match next {
            None => incoming.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(next) => incoming.recv_timeout(next.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(watch) => watches.push(watch),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One attempt at every address: whether one accepted.
fn attempt(watch: &mut Watch) -> bool {
    watch.last.clear();
    for address in &watch.addresses {
        match probe(address) {
            Probe::Open => return true,
            other => watch.last.push((*address, other)),
        }
    }
    false
}

/// Why the last attempt failed, as [`super::net::connect`] words it.
fn words(last: &[(SocketAddr, Probe)]) -> String {
    let one = |probe: &Probe| match probe {
        Probe::Refused(why) => reason(&(*why).into()),
        Probe::Open | Probe::Unknown => "no answer yet".to_owned(),
    };
    match last {
        [(_, probe)] => one(probe),
        all => all
            .iter()
            .map(|(address, probe)| format!("{address}: {}", one(probe)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}
