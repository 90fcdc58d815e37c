//! Tasks on the current shard.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `future` to completion on the current shard, detached.
pub fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    glommio::spawn_local(future).detach();
}

/// Lets other tasks on this shard run if this one has had the CPU long enough (glommio's
/// preempt timer, see `RuntimeConfig::preempt_timer_us`).
pub async fn yield_if_needed() {
    glommio::yield_if_needed().await
}

/// Lets every other ready task on this shard run once.
pub async fn yield_now() {
    glommio::executor().yield_now().await
}

thread_local! {
    /// This shard's time slice (see [`yield_if_slice_used`]), and when it last began.
    static TIME_SLICE: Cell<Duration> =
        const { Cell::new(Duration::from_micros(crate::RuntimeConfig::TIME_SLICE_US_DEFAULT)) };
    static SLICE_BEGAN: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets the current shard's time slice.
pub fn set_time_slice(slice: Duration) {
    TIME_SLICE.with(|s| s.set(slice));
}

/// Once this shard's tasks have run for its time slice since the last time one of them
/// came here, lets the shard collect socket events and run the tasks they wake before
/// this one goes on. Otherwise costs one clock read.
///
/// Why not glommio's preempt timer alone: glommio looks at io_uring again only when that
/// timer fires or no task is ready, so a task that always has work keeps the core's
/// sockets waiting for the whole timer; and the timer is armed on every turn of the
/// executor, so a short one slowed every idle round trip by 10-30% on these machines.
/// A short sleep instead leaves the task queue without this task for a moment, and
/// glommio polls io_uring as soon as nothing else is ready.
pub async fn yield_if_slice_used() {
    let now = Instant::now();
    let began = SLICE_BEGAN.with(|b| match b.get() {
        Some(began) => began,
        None => {
            b.set(Some(now));
            now
        }
    });
    let slice = TIME_SLICE.with(Cell::get);
    if now.saturating_duration_since(began) < slice {
        return;
    }
    glommio::timer::sleep(Duration::from_micros(1)).await;
    SLICE_BEGAN.with(|b| b.set(Some(Instant::now())));
}
