//! Requests from outside the cores (signals, `--signal`), seen by every core's control loop.
//! Plain atomics polled every `CONTROL_POLL_MS`: a signal handler cannot wake a glommio
//! executor, and a crossbeam channel would block one.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct Control {
    shutdown: AtomicBool,
    lame_duck: AtomicBool,
}

impl Control {
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub fn request_lame_duck(&self) {
        self.lame_duck.store(true, Ordering::Release);
    }

    pub fn lame_duck_requested(&self) -> bool {
        self.lame_duck.load(Ordering::Acquire)
    }
}
