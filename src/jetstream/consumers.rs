//! A stream's consumers, driven by the stream's writer task (see [`super::stream`]).
//!
//! The decisions are in the pure [`super::consumer`] state machines (what to deliver,
//! acks, redelivery, pull requests, heartbeats, flow control); this module moves bytes:
//! it reads messages from the store, publishes them with their JSAck reply subjects, sends
//! the status messages, answers the consumer API, and keeps durable consumers' state on
//! disk. Everything runs inside the one task that also writes the stream, so a consumer
//! sees exactly what is durable (deliveries start after the batch's fsync) and acks,
//! deletes and appends are applied in one order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::api::{self, ApiResponse, ConsumerConfig, JsError};
use super::consumer::{
    self, AckKind, ConsumerSettings, ConsumerState, MessageSource, PullAction, PushSettings,
    PushState, RateLimiter, ReplayPacer, StreamBounds, WaitingQueue,
};
use super::now_ns;
use super::store::MsgStore;

/// Messages one consumer sends per turn of the writer loop before others get a turn (the
/// loop comes back at once while any consumer has more to send).
pub const DELIVERIES_PER_TURN: usize = 512;
/// A durable consumer's state is written at most this often while it changes (and on
/// shutdown and delete). Acks lost to a crash in between only cause redeliveries.
pub const STATE_PERSIST_INTERVAL_NS: i64 = 200_000_000;
/// How often an ephemeral consumer checks whether it has been without interest for its
/// `inactive_threshold`.
const INACTIVITY_CHECK_NS: i64 = 1_000_000_000;

pub const CONSUMERS_DIR: &str = "consumers";
const META_FILE: &str = "meta.json";
const STATE_FILE: &str = "state";
/// The state saved before the current one: what a damaged `state` falls back to.
const STATE_PREV_FILE: &str = "state.prev";

/// The store seen through a consumer's eyes.
pub struct StoreSource<'a>(pub &'a MsgStore);

impl MessageSource for StoreSource<'_> {
    fn bounds(&self) -> StreamBounds {
        let state = self.0.state();
        StreamBounds {
            first_seq: state.first_seq,
            last_seq: state.last_seq,
            messages: state.messages,
        }
    }

    fn next_matching(&self, start_seq: u64, filter: &[u8]) -> Option<u64> {
        self.0.next_for(
            start_seq.max(1),
            if filter.is_empty() { b">" } else { filter },
        )
    }

    fn last_matching(&self, filter: &[u8]) -> Option<u64> {
        self.0
            .last_for(if filter.is_empty() { b">" } else { filter })
    }

    fn num_matching_from(&self, from_seq: u64, filter: &[u8]) -> u64 {
        self.0.num_pending(
            from_seq.max(1),
            if filter.is_empty() { b">" } else { filter },
        )
    }

    fn last_seqs_per_subject(&self, filter: &[u8], out: &mut Vec<u64>) {
        self.0
            .last_seqs_per_subject(if filter.is_empty() { b">" } else { filter }, out)
    }

    fn first_seq_at_or_after_time(&self, ts_ns: i64) -> u64 {
        self.0.first_seq_at_or_after_time(ts_ns)
    }

    fn subject(&self, seq: u64) -> Option<Bytes> {
        self.0.get(seq).map(|view| view.subject)
    }

    fn contains(&self, seq: u64) -> bool {
        self.0.get(seq).is_some()
    }
}

/// What `meta.json` of a durable consumer holds.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ConsumerMeta {
    pub name: String,
    pub config: ConsumerConfig,
    pub created: i64,
}

pub enum Mode {
    Push {
        push: PushState,
        deliver_subject: Bytes,
    },
    Pull {
        queue: WaitingQueue,
    },
}

