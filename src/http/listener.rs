//! Accepting connections for the control API, within bounds: at most
//! [`MAX_CONNECTIONS`] at once (more are closed at once), and a connection whose reads make
//! no progress for [`IDLE`] is closed, whether it is sending its request head, a body it
//! announced and never sends, or sitting idle between requests. A slow or flooding client
//! can then neither exhaust rmanager's descriptors nor hold the API for long.
//!
//! tide's own `listen` has no such bounds, so this is its accept loop with them: each
//! connection is served by async-h1, as tide does, through the app's `respond`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, Future};

use crate::runtime::Timer;
use crate::runtime::net::{TcpListener, TcpStream};

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// The longest a read may wait for a byte.
pub const IDLE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until the listener fails.
pub async fn serve<State: Clone + Send + Sync + 'static>(
    app: tide::Server<State>,
    listener: TcpListener,
) -> io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors or a connection reset before it was accepted: the next
            // accept may well work.
            Err(e) if is_transient(&e) => {
                crate::runtime::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            log::debug!("control API: {MAX_CONNECTIONS} connections open; closing a new one");
            continue;
        }
        let (app, open) = (app.clone(), open.clone());
        crate::runtime::spawn(async move {
            let (local, peer) = (stream.local_addr().ok(), stream.peer_addr().ok());
            let served = async_h1::accept(Patient::new(stream), |mut request| async {
                request.set_local_addr(local);
                request.set_peer_addr(peer);
                app.respond(request).await
            });
            if let Err(e) = served.await {
                log::debug!("control API connection: {e}");
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::ECONNABORTED)
    )
}

/// A connection whose reads give up after [`IDLE`] without progress. Clones share the
/// timer (async-h1 reads and writes through clones).
#[derive(Clone)]
struct Patient {
    stream: TcpStream,
    waiting: Arc<Mutex<Option<Timer>>>,
}

impl Patient {
    fn new(stream: TcpStream) -> Patient {
        Patient {
            stream,
            waiting: Arc::new(Mutex::new(None)),
        }
    }
}

impl AsyncRead for Patient {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut waiting = this.waiting.lock().unwrap_or_else(|e| e.into_inner());
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(read) => {
                *waiting = None;
                Poll::Ready(read)
            }
            Poll::Pending => {
                let timer = waiting.get_or_insert_with(|| Timer::after(IDLE));
                match Pin::new(timer).poll(cx) {
                    Poll::Ready(_) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing for too long",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Patient {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}
