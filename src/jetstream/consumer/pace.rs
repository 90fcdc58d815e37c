//! Pacing of deliveries: `rate_limit_bps` (a token bucket like Go's `rate.Limiter`, which
//! nats-server uses) and `replay_policy: original` (messages spaced as they were stored).
//! Both answer "how long to wait before sending this one"; the driver waits on its timer.

/// nats-server's `rlimit`: `rate_limit_bps / 8` bytes per second, with a burst of the
/// largest message the stream accepts.
#[derive(Debug)]
pub struct RateLimiter {
    bytes_per_second: u64,
    burst_bytes: u64,
    /// Bytes x 1e9 available (negative: owed), refilled at `bytes_per_second` per second.
    tokens_nano: i128,
    updated_ns: i64,
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

impl RateLimiter {
    /// `None` when `rate_limit_bps` is 0 (no limit) or below 8 bits per second.
    pub fn new(rate_limit_bps: u64, burst_bytes: u64, now_ns: i64) -> Option<Self> {
        let bytes_per_second = rate_limit_bps / 8;
        (bytes_per_second > 0).then(|| {
            let burst_bytes = burst_bytes.max(1);
            RateLimiter {
                bytes_per_second,
                burst_bytes,
                tokens_nano: i128::from(burst_bytes) * NANOS_PER_SECOND,
                updated_ns: now_ns,
            }
        })
    }

    /// Reserves `size_bytes` at `now_ns` and returns how long to wait before sending
    /// (`ReserveN` + `DelayFrom`). A message larger than the burst is charged as the burst,
    /// where Go's limiter would refuse it and nats-server would wait forever.
    pub fn reserve(&mut self, size_bytes: u64, now_ns: i64) -> i64 {
        let rate = i128::from(self.bytes_per_second);
        let cap = i128::from(self.burst_bytes) * NANOS_PER_SECOND;
        let elapsed = i128::from(now_ns.saturating_sub(self.updated_ns).max(0));
        self.tokens_nano = self.tokens_nano.saturating_add(elapsed * rate).min(cap);
        self.updated_ns = self.updated_ns.max(now_ns);
        let size = i128::from(size_bytes.min(self.burst_bytes));
        self.tokens_nano = self.tokens_nano.saturating_sub(size * NANOS_PER_SECOND);
        if self.tokens_nano >= 0 {
            return 0;
        }
        // Nanoseconds until the debt is refilled, rounded up.
        let wait = (-self.tokens_nano + rate - 1) / rate;
        i64::try_from(wait).unwrap_or(i64::MAX)
    }
}

/// `replay_policy: original`: while catching up to the stream's last sequence at start,
/// each message waits for the gap between its timestamp and the previous one's
/// (`loopAndGatherMsgs`: gaps of 1 ms or less are not waited for).
#[derive(Debug)]
pub struct ReplayPacer {
    /// Replay ends once the consumer is past this stream sequence.
    until_seq: u64,
    last_ts_ns: Option<i64>,
    active: bool,
}

const REPLAY_MIN_GAP_NS: i64 = 1_000_000;

impl ReplayPacer {
    pub fn new(stream_last_seq: u64) -> Self {
        ReplayPacer {
            until_seq: stream_last_seq,
            last_ts_ns: None,
            active: true,
        }
    }

    /// How long to wait before sending the message stored at `msg_ts_ns` as stream
    /// sequence `stream_seq`; call right before sending it.
    pub fn delay_ns(&mut self, stream_seq: u64, msg_ts_ns: i64) -> i64 {
        let delay = match (self.active, self.last_ts_ns) {
            (true, Some(last)) => msg_ts_ns.saturating_sub(last),
            _ => 0,
        };
        self.last_ts_ns = Some(msg_ts_ns);
        if stream_seq >= self.until_seq {
            self.active = false;
        }
        if delay > REPLAY_MIN_GAP_NS {
            delay
        } else {
            0
        }
    }

    pub fn is_replaying(&self) -> bool {
        self.active
    }
}