pub struct Consumer {
    pub name: String,
    pub config: ConsumerConfig,
    pub created_ns: i64,
    pub state: ConsumerState,
    pub mode: Mode,
    /// `Some` for a durable consumer of a file stream: where its state lives.
    pub dir: Option<PathBuf>,
    /// The state changed since it was last written.
    pub dirty: bool,
    pub persisted_ns: i64,
    /// Subscriptions of the stream's internal client for this consumer (acks, flow control).
    pub sids: Vec<Bytes>,
    /// When the consumer last had interest (push: a subscriber on the deliver subject;
    /// pull: a waiting request), for `inactive_threshold`.
    pub active_ns: i64,
    pub next_inactivity_check_ns: i64,
    /// Set when the consumer wants the writer loop to come back at once.
    pub more: bool,
    /// An ack asked for a reply (double ack): the state must be on disk before the
    /// writer sends that reply (see `Stream::sync_acked_consumers`).
    pub sync_requested: bool,
    /// Reply subjects of those acks, sent once the state is written.
    pub sync_replies: Vec<Bytes>,
    /// `replay_policy: original`: spaces the catch-up deliveries as they were stored.
    pub replay: Option<ReplayPacer>,
    /// `rate_limit_bps` of a push consumer.
    pub rate: Option<RateLimiter>,
    /// No delivery before this (pacing); the writer's timer wakes the consumer then.
    pub paced_until_ns: i64,
    /// The stream sequence whose bytes the rate limiter already charged while it was held
    /// back: it goes out without paying again.
    pub rate_paid_seq: Option<u64>,
    /// `sample_freq` in percent: this share of acks is published as an ack metric.
    pub sample_percent: i64,
}

/// The state machines' settings from an API config.
pub fn settings_of(config: &ConsumerConfig, retention: &api::RetentionPolicy) -> ConsumerSettings {
    use api::consumer_config::{AckPolicy as A, DeliverPolicy as D, ReplayPolicy as R};
    let ack_policy = match config.ack_policy {
        A::None => consumer::AckPolicy::None,
        A::All => consumer::AckPolicy::All,
        _ => consumer::AckPolicy::Explicit,
    };
    let mut settings = ConsumerSettings::new(ack_policy);
    settings.deliver_policy = match config.deliver_policy {
        D::All => consumer::DeliverPolicy::All,
        D::Last => consumer::DeliverPolicy::Last,
        D::New => consumer::DeliverPolicy::New,
        D::ByStartSequence => consumer::DeliverPolicy::ByStartSequence(config.opt_start_seq),
        D::ByStartTime => consumer::DeliverPolicy::ByStartTime(
            config
                .opt_start_time
                .map(|t| t.unix_nanos_saturating())
                .unwrap_or(0),
        ),
        D::LastPerSubject => consumer::DeliverPolicy::LastPerSubject,
    };
    settings.ack_wait_ns = config.ack_wait_nanos;
    settings.max_deliver = config.max_deliver;
    settings.backoff_ns = config.backoff_nanos.clone();
    settings.max_ack_pending = config.max_ack_pending;
    settings.filters = config
        .filters()
        .into_iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect();
    settings.replay_policy = match config.replay_policy {
        R::Original => consumer::ReplayPolicy::Original,
        _ => consumer::ReplayPolicy::Instant,
    };
    settings.retention = match retention {
        api::RetentionPolicy::Interest => consumer::Retention::Interest,
        api::RetentionPolicy::WorkQueue => consumer::Retention::WorkQueue,
        _ => consumer::Retention::Limits,
    };
    settings
}

pub fn pull_limits(config: &ConsumerConfig) -> consumer::PullLimits {
    consumer::PullLimits {
        max_waiting: usize::try_from(config.max_waiting)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(consumer::PullLimits::default().max_waiting),
        max_batch: config.max_request_batch,
        max_expires_ns: config.max_request_expires_nanos,
        max_bytes: config.max_request_bytes,
    }
}

impl Consumer {
    pub fn new(
        name: String,
        config: ConsumerConfig,
        created_ns: i64,
        state: ConsumerState,
        stream: &str,
        dir: Option<PathBuf>,
    ) -> Consumer {
        let now = now_ns();
        let sample_percent = config.sample_percent();
        let mode = match config.deliver_subject.as_str() {
            "" => Mode::Pull {
                queue: WaitingQueue::new(pull_limits(&config)),
            },
            subject => Mode::Push {
                push: PushState::new(
                    PushSettings {
                        heartbeat_ns: config.idle_heartbeat_nanos,
                        flow_control: config.flow_control,
                    },
                    Bytes::from(format!("$JS.FC.{stream}.{name}.")),
                    now as u64,
                    now,
                ),
                deliver_subject: Bytes::copy_from_slice(subject.as_bytes()),
            },
        };
        Consumer {
            name,
            config,
            created_ns,
            state,
            mode,
            dir,
            dirty: true,
            persisted_ns: 0,
            sids: Vec::new(),
            active_ns: now,
            next_inactivity_check_ns: now + INACTIVITY_CHECK_NS,
            more: false,
            sync_requested: false,
            sync_replies: Vec::new(),
            replay: None,
            rate: None,
            paced_until_ns: 0,
            rate_paid_seq: None,
            sample_percent,
        }
    }

