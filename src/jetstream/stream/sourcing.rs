//! Mirrors and sources: a stream copying other streams, as nats-server does it.
//!
//! For each origin the stream runs one task that creates an ephemeral push consumer on the
//! origin through the ordinary `$JS.API.CONSUMER.CREATE` (so the origin may live on any
//! core, or be created later), with flow control and idle heartbeats, delivering to a
//! private subject of the stream's internal client. Deliveries enter the stream's inbox
//! like publishes and the writer applies them in order ([`Stream::apply_sourced`]):
//!
//! ```text
//!   origin stream ──push consumer──▶ _TERN_SRC.<nonce> ──▶ inbox ──▶ writer ──▶ store
//!        ▲                                                              │
//!        └──────────── flow-control replies, once applied ◀─────────────┘
//! ```
//!
//! - A mirror keeps the origin's sequences and timestamps: gaps (messages deleted in the
//!   origin) are skipped in the mirror's store, so its last sequence *is* the last origin
//!   sequence copied, and a restart resumes from it.
//! - A sourcing stream appends with its own sequences and adds `Nats-Stream-Source:
//!   <origin> <origin seq>` (nats-server 2.9's header); at start the stream reads its
//!   messages backwards until it has found each origin's last copied sequence.
//!
//! Either way the position lives in the stream's own (durable) messages, so a restart
//! neither duplicates nor skips. A consumer sequence gap (a lost delivery), a heartbeat
//! announcing deliveries we did not see, or silence for [`SOURCE_SILENT_MS_MAX`] makes the
//! task drop its consumer and create a new one from the last copied sequence; deliveries
//! of an abandoned consumer are recognised by their subscription and ignored.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::{Inbound, Stream};
use crate::jetstream::api::{JsError, StreamSource, StreamSourceInfo};
use crate::jetstream::store::headers::{get_header, HeaderBuilder};
use crate::server::client::InternalMessage;

/// The header a sourced message carries: origin name and origin sequence.
pub const STREAM_SOURCE: &str = "Nats-Stream-Source";
/// Idle heartbeat asked of the origin's consumer (nats-server's source health check).
const SOURCE_HEARTBEAT_MS: u64 = 1_000;
/// Without any delivery or heartbeat for this long the consumer is recreated.
const SOURCE_SILENT_MS_MAX: u64 = 3 * SOURCE_HEARTBEAT_MS;
/// How often each origin's task checks its consumer, and waits after a failed create.
const SOURCE_CHECK_MS: u64 = 500;
/// How long a consumer create may take before the task tries again.
const SOURCE_CREATE_TIMEOUT_MS: u64 = 5_000;
/// An abandoned consumer on the origin goes away after this long without interest.
const SOURCE_INACTIVE_THRESHOLD_MS: u64 = 10_000;
/// Sequences a mirror skips one by one for a gap in a non-empty store; a larger gap is
/// still skipped, in further turns of the same loop (each skip is one small record).
const MIRROR_SKIP_WARN_MSGS: u64 = 1_000_000;

/// One origin of this stream and how far it has been copied.
struct Origin {
    source: StreamSource,
    mirror: bool,
    /// The last origin sequence copied into this stream.
    last_sseq: u64,
    /// The subscription of the current consumer's deliver subject.
    sid: Option<Bytes>,
    /// Consumer sequence expected next from the current consumer.
    expected_cseq: u64,
    /// Messages the origin had left to send, from the last delivery's ack subject.
    lag: u64,
    last_contact: Option<Instant>,
    /// Set when the consumer must be replaced (gap, silence).
    reset: bool,
    error: Option<JsError>,
    /// The unsupported-transform warning was logged.
    warned_transform: bool,
}

/// Every origin of one stream (see the module doc).
#[derive(Default)]
pub(super) struct Sourcing {
    /// Bumped whenever the origins are rebuilt: older tasks see it and stop.
    generation: Cell<u64>,
    origins: RefCell<Vec<Origin>>,
    /// Wakes the origins' tasks early (a reset was requested).
    wake: Rc<shards::sync::WaitQueue>,
}

