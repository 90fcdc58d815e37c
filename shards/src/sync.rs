//! Shard-local wake-up primitives. Single-threaded by construction (`!Send`), so plain
//! `Cell`/`RefCell` suffice; no atomics on the hot path.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A one-consumer wake-up flag: `set` records that there is work and wakes the waiting
/// task; `wait` returns at once if work was recorded since the last `wait`. Many `set`s
/// before one `wait` coalesce into a single wake-up, which is what batching wants.
#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait { signal: self }
    }
}

pub struct SignalWait<'a> {
    signal: &'a Signal,
}

impl Future for SignalWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.raised.replace(false) {
            return Poll::Ready(());
        }
        *self.signal.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Many waiters, woken together: each waiter re-checks its own condition after a wake-up.
/// Used where several tasks wait for shared progress (ring space, acknowledgements).
#[derive(Default)]
pub struct WaitQueue {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl WaitQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn wake_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Completes after the next `wake_all`.
    pub fn wait(&self) -> QueueWait<'_> {
        QueueWait {
            queue: self,
            generation: self.generation.get(),
        }
    }

    /// Waits until `ready()` holds, re-checking after every wake-up.
    pub async fn wait_until(&self, mut ready: impl FnMut() -> bool) {
        while !ready() {
            self.wait().await;
        }
    }
}

pub struct QueueWait<'a> {
    queue: &'a WaitQueue,
    generation: u64,
}

impl Future for QueueWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.queue.generation.get() != self.generation {
            return Poll::Ready(());
        }
        // A spurious re-poll adds its waker again; all are drained by the next wake_all,
        // so the list stays bounded by the polls between two wake-ups.
        self.queue.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}