    /// Sets up `replay_policy: original` (replaying up to `stream_last_seq`, the stream's
    /// last message now) and `rate_limit_bps` (push only, as nats-server: its burst is
    /// the largest message the stream takes, `burst_bytes`).
    pub fn with_pacing(mut self, stream_last_seq: u64, burst_bytes: u64) -> Consumer {
        let now = now_ns();
        if self.config.replay_policy == api::consumer_config::ReplayPolicy::Original {
            self.replay = Some(ReplayPacer::new(stream_last_seq));
        }
        if matches!(self.mode, Mode::Push { .. }) {
            self.rate = RateLimiter::new(self.config.rate_limit_bps, burst_bytes, now);
        }
        self
    }

    /// Whether this ack is sampled (nats-server's `shouldSample`: `rand.Int31n(100) <=
    /// sfreq`, so 1% samples 2 in 100).
    pub fn should_sample(&self) -> bool {
        use rand::Rng;
        match self.sample_percent {
            p if p <= 0 => false,
            p if p >= 100 => true,
            p => rand::thread_rng().gen_range(0..100) <= p,
        }
    }

    /// How long to hold back the message of stream sequence `seq`, stored at `ts_ns`,
    /// of `size_bytes` (`replay_policy: original`, then `rate_limit_bps`); 0: send now.
    pub fn pace_ns(&mut self, seq: u64, ts_ns: i64, size_bytes: u64, now: i64) -> i64 {
        let replay = self
            .replay
            .as_mut()
            .filter(|pacer| pacer.is_replaying())
            .map_or(0, |pacer| pacer.delay_ns(seq, ts_ns));
        if replay > 0 {
            return replay;
        }
        if self.rate_paid_seq.take() == Some(seq) {
            return 0;
        }
        let wait = self
            .rate
            .as_mut()
            .map_or(0, |rate| rate.reserve(size_bytes, now));
        if wait > 0 {
            self.rate_paid_seq = Some(seq);
        }
        wait
    }

    pub fn is_durable(&self) -> bool {
        self.config.is_durable()
    }