impl Stream {
    /// Builds the origins from the configuration, finds how far each was copied, and
    /// starts their tasks. Runs before the writer starts (it reads the store).
    pub(super) async fn start_sourcing(self: &Rc<Self>) {
        let (mirror, sources) = {
            let config = self.config.borrow();
            (config.mirror.clone(), config.sources.clone())
        };
        let mut origins: Vec<Origin> = Vec::new();
        if let Some(source) = mirror {
            origins.push(Origin::new(source, true));
        }
        for source in sources {
            origins.push(Origin::new(source, false));
        }
        if origins.is_empty() {
            return;
        }
        let last_seq = self.store.borrow().state().last_seq;
        if origins[0].mirror {
            origins[0].last_sseq = last_seq;
        } else {
            self.find_source_positions(&mut origins, last_seq).await;
        }
        self.launch(origins);
    }

    /// Replaces the origins after a configuration update, keeping the positions of the
    /// origins that stay.
    pub(super) fn restart_sourcing(self: &Rc<Self>) {
        let old: Vec<Origin> = self.sourcing.origins.borrow_mut().drain(..).collect();
        for origin in &old {
            if let Some(sid) = &origin.sid {
                self.client.unsubscribe(sid);
            }
        }
        let config = self.config.borrow().clone();
        let mut origins: Vec<Origin> = Vec::new();
        let mut adopt = |source: StreamSource, mirror: bool| {
            let mut origin = Origin::new(source, mirror);
            if let Some(kept) = old
                .iter()
                .find(|o| o.source.index_key() == origin.source.index_key())
            {
                origin.last_sseq = kept.last_sseq;
            }
            origins.push(origin);
        };
        if let Some(source) = config.mirror {
            adopt(source, true);
        }
        for source in config.sources {
            adopt(source, false);
        }
        self.launch(origins);
    }

    /// Stops every origin's task and subscription (stream deleted).
    pub(super) fn stop_sourcing(&self) {
        self.sourcing
            .generation
            .set(self.sourcing.generation.get() + 1);
        for origin in self.sourcing.origins.borrow_mut().drain(..) {
            if let Some(sid) = origin.sid {
                self.client.unsubscribe(&sid);
            }
        }
        self.sourcing.wake.wake_all();
    }

    fn launch(self: &Rc<Self>, origins: Vec<Origin>) {
        let generation = self.sourcing.generation.get() + 1;
        self.sourcing.generation.set(generation);
        self.sourcing.wake.wake_all();
        let count = origins.len();
        *self.sourcing.origins.borrow_mut() = origins;
        for index in 0..count {
            shards::task::spawn(origin_task(Rc::downgrade(self), generation, index));
        }
    }

    /// Reads the stream backwards until each source's last copied sequence is known.
    async fn find_source_positions(&self, origins: &mut [Origin], last_seq: u64) {
        let first_seq = self.store.borrow().state().first_seq;
        let mut missing = origins.len();
        let mut seq = last_seq;
        while missing > 0 && seq >= first_seq.max(1) {
            if self.store.borrow().get(seq).is_some() {
                if let Ok(message) = self.read(seq).await {
                    if let Some((key, sseq)) = parse_source_header(&message.headers) {
                        for origin in origins.iter_mut() {
                            if origin.last_sseq == 0 && origin.header_key() == key {
                                origin.last_sseq = sseq;
                                missing -= 1;
                            }
                        }
                    }
                }
            }
            seq -= 1;
        }
    }

    /// `mirror` and `sources` of STREAM.INFO.
    pub(super) fn sourcing_info(&self) -> (Option<StreamSourceInfo>, Vec<StreamSourceInfo>) {
        let mut mirror = None;
        let mut sources = Vec::new();
        for origin in self.sourcing.origins.borrow().iter() {
            let info = StreamSourceInfo {
                name: origin.source.name.clone(),
                external: origin.source.external.clone(),
                lag: origin.lag,
                active_nanos: origin.last_contact.map_or(-1, |at| {
                    at.elapsed().as_nanos().min(i64::MAX as u128) as i64
                }),
                error: origin.error.clone(),
                filter_subject: origin.source.filter_subject.clone(),
                subject_transforms: origin.source.subject_transforms.clone(),
            };
            if origin.mirror {
                mirror = Some(info);
            } else {
                sources.push(info);
            }
        }
        (mirror, sources)
    }

