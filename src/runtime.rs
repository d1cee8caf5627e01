//! The one place that names the async runtime (async-std, on async-io): tasks, timers,
//! channels, sockets, files and signals. async-std is discontinued upstream in favour of
//! smol, which it is built on and which offers each of these under the same names; moving
//! is a change to this file.

use std::future::Future;
use std::time::Duration;

pub use async_io::Timer;
pub use async_std::task::JoinHandle;
pub use async_std::{channel, fs, io, net};
pub use signal_hook_async_std as signals;

/// Runs `task` in the background, detached: it must report its own outcome. A panic in it
/// (a bug) is said, not lost.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    use futures_lite::FutureExt;
    async_std::task::spawn(async move {
        if let Err(panic) = std::panic::AssertUnwindSafe(task).catch_unwind().await {
            crate::say!(
                "internal error in a background task: {}",
                panic_text(&*panic)
            );
        }
    });
}

/// The words of a panic's payload.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Runs `task` in the background; its handle awaits its output.
pub fn spawn_joinable<T: Send + 'static>(
    task: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<T> {
    async_std::task::spawn(task)
}

pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await;
}

/// `future`'s output, or None when `limit` passed first.
pub async fn timeout<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    async_std::future::timeout(limit, future).await.ok()
}

/// Runs a future to completion on the current thread: the command line's entry point.
///
/// The command line runs its tasks on one thread (ASYNC_STD_THREAD_COUNT still decides
/// when set): rmanager's tasks wait far more than they compute, and with a second thread
/// most hand-offs wake it for nothing, each wake-up tens of microseconds of CPU (a fifth
/// of the manager's CPU while 50 services start one after another). A library leaves its
/// host's runtime as the host configured it.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_global_executor::init_with_config(
        async_global_executor::GlobalExecutorConfig::default()
            .with_env_var("ASYNC_STD_THREAD_COUNT")
            .with_min_threads(1)
            .with_thread_name_fn(|| "async-std/runtime".to_owned()),
    );
    async_std::task::block_on(future)
}
