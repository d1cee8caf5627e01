//! The one place that names the async runtime (async-std, on async-io): spawning a task,
//! sleeping, blocking on a future. async-std is discontinued upstream in favour of smol,
//! which it is built on; code that goes through this module moves with a change here.

use std::future::Future;
use std::time::Duration;

/// Runs `task` in the background; it must not need to be awaited.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    async_std::task::spawn(task);
}

pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await;
}

/// Runs a future to completion on the current thread: the command line's entry point.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_std::task::block_on(future)
}