    /// A delivery (or heartbeat, or flow-control request) from an origin's consumer, in
    /// the writer's order.
    pub(super) fn apply_sourced(&self, message: &InternalMessage, now: i64) {
        let mut origins = self.sourcing.origins.borrow_mut();
        let Some(origin) = origins
            .iter_mut()
            .find(|o| o.sid.as_ref() == Some(&message.sid))
        else {
            return; // from a consumer already abandoned
        };
        origin.last_contact = Some(Instant::now());
        let header_len = message.header_len.unwrap_or(0).min(message.body.len());
        let headers = message.body.slice(..header_len);
        if headers.starts_with(b"NATS/1.0 100") {
            if let Some(reply) = message.reply.clone() {
                // Flow control: answered once everything before it is applied.
                self.client.publish(reply, None, None, Bytes::new());
            } else if let Some(stalled) = get_header(&headers, "Nats-Consumer-Stalled") {
                // A heartbeat naming a flow-control request we have not answered.
                let reply = Bytes::copy_from_slice(stalled);
                self.client.publish(reply, None, None, Bytes::new());
            }
            let announced = get_header(&headers, "Nats-Last-Consumer").and_then(parse_u64);
            if announced.is_some_and(|last| last + 1 > origin.expected_cseq) {
                origin.reset = true;
                self.sourcing.wake.wake_all();
            }
            return;
        }
        let Some(ack) = message.reply.as_deref().and_then(AckInfo::parse) else {
            return;
        };
        if ack.consumer_seq != origin.expected_cseq {
            origin.reset = true;
            self.sourcing.wake.wake_all();
            return;
        }
        origin.expected_cseq += 1;
        origin.lag = ack.pending;
        if ack.stream_seq <= origin.last_sseq {
            return; // copied before (a replaced consumer starting over)
        }
        let payload = message.body.slice(header_len..);
        let subject = match origin.map_subject(&message.subject) {
            Some(subject) => subject,
            None => {
                // Not one of this origin's subjects: nothing to copy, but the position moves.
                origin.last_sseq = ack.stream_seq;
                return;
            }
        };
        let storage = self.config.borrow().storage;
        let stored = if origin.mirror {
            self.admit_account_bytes(storage, subject.len(), headers.len(), payload.len())
                .and_then(|()| self.store_mirrored(&subject, headers, payload, &ack, now))
        } else {
            let mut block = HeaderBuilder::extend(&headers);
            let value = format!("{} {}", origin.header_key(), ack.stream_seq);
            block.header(STREAM_SOURCE, value.as_bytes());
            let headers = block.finish();
            self.admit_account_bytes(storage, subject.len(), headers.len(), payload.len())
                .and_then(|()| {
                    self.store
                        .borrow_mut()
                        .append(subject.clone(), headers, payload, now)
                        .map(|appended| appended.seq)
                        .map_err(|error| super::store_error(&error))
                })
        };
        origin.last_sseq = ack.stream_seq;
        match stored {
            Ok(seq) => {
                drop(origins);
                self.consumers_on_append(seq, &subject);
                self.apply_sourced_rollup(&message.body.slice(..header_len), &subject, seq);
            }
            Err(error) => {
                tracing::warn!(
                    "JetStream: stream '{}': copying {} seq {} failed: {}",
                    self.name(),
                    origin.source.name,
                    ack.stream_seq,
                    error.description
                );
                origin.error = Some(error);
            }
        }
    }

