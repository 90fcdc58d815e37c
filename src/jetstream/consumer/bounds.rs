//! Every bound of the consumer state machines in one place, with its unit in its name.
//! nats-server leaves most of these unbounded; each says what happens past it.

/// Messages awaiting acknowledgement per consumer at most, whatever `max_ack_pending` says
/// (`-1` means unlimited to nats-server). About 100 bytes each, so 100 MiB at the bound.
/// Past it delivery of new messages pauses exactly as at `max_ack_pending`.
pub const ACK_PENDING_HARD_MAX: usize = 1 << 20;

/// Messages that reached `max_deliver` and are remembered (nats-server keeps them in its
/// redelivered map so interest streams keep them). Past the bound the lowest sequences are
/// forgotten: they then stop counting in `num_redelivered` and stop holding their message
/// in an interest stream.
pub const EXHAUSTED_TRACKED_MAX: usize = 1 << 20;

/// Advisories queued for the driver at most (they are optional, ADR "advisories"). Past
/// it the oldest is dropped and counted in `advisories_dropped`.
pub const ADVISORIES_QUEUED_MAX: usize = 4096;

/// Filter subjects per consumer at most.
pub const FILTERS_MAX: usize = 1024;

/// Steps in a `backoff` list at most.
pub const BACKOFF_STEPS_MAX: usize = 1024;

/// Sequences in the start list of a `last_per_subject` consumer at most (one per subject
/// of the stream). A stream with more subjects cannot get such a consumer.
pub const LAST_PER_SUBJECT_SEQS_MAX: usize = 1 << 22;

/// Waiting pull requests per consumer at most, whatever `max_waiting` says.
pub const WAITING_REQUESTS_HARD_MAX: usize = 1 << 16;

/// nats-server's default `max_waiting`.
pub const MAX_WAITING_DEFAULT: usize = 512;

/// nats-server's `JsFlowControlMaxPending`: bytes a push consumer with flow control may
/// have outstanding at most once its window has grown.
pub const FLOW_CONTROL_PENDING_LIMIT_BYTES: u64 = 32 * 1024 * 1024;

/// The window starts at this fraction of the limit (`setMaxPendingBytes`: `limit / 16`)
/// and doubles with every answered flow-control request.
pub const FLOW_CONTROL_INITIAL_WINDOW_DIVISOR: u64 = 16;

/// Bytes of an encoded consumer state at most (the driver reads no more than this).
/// Enough for `ACK_PENDING_HARD_MAX` pending entries plus the exhausted ones.
pub const SNAPSHOT_BYTES_MAX: usize = 96 * 1024 * 1024;

/// nats-server's default `ack_wait` (30 s), for settings that leave it 0.
pub const ACK_WAIT_DEFAULT_NS: i64 = 30_000_000_000;
