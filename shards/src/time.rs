//! Timers on the current shard.

use std::future::Future;
use std::time::Duration;

pub async fn sleep(duration: Duration) {
    glommio::timer::sleep(duration).await
}

/// `Some(output)` if `future` finishes within `duration`, else `None` (and it is dropped).
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(future.await) }, async {
        sleep(duration).await;
        None
    })
    .await
}