    /// A copied message's `Nats-Rollup` is applied as a publish's would be (so a KV purge
    /// in the origin also clears the key's older values in a mirror or copy).
    fn apply_sourced_rollup(&self, headers: &[u8], subject: &Bytes, seq: u64) {
        if headers.is_empty() || !self.config.borrow().allow_rollup {
            return;
        }
        let mut store = self.store.borrow_mut();
        match get_header(headers, crate::jetstream::store::headers::ROLLUP) {
            Some(b"sub") => {
                store.purge(Some(subject), Some(seq), None);
            }
            Some(b"all") => {
                store.purge(None, Some(seq), None);
            }
            _ => {}
        }
    }

    /// Stores a mirrored message at the origin's sequence, skipping the sequences the
    /// origin no longer has.
    fn store_mirrored(
        &self,
        subject: &Bytes,
        headers: Bytes,
        payload: Bytes,
        ack: &AckInfo,
        now: i64,
    ) -> Result<u64, JsError> {
        let mut store = self.store.borrow_mut();
        let state = store.state();
        if ack.stream_seq > state.last_seq + 1 {
            if state.messages == 0 {
                store.compact(ack.stream_seq);
            } else {
                let gap = ack.stream_seq - state.last_seq - 1;
                if gap > MIRROR_SKIP_WARN_MSGS {
                    tracing::warn!(
                        "JetStream: mirror '{}' skips {gap} sequences deleted in its origin",
                        self.config.borrow().name
                    );
                }
                for _ in 0..gap {
                    store
                        .skip(now)
                        .map_err(|error| super::store_error(&error))?;
                }
            }
        }
        let ts = if ack.timestamp_ns > 0 {
            ack.timestamp_ns
        } else {
            now
        };
        let appended = store
            .append(subject.clone(), headers, payload, ts)
            .map_err(|error| super::store_error(&error))?;
        debug_assert_eq!(
            appended.seq, ack.stream_seq,
            "a mirror keeps the origin's sequences"
        );
        Ok(appended.seq)
    }
}

impl Origin {
    fn new(source: StreamSource, mirror: bool) -> Origin {
        Origin {
            source,
            mirror,
            last_sseq: 0,
            sid: None,
            expected_cseq: 1,
            lag: 0,
            last_contact: None,
            reset: false,
            error: None,
            warned_transform: false,
        }
    }

    /// How this origin names itself in `Nats-Stream-Source`: the origin's name, plus the
    /// filter when there is one (so two filtered sources of one origin stay apart).
    fn header_key(&self) -> String {
        if self.source.filter_subject.is_empty() {
            self.source.name.clone()
        } else {
            format!("{} {}", self.source.name, self.source.filter_subject)
        }
    }

    /// The subject to store a copied message under: the origin's, or the first matching
    /// subject transform's destination. None when transforms are set and none matches.
    fn map_subject(&mut self, subject: &Bytes) -> Option<Bytes> {
        if self.source.subject_transforms.is_empty() {
            return Some(subject.clone());
        }
        let transforms: Vec<(String, String)> = self
            .source
            .subject_transforms
            .iter()
            .map(|t| (t.source.clone(), t.destination.clone()))
            .collect();
        let text = String::from_utf8_lossy(subject);
        match super::source_transform::apply(&transforms, &text) {
            Ok(Some(mapped)) => Some(Bytes::from(mapped)),
            Ok(None) => None,
            Err(()) => {
                if !self.warned_transform {
                    self.warned_transform = true;
                    tracing::warn!(
                        "JetStream: a subject transform of source '{}' uses mapping functions tern does not apply to sources: subjects are copied unchanged",
                        self.source.name
                    );
                }
                Some(subject.clone())
            }
        }
    }

    /// Whether the consumer must be (re)created now.
    fn needs_consumer(&self) -> bool {
        self.sid.is_none()
            || self.reset
            || self
                .last_contact
                .is_some_and(|at| at.elapsed() > Duration::from_millis(SOURCE_SILENT_MS_MAX))
    }

