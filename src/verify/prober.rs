//! Waiting for a loopback port to accept connections, cheaply.
//!
//! A check that waits 200 ms for a service tries about a hundred times (see [`Backoff`]).
//! Each wake of an async task costs tens of microseconds of thread hand-offs in the
//! runtime, and each TCP connect creates and tears down a socket. So the waiting is done
//! here, on one thread that serves every check: it sleeps until the next attempt is due,
//! asks the kernel whether something listens on the port ([`probe`]), and answers a check
//! once its port accepts or its time is up. The check's task wakes once, not a hundred
//! times. Each failed attempt is still an event, when events are heard.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::net::{Probe, per_address, probe, reason};
use super::verifier::Backoff;
use crate::events::{self, Event};
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
    /// The process whose check this is, and what it tries (`tcp 127.0.0.1:5432`): for
    /// the events of failed attempts.
    process: String,
    target: String,
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
/// until one accepts or `until` passes, for `process`'s check of `target`. Dropping the
/// future ends the probing.
pub async fn until_open(
    process: &str,
    target: &str,
    addresses: &[SocketAddr],
    backoff: Backoff,
    until: Instant,
) -> Probed {
    let (reply, answer) = channel::bounded(1);
    let now = Instant::now();
    let watch = Watch {
        process: process.to_owned(),
        target: target.to_owned(),
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
            let open = attempt(watch);
            if !open && events::attempts_wanted() {
                events::emit(Event::CheckAttemptFailed {
                    process: &watch.process,
                    reason: &format!("{}: {}", watch.target, words(&watch.last)),
                });
            }
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
