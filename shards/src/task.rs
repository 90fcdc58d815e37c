//! Tasks on the current shard.

use std::future::Future;

/// Runs `future` to completion on the current shard, detached.
pub fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    glommio::spawn_local(future).detach();
}

/// Lets other tasks on this shard run if this one has had the CPU long enough.
pub async fn yield_if_needed() {
    glommio::yield_if_needed().await
}

/// Lets every other ready task on this shard run once.
pub async fn yield_now() {
    glommio::executor().yield_now().await
}