    /// The consumer configuration that continues after the last copied sequence.
    fn consumer_request(&self, stream: &str, deliver_subject: &str) -> serde_json::Value {
        let mut config = json!({
            "description": format!("{} of {stream}", if self.mirror { "mirror" } else { "source" }),
            "deliver_subject": deliver_subject,
            "ack_policy": "none",
            "max_deliver": 1,
            "flow_control": true,
            "idle_heartbeat": SOURCE_HEARTBEAT_MS * 1_000_000,
            "inactive_threshold": SOURCE_INACTIVE_THRESHOLD_MS * 1_000_000,
            "replay_policy": "instant",
            "mem_storage": true,
            "num_replicas": 1,
        });
        if !self.source.filter_subject.is_empty() {
            config["filter_subject"] = json!(self.source.filter_subject);
        } else if !self.source.subject_transforms.is_empty() {
            // Only the transforms' source subjects are copied.
            let filters: Vec<&str> = self
                .source
                .subject_transforms
                .iter()
                .map(|t| {
                    if t.source.is_empty() {
                        ">"
                    } else {
                        t.source.as_str()
                    }
                })
                .collect();
            if filters.len() == 1 {
                config["filter_subject"] = json!(filters[0]);
            } else {
                config["filter_subjects"] = json!(filters);
            }
        }
        if self.last_sseq > 0 {
            config["deliver_policy"] = json!("by_start_sequence");
            config["opt_start_seq"] = json!(self.last_sseq + 1);
        } else if self.source.opt_start_seq > 0 {
            config["deliver_policy"] = json!("by_start_sequence");
            config["opt_start_seq"] = json!(self.source.opt_start_seq);
        } else if let Some(time) = &self.source.opt_start_time {
            config["deliver_policy"] = json!("by_start_time");
            config["opt_start_time"] = json!(time);
        } else {
            config["deliver_policy"] = json!("all");
        }
        json!({"stream_name": self.source.name, "config": config})
    }
}

/// Keeps one origin's consumer alive while the stream and this generation of origins
/// live.
async fn origin_task(stream: Weak<Stream>, generation: u64, index: usize) {
    loop {
        let (client, request, wake) = {
            let Some(stream) = stream.upgrade() else {
                return;
            };
            if stream.closed.get() || stream.sourcing.generation.get() != generation {
                return;
            }
            let wake = stream.sourcing.wake.clone();
            let mut origins = stream.sourcing.origins.borrow_mut();
            let Some(origin) = origins.get_mut(index) else {
                return;
            };
            if !origin.needs_consumer() {
                drop(origins);
                (None, None, wake)
            } else {
                if let Some(sid) = origin.sid.take() {
                    stream.client.unsubscribe(&sid);
                }
                let deliver_subject = format!("_TERN_SRC.{:016x}", rand::random::<u64>());
                let weak = Rc::downgrade(&stream);
                let sid = stream
                    .client
                    .subscribe(&deliver_subject, None, move |message| {
                        if let Some(stream) = weak.upgrade() {
                            stream.enqueue(Inbound::Sourced(message));
                        }
                    });
                match sid {
                    Ok(sid) => {
                        origin.sid = Some(sid);
                        origin.expected_cseq = 1;
                        origin.reset = false;
                        // Counted from now: a create that never answers is retried.
                        origin.last_contact = Some(Instant::now());
                        let name = stream.config.borrow().name.clone();
                        let body = origin.consumer_request(&name, &deliver_subject);
                        let subject = format!("$JS.API.CONSUMER.CREATE.{}", origin.source.name);
                        drop(origins);
                        (Some(stream.client.clone()), Some((subject, body)), wake)
                    }
                    Err(error) => {
                        tracing::error!("JetStream: source subscription failed: {error}");
                        drop(origins);
                        (None, None, wake)
                    }
                }
            }
        };
        if let (Some(client), Some((subject, body))) = (client, request) {
            let answer = client
                .request(
                    Bytes::from(subject),
                    Bytes::from(body.to_string()),
                    Duration::from_millis(SOURCE_CREATE_TIMEOUT_MS),
                )
                .await;
            let error = match answer {
                None => Some(JsError::new(
                    503,
                    10008,
                    "JetStream system temporarily unavailable",
                )),
                Some(reply) => serde_json::from_slice::<serde_json::Value>(&reply.body)
                    .ok()
                    .and_then(|v| v.get("error").cloned())
                    .and_then(|e| serde_json::from_value::<JsError>(e).ok()),
            };
            let Some(stream) = stream.upgrade() else {
                return;
            };
            if stream.sourcing.generation.get() != generation {
                return;
            }
            let mut origins = stream.sourcing.origins.borrow_mut();
            if let Some(origin) = origins.get_mut(index) {
                if error.is_some() {
                    // Try again after the next check (origin missing, not yet created...).
                    origin.reset = true;
                }
                origin.error = error;
            }
        }
        shards::time::timeout(Duration::from_millis(SOURCE_CHECK_MS), wake.wait()).await;
    }
}