    pub fn next_deadline_ns(&self) -> Option<i64> {
        let mode = match &self.mode {
            Mode::Push { push, .. } => push.next_deadline_ns(),
            Mode::Pull { queue } => queue.next_deadline_ns(),
        };
        let mut deadline = [self.state.next_deadline_ns(), mode]
            .into_iter()
            .flatten()
            .min();
        if self.dirty && self.dir.is_some() {
            let at = self.persisted_ns + STATE_PERSIST_INTERVAL_NS;
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        if !self.is_durable() {
            let at = self.next_inactivity_check_ns;
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        if self.paced_until_ns > 0 {
            let at = self.paced_until_ns;
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        // Wake when a pause ends (`pause_until` is in Unix nanoseconds, as `now_ns`).
        if let Some(at) = self.pause_until_ns(now_ns()) {
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        deadline
    }

    pub fn info(
        &self,
        stream: &str,
        source: &StoreSource<'_>,
        push_bound: bool,
    ) -> api::ConsumerInfo {
        let num_waiting = match &self.mode {
            Mode::Pull { queue } => queue.len(),
            Mode::Push { .. } => 0,
        };
        let numbers = self.state.info(source, num_waiting);
        let active = |ns: i64| (ns > 0).then(|| api::GoTime::from_unix_nanos(ns));
        let mut info = api::ConsumerInfo {
            stream_name: stream.to_string(),
            name: self.name.clone(),
            created: api::GoTime::from_unix_nanos(self.created_ns),
            config: self.config.clone(),
            delivered: api::consumer_info::SequenceInfo {
                consumer_seq: numbers.delivered.consumer_seq,
                stream_seq: numbers.delivered.stream_seq,
                last_active: active(numbers.last_delivered_ns),
            },
            ack_floor: api::consumer_info::SequenceInfo {
                consumer_seq: numbers.ack_floor.consumer_seq,
                stream_seq: numbers.ack_floor.stream_seq,
                last_active: active(numbers.last_ack_ns),
            },
            num_ack_pending: numbers.num_ack_pending as i64,
            num_redelivered: numbers.num_redelivered as i64,
            num_waiting: numbers.num_waiting as i64,
            num_pending: numbers.num_pending,
            push_bound,
            ts: api::GoTime::from_unix_nanos(now_ns()),
            ..Default::default()
        };
        info.set_pause_state(now_ns());
        info
    }

    /// Paused (2.11's `pause_until`) at `now`: nothing is delivered until then.
    pub fn pause_until_ns(&self, now: i64) -> Option<i64> {
        self.config
            .pause_until
            .map(|until| until.unix_nanos_saturating())
            .filter(|&until| until > now)
    }

    /// Writes the state file if it changed and is due (or `force`). False when writing
    /// failed (the state on disk is older than the one in memory).
    pub fn persist(&mut self, now: i64, force: bool) -> bool {
        let Some(dir) = &self.dir else { return true };
        if !self.dirty || (!force && now < self.persisted_ns + STATE_PERSIST_INTERVAL_NS) {
            return true;
        }
        let mut bytes = Vec::new();
        if self.state.snapshot().encode(&mut bytes).is_err() {
            tracing::error!(
                "JetStream: consumer '{}': state too large to save",
                self.name
            );
            return false;
        }
        // The current state becomes the previous one (a damaged state file then costs
        // only the acks since that one, not the consumer's whole progress). The rename
        // is made durable by the directory fsync of the write below; a crash between the
        // two leaves no `state` but a whole `state.prev`, which the loader takes.
        match std::fs::rename(dir.join(STATE_FILE), dir.join(STATE_PREV_FILE)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                tracing::error!(
                    "JetStream: consumer '{}': keeping its previous state: {error}",
                    self.name
                );
                return false;
            }
            _ => {}
        }
        match shards::file::write_file_atomic(&dir.join(STATE_FILE), &bytes) {
            Ok(()) => {
                self.dirty = false;
                self.persisted_ns = now;
                true
            }
            Err(error) => {
                tracing::error!(
                    "JetStream: consumer '{}': saving its state: {error}",
                    self.name
                );
                false
            }
        }
    }
}

/// Saves a durable consumer's config (once, at create and update).
pub fn write_meta(dir: &Path, meta: &ConsumerMeta) -> std::io::Result<()> {
    shards::file::create_dir_all_durable(dir)?;
    let bytes = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
    shards::file::write_file_atomic(&dir.join(META_FILE), &super::sealed::seal(&bytes))
}

/// The durable consumers saved under a stream's directory: config, creation time and the
/// last saved state (if any and readable).
pub fn load_saved(
    stream_dir: &Path,
) -> Vec<(ConsumerMeta, Option<consumer::ConsumerSnapshot>, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(stream_dir.join(CONSUMERS_DIR)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let meta = match std::fs::read(dir.join(META_FILE))
            .map_err(|e| e.to_string())
            .and_then(|b| {
                // A checksum mismatch is reported like unparsable JSON: never loaded.
                let json = super::sealed::unseal(&b)
                    .map_err(|e| format!("corrupt {META_FILE}: {e}"))?
                    .json();
                serde_json::from_slice::<ConsumerMeta>(json)
                    .map_err(|e| format!("corrupt {META_FILE}: {e}"))
            }) {
            Ok(meta) => meta,
            Err(error) => {
                tracing::error!("JetStream: skipping consumer {}: {error}", dir.display());
                continue;
            }
        };
        let snapshot = load_state(&dir, &meta.name);
        out.push((meta, snapshot, dir));
    }
    out
}

/// A durable consumer's saved state: `state`, or when that is damaged (or missing after a
/// crash between `persist`'s two renames) the previous one, `state.prev`. Damage is
/// logged; with neither readable the consumer restarts from its config.
fn load_state(dir: &Path, name: &str) -> Option<consumer::ConsumerSnapshot> {
    let read = |file: &str| {
        std::fs::read(dir.join(file))
            .ok()
            .map(|bytes| consumer::decode_snapshot(&bytes))
    };
    let damaged = match read(STATE_FILE) {
        Some(Ok(snapshot)) => return Some(snapshot),
        Some(Err(error)) => {
            tracing::error!(
                "JetStream: consumer '{name}': saved state unreadable ({error}); trying the previous one"
            );
            true
        }
        None => false,
    };
    match read(STATE_PREV_FILE) {
        Some(Ok(snapshot)) => {
            if damaged {
                tracing::error!(
                    "JetStream: consumer '{name}': restored from its previous saved state; what was acknowledged since is delivered again"
                );
            }
            Some(snapshot)
        }
        Some(Err(error)) => {
            tracing::error!(
                "JetStream: consumer '{name}': previous saved state unreadable too ({error}); it restarts from its config"
            );
            None
        }
        None => {
            if damaged {
                tracing::error!(
                    "JetStream: consumer '{name}': no previous saved state; it restarts from its config"
                );
            }
            None
        }
    }
}

/// A pull action's status as the bytes of a header-only message.
pub fn pull_status(action: &PullAction) -> (Bytes, Vec<u8>) {
    let PullAction::SendStatus {
        reply,
        status,
        pending,
    } = action;
    let (msgs, bytes) = pending.map_or((0, 0), |p| (p.messages, p.bytes));
    use api::ConsumerStatus as S;
    use consumer::Status as T;
    let status = match status {
        T::IdleHeartbeat => S::IdleHeartbeat {
            last_consumer_seq: 0,
            last_stream_seq: 0,
            stalled: None,
        },
        T::FlowControlRequest => S::FlowControlRequest,
        T::BadRequestHeartbeatTooLarge => S::BadRequest("heartbeat value too large".into()),
        T::NoMessages => S::NoMessages,
        T::RequestTimeout => S::RequestTimeout {
            pending_msgs: msgs,
            pending_bytes: bytes,
        },
        T::RequestsPending => S::RequestsPending,
        T::ExceededMaxWaiting => S::ExceededMaxWaiting,
        T::ExceededMaxRequestBatch(n) => S::ExceededMaxRequestBatch(*n),
        T::ExceededMaxRequestExpires { max_expires_ns } => {
            S::ExceededMaxRequestExpires(*max_expires_ns)
        }
        T::ExceededMaxRequestMaxBytes(n) => S::ExceededMaxRequestMaxBytes(*n),
        T::MessageSizeExceedsMaxBytes => S::MessageSizeExceedsMaxBytes {
            pending_msgs: msgs,
            pending_bytes: bytes,
        },
        T::BatchCompleted => S::BatchCompleted {
            pending_msgs: msgs,
            pending_bytes: bytes,
        },
        T::ConsumerDeleted => S::ConsumerDeleted,
        T::LeadershipChange => S::LeadershipChange,
        T::ServerShutdown => S::ServerShutdown {
            pending_msgs: msgs,
            pending_bytes: bytes,
        },
        T::ConsumerIsPushBased => S::ConsumerIsPushBased,
    };
    (reply.clone(), status.header_block())
}

/// The heartbeat a push consumer sends, with its positions.
pub fn heartbeat(state: &ConsumerState, stalled: Option<&Bytes>) -> Vec<u8> {
    let (last_consumer_seq, last_stream_seq) = state.heartbeat_positions();
    api::ConsumerStatus::IdleHeartbeat {
        last_consumer_seq,
        last_stream_seq,
        stalled: stalled.map(|s| String::from_utf8_lossy(s).into_owned()),
    }
    .header_block()
}

/// The JSAck reply subject of a delivery.
pub fn ack_subject(stream: &str, consumer: &str, d: &consumer::Delivery, ts_ns: i64) -> Bytes {
    let subject = api::AckSubject {
        domain: None,
        account_hash: None,
        stream,
        consumer,
        delivered: d.delivered_count,
        stream_seq: d.stream_seq,
        consumer_seq: d.consumer_seq,
        timestamp_nanos: ts_ns,
        pending: d.pending,
    };
    Bytes::from(subject.to_v1())
}

/// An ack message's payload as the state machine's kind (and, for `+NXT`, the request).
pub fn ack_kind(payload: &[u8]) -> Option<(AckKind, Option<Vec<u8>>)> {
    use api::AckKind as K;
    Some(match K::parse(payload) {
        K::Ack => (AckKind::Ack, None),
        K::Nak { delay_nanos } => (
            AckKind::Nak {
                delay_ns: delay_nanos,
            },
            None,
        ),
        K::Progress => (AckKind::Progress, None),
        K::Term { reason } => (
            AckKind::Term {
                reason: (!reason.is_empty()).then(|| Bytes::copy_from_slice(reason.as_bytes())),
            },
            None,
        ),
        K::Next { request } => (AckKind::Next, Some(request.to_vec())),
        K::Unknown => return None,
    })
}

/// Consumer API responses with nats-server's error shapes.
pub fn consumer_error(type_name: &str, error: JsError) -> Vec<u8> {
    match type_name {
        "consumer_create_response" => api::ConsumerCreateResponse::error(error).to_json(),
        "consumer_info_response" => api::ConsumerInfoResponse::error(error).to_json(),
        "consumer_names_response" => api::ConsumerNamesResponse::error(error).to_json(),
        "consumer_list_response" => api::ConsumerListResponse::error(error).to_json(),
        "consumer_delete_response" => api::ConsumerDeleteResponse::error(error).to_json(),
        other => api::error_json(other, &error),
    }
}

/// A fresh ephemeral consumer name (nats-server: 8 random base-62 characters).
pub fn generated_name() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub type Consumers = BTreeMap<String, Consumer>;