/// What a delivery's ack subject tells: `$JS.ACK.<stream>.<consumer>.<delivered>.
/// <stream seq>.<consumer seq>.<timestamp>.<pending>` (and the longer form with domain
/// and account hash in front, whose last five tokens are the same).
struct AckInfo {
    stream_seq: u64,
    consumer_seq: u64,
    timestamp_ns: i64,
    pending: u64,
}

impl AckInfo {
    fn parse(reply: &[u8]) -> Option<AckInfo> {
        let tokens: Vec<&[u8]> = reply.split(|&b| b == b'.').collect();
        if tokens.len() < 9 || tokens[0] != b"$JS" || tokens[1] != b"ACK" {
            return None;
        }
        // v1 has 9 tokens; v2 has 12 (or more), a random token last.
        let end = if tokens.len() == 9 { 9 } else { 11 };
        let at = |i: usize| tokens.get(end - i).copied().and_then(parse_u64);
        Some(AckInfo {
            pending: at(1)?,
            timestamp_ns: at(2)? as i64,
            consumer_seq: at(3)?,
            stream_seq: at(4)?,
        })
    }
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// `Nats-Stream-Source: <key> <seq>` → (key, seq); the key is everything before the last
/// space (the origin's name, and its filter if any).
fn parse_source_header(headers: &[u8]) -> Option<(String, u64)> {
    if headers.is_empty() {
        return None;
    }
    let value = std::str::from_utf8(get_header(headers, STREAM_SOURCE)?).ok()?;
    let value = value.trim();
    // nats-server 2.9 writes "<name> <seq>"; a filtered source here "<name> <filter> <seq>".
    let mut parts: Vec<&str> = value.split(' ').collect();
    let seq = parts.pop()?.parse().ok()?;
    Some((parts.join(" "), seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_subjects_parse() {
        let v1 = AckInfo::parse(b"$JS.ACK.O.c1.1.42.7.1700000000000000000.3").unwrap();
        assert_eq!(
            (v1.stream_seq, v1.consumer_seq, v1.timestamp_ns, v1.pending),
            (42, 7, 1_700_000_000_000_000_000, 3)
        );
        let v2 = AckInfo::parse(b"$JS.ACK.dom.hash.O.c1.1.42.7.1700000000000000000.3.rnd").unwrap();
        assert_eq!((v2.stream_seq, v2.consumer_seq, v2.pending), (42, 7, 3));
        assert!(AckInfo::parse(b"$JS.ACK.O.c1.1.x.7.1.3").is_none());
        assert!(AckInfo::parse(b"_INBOX.abc").is_none());
    }

    #[test]
    fn source_headers_parse() {
        let block = b"NATS/1.0\r\nX: y\r\nNats-Stream-Source: O1 2\r\n\r\n";
        assert_eq!(parse_source_header(block), Some(("O1".to_string(), 2)));
        let block = b"NATS/1.0\r\nNats-Stream-Source: O1 p.1 17\r\n\r\n";
        assert_eq!(parse_source_header(block), Some(("O1 p.1".to_string(), 17)));
        assert_eq!(parse_source_header(b"NATS/1.0\r\n\r\n"), None);
    }
}
