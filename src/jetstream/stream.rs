//! One stream on its owning core: the writer task and everything it serialises.
//!
//! Publishes (from the capture subscriptions) and API operations land in one queue. A
//! single writer task drains the whole queue, applies each item to the store in order,
//! writes what the store logged to the segment files, fsyncs once, and only then sends the
//! PubAcks and mutating API answers of that batch: group commit. Items that arrive while
//! an fsync is in flight wait for the next batch, so the number of fsyncs follows the
//! disk, not the publish rate.
//!
//! If a write or fsync fails, the batch's publishers get an error (never an ack), the
//! stream truncates its active segment back to what was last synced, reloads its state
//! from disk, and retries until the disk works again; core NATS is not affected.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shards::sync::Signal;

use super::accounts::Reservation;
use super::api::{self, ApiResponse, JsError, StorageType, StreamConfig};
use super::disk::{SegmentFiles, SyncedFile};
use super::owner::{CreateRequest, Owner, META_FILE};
use super::store::{self, DedupWindow, MsgStore};
use super::{now_ns, JetStreamShared};
use crate::config::SyncInterval;
use crate::limits::{
    JS_DISK_RETRY_MS, JS_SEGMENT_BYTES_MAX, JS_STREAM_CACHE_BYTES_MAX, JS_STREAM_INBOX_BYTES_MAX,
    JS_SYNCED_POINT_INTERVAL_MS,
};
use crate::server::client::InternalMessage;

/// Headers a publisher may set (stream.go's constants).
const MSG_ID: &str = store::headers::MSG_ID;
const EXPECTED_STREAM: &str = "Nats-Expected-Stream";
const EXPECTED_LAST_SEQ: &str = "Nats-Expected-Last-Sequence";
const EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";
const EXPECTED_LAST_MSG_ID: &str = "Nats-Expected-Last-Msg-Id";
const ROLLUP: &str = store::headers::ROLLUP;
/// Times the writer yields to gather more publishes into one commit before it fsyncs.
const GATHER_ROUNDS_MAX: usize = 4;
/// The longest a commit waits for publishers that were in the previous commit (only with
/// fsync per ack, only when fewer have arrived than last time).
const GROUP_COMMIT_WAIT_MAX_US: u64 = 200;
/// How long each wait for more publishes sleeps.
const GROUP_COMMIT_STEP_US: u64 = 25;
/// Messages one DIRECT.GET batch sends at most, whatever it asks for.
const DIRECT_BATCH_MSGS_MAX: usize = 10_000;
/// Bytes of one DIRECT.GET batch when the request sets no `max_bytes` (nats-server's
/// default max_pending).
const DIRECT_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Subjects a `multi_last` request may match (ADR-31: more is a 413).
const DIRECT_MULTI_SUBJECTS_MAX: usize = 1024;
/// Headers beyond this are refused (nats-server's `maxHdrSize`... JSStreamHeaderExceedsMaximum).
const HEADERS_BYTES_MAX: usize = 64 * 1024;

mod consumers_driver;
mod source_transform;
mod sourcing;

enum Inbound {
    /// With when it entered the queue (for the publish-ack latency histogram).
    Publish(InternalMessage, Instant),
    /// A `$JS.API` request about this stream (subject after `$JS.API.`).
    Api(String, InternalMessage),
    DirectGet(InternalMessage),
    /// An ack on `$JS.ACK.<stream>.<consumer>....`.
    Ack(InternalMessage),
    /// A push consumer's flow-control answer on `$JS.FC.<stream>.<consumer>....`.
    FlowControl(InternalMessage),
    /// A delivery from a mirror's or source's origin (see `sourcing`).
    Sourced(InternalMessage),
}

/// An answer held back until the batch it belongs to is durable.
struct Held {
    reply: Bytes,
    body: Vec<u8>,
    /// A publish (an ack or a publish error), as opposed to an API answer.
    publish: bool,
    /// When the publish entered the queue.
    arrived: Option<Instant>,
}

pub struct Stream {
    owner: Weak<Owner>,
    js: Arc<JetStreamShared>,
    /// The account the stream belongs to: its limits and usage counters.
    pub(super) account: Arc<super::JsAccount>,
    /// Server-side client in the stream's account: captures, acks, API answers.
    client: Rc<crate::server::internal::InternalClient>,
    config: RefCell<StreamConfig>,
    created_ns: i64,
    store: RefCell<MsgStore>,
    dedup: RefCell<DedupWindow>,
    /// `None` for memory streams.
    files: RefCell<Option<SegmentFiles>>,
    dir: Option<PathBuf>,
    inbox: RefCell<VecDeque<Inbound>>,
    inbox_bytes: Cell<usize>,
    work: Signal,
    closed: Cell<bool>,
    finished: Signal,
    capture_sids: RefCell<Vec<Bytes>>,
    direct_sids: RefCell<Vec<Bytes>>,
    /// The stream's consumers (see `consumers_driver`); touched only by the writer task.
    consumers: RefCell<crate::jetstream::consumers::Consumers>,
    /// Set by `delete`: the writer removes the consumers (not just closes them) on exit.
    deleting: Cell<bool>,
    /// The store's removal count consumers last caught up with.
    removals_seen: Cell<u64>,
    /// What this stream last added to the account's memory/storage totals.
    reported_bytes: Cell<i64>,
    /// What this stream last added to its account's usage (ahead of `reported_bytes` by
    /// the records reserved since, in an account with a byte limit).
    account_reported_bytes: Cell<i64>,
    /// Deleted messages whose bytes are overwritten once their tombstone is durable
    /// (`MSG.DELETE` without `no_erase`): segment, offset, replacement record.
    erase: RefCell<Vec<(u64, u64, Vec<u8>)>>,
    /// Set after a failed write until the disk works again: publishes are refused.
    disk_failed: Cell<bool>,
    last_sync: Cell<std::time::Instant>,
    /// File streams: the synced-point file (see `store::synced`), what the last fsync
    /// made durable, what the file durably says, and when it was last written.
    synced_file: RefCell<Option<SyncedFile>>,
    synced: Cell<Option<store::SyncedPoint>>,
    recorded: Cell<Option<store::SyncedPoint>>,
    recorded_at: Cell<Instant>,
    /// Publishes in the last commit (see `worth_waiting`).
    last_batch_publishes: Cell<usize>,
    /// What monitoring reads of this stream, refreshed once per batch (`report_usage`).
    pub(super) snapshot: Arc<super::monitor::StreamSnapshot>,
    /// Mirror and sources: their origins and progress.
    sourcing: sourcing::Sourcing,
}

use std::sync::Arc;

impl Stream {
    pub fn name(&self) -> String {
        self.config.borrow().name.clone()
    }

    fn store_config(config: &StreamConfig) -> store::StoreConfig {
        store::StoreConfig {
            storage: match config.storage {
                StorageType::Memory => store::StorageType::Memory,
                StorageType::File => store::StorageType::File,
            },
            max_msgs: config.max_msgs,
            max_bytes: config.max_bytes,
            max_age_ns: config.max_age_nanos,
            max_msgs_per_subject: config.max_msgs_per_subject,
            max_msg_size: config.max_msg_size_bytes,
            discard: match config.discard {
                api::DiscardPolicy::Old => store::DiscardPolicy::Old,
                api::DiscardPolicy::New => store::DiscardPolicy::New,
            },
            discard_new_per_subject: config.discard_new_per_subject,
            segment_bytes_max: JS_SEGMENT_BYTES_MAX,
            cache_bytes_max: match config.storage {
                StorageType::Memory => u64::MAX,
                StorageType::File => JS_STREAM_CACHE_BYTES_MAX,
            },
            first_seq: config.first_seq.max(1),
        }
    }

    /// Reads a file stream's segments and rebuilds its store; logs what recovery found and
    /// cuts torn tails off.
    async fn load(name: &str, config: &StreamConfig, dir: &std::path::Path) -> io::Result<Loaded> {
        let (mut files, found) = SegmentFiles::open(&dir.join("msgs")).await?;
        let (synced_file, recorded) = SyncedFile::open(dir).await?;
        let recorded = recorded.unwrap_or_else(|error| {
            tracing::error!(
                "JetStream: stream '{name}': synced-point file damaged ({error}): a cut at the end of the log can not be told from a torn write this time"
            );
            None
        });
        let scans: Vec<(u64, store::SegmentScan)> = found
            .iter()
            .map(|segment| (segment.id, store::scan_segment(&segment.bytes)))
            .collect();
        drop(found);
        let (store, report) =
            MsgStore::recover_checked(Self::store_config(config), scans, recorded)
                .map_err(|e| io::Error::other(format!("recovering stream '{name}': {e}")))?;
        for (segment, corrupt) in &report.corrupt {
            tracing::error!(
                "JetStream: stream '{name}': corrupt record in segment {segment} at offset {} ({:?}): not served, counted as lost",
                corrupt.offset,
                corrupt.reason
            );
        }
        if let Some(loss) = &report.tail_loss {
            tracing::error!(
                "JetStream: stream '{name}': the log ends before its last synced point (segment {} of {} bytes, last sequence {}): found {} bytes and last sequence {}; acknowledged data lost",
                loss.recorded.segment,
                loss.recorded.len_bytes,
                loss.recorded.last_seq,
                loss.found_len_bytes.map_or_else(|| "no segment".to_string(), |len| len.to_string()),
                loss.found_last_seq
            );
        }
        if !report.lost_msgs.is_empty() {
            tracing::error!(
                "JetStream: stream '{name}': {} message(s) lost to corruption or a cut log: {:?}",
                report.lost_msgs.len(),
                report.lost_msgs
            );
        }
        for (segment, valid_len) in &report.torn_tails {
            tracing::warn!(
                "JetStream: stream '{name}': torn write at the end of segment {segment}: truncated to {valid_len} bytes"
            );
            files.truncate(*segment, *valid_len).await?;
        }
        files.sync().await?;
        let dedup = DedupWindow::rebuild(
            config.duplicate_window_nanos,
            now_ns(),
            &report.msg_ids,
            store.state().last_seq,
        );
        // What is on disk now is durable; records recovery still has to write are not.
        let synced = store
            .take_log_is_empty()
            .then(|| store.log_point())
            .flatten();
        Ok(Loaded {
            store,
            dedup,
            files: Some(files),
            synced_file: Some(synced_file),
            recorded,
            synced,
        })
    }

    /// Creates (or, with `recover`, reopens from disk) a stream on this core, subscribes
    /// it and starts its writer.
    pub async fn open(
        owner: &Rc<Owner>,
        account: Arc<super::JsAccount>,
        request: CreateRequest,
        recover: bool,
    ) -> io::Result<Rc<Stream>> {
        let config = request.config;
        let account_name = account.name.clone();
        let store_config = Self::store_config(&config);
        let name = config.name.clone();
        let (loaded, dir) = match config.storage {
            StorageType::Memory => (
                Loaded {
                    store: MsgStore::new(store_config),
                    dedup: DedupWindow::new(config.duplicate_window_nanos),
                    files: None,
                    synced_file: None,
                    recorded: None,
                    synced: None,
                },
                None,
            ),
            StorageType::File => {
                let dir = account.streams_dir.join(&name);
                shards::file::create_dir_all_durable(&dir)?;
                if !recover {
                    shards::file::write_file_atomic(
                        &dir.join(META_FILE),
                        &super::sealed::seal(&serde_json::to_vec(&CreateRequest {
                            config: config.clone(),
                            created: request.created,
                        })?),
                    )?;
                }
                (Self::load(&name, &config, &dir).await?, Some(dir))
            }
        };
        let Loaded {
            store,
            dedup,
            files,
            synced_file,
            recorded,
            synced,
        } = loaded;
        let stream = Rc::new(Stream {
            owner: Rc::downgrade(owner),
            js: owner.js.clone(),
            client: owner.client(account.id),
            account,
            config: RefCell::new(config),
            created_ns: request.created,
            store: RefCell::new(store),
            dedup: RefCell::new(dedup),
            files: RefCell::new(files),
            dir,
            inbox: RefCell::new(VecDeque::new()),
            inbox_bytes: Cell::new(0),
            work: Signal::new(),
            closed: Cell::new(false),
            finished: Signal::new(),
            capture_sids: RefCell::new(Vec::new()),
            direct_sids: RefCell::new(Vec::new()),
            reported_bytes: Cell::new(0),
            account_reported_bytes: Cell::new(0),
            consumers: RefCell::new(Default::default()),
            deleting: Cell::new(false),
            removals_seen: Cell::new(0),
            erase: RefCell::new(Vec::new()),
            disk_failed: Cell::new(false),
            last_sync: Cell::new(std::time::Instant::now()),
            synced_file: RefCell::new(synced_file),
            synced: Cell::new(synced),
            recorded: Cell::new(recorded),
            // As if recorded an interval ago: the first commit after opening records.
            recorded_at: Cell::new(
                Instant::now()
                    .checked_sub(Duration::from_millis(JS_SYNCED_POINT_INTERVAL_MS))
                    .unwrap_or_else(Instant::now),
            ),
            last_batch_publishes: Cell::new(0),
            snapshot: super::monitor::StreamSnapshot::new(&account_name, request.created),
            sourcing: Default::default(),
        });
        // Anything recovery decided (e.g. expiry under changed limits) is logged first.
        stream.persist_log().await?;
        stream.subscribe();
        stream.load_consumers();
        stream.start_sourcing().await;
        stream.report_usage();
        shards::task::spawn(writer(stream.clone()));
        Ok(stream)
    }

    fn subscribe(self: &Rc<Self>) {
        let config = self.config.borrow();
        let mut capture = Vec::new();
        for subject in &config.subjects {
            let weak = Rc::downgrade(self);
            match self.client.subscribe(subject, None, move |message| {
                if let Some(stream) = weak.upgrade() {
                    stream.enqueue(Inbound::Publish(message, Instant::now()));
                }
            }) {
                Ok(sid) => capture.push(sid),
                Err(error) => tracing::error!(
                    "JetStream: stream '{}' can not subscribe to '{subject}': {error}",
                    config.name
                ),
            }
        }
        *self.capture_sids.borrow_mut() = capture;
        let mut direct = Vec::new();
        // A mirror with `mirror_direct` also answers direct gets of its origin (in the
        // same queue group as the origin, as nats-server's mirrors do).
        let mut direct_names = Vec::new();
        if config.allow_direct {
            direct_names.push(config.name.clone());
        }
        if let Some(mirror) = config.mirror.as_ref().filter(|_| config.mirror_direct) {
            direct_names.push(mirror.name.clone());
        }
        for name in direct_names {
            for subject in [
                format!("$JS.API.DIRECT.GET.{name}"),
                format!("$JS.API.DIRECT.GET.{name}.>"),
            ] {
                let weak = Rc::downgrade(self);
                if let Ok(sid) = self
                    .client
                    .subscribe(&subject, Some("_sys_"), move |message| {
                        if let Some(stream) = weak.upgrade() {
                            stream.enqueue(Inbound::DirectGet(message));
                        }
                    })
                {
                    direct.push(sid);
                }
            }
        }
        *self.direct_sids.borrow_mut() = direct;
    }

    fn unsubscribe(&self) {
        for sid in self.capture_sids.borrow_mut().drain(..) {
            self.client.unsubscribe(&sid);
        }
        for sid in self.direct_sids.borrow_mut().drain(..) {
            self.client.unsubscribe(&sid);
        }
    }

    fn enqueue(&self, item: Inbound) {
        if self.closed.get() {
            return;
        }
        let bytes = match &item {
            Inbound::Publish(m, _)
            | Inbound::Api(_, m)
            | Inbound::DirectGet(m)
            | Inbound::Ack(m)
            | Inbound::FlowControl(m)
            | Inbound::Sourced(m) => m.body.len(),
        };
        if let Inbound::Publish(message, _) = &item {
            if self.inbox_bytes.get() + bytes > JS_STREAM_INBOX_BYTES_MAX {
                // The writer is behind the disk: refuse rather than queue without bound.
                if let Some(reply) = &message.reply {
                    let error =
                        JsError::stream_store_failed("stream is busy: too many pending writes");
                    self.send(reply.clone(), self.pub_error(&error));
                }
                return;
            }
        }
        self.inbox_bytes.set(self.inbox_bytes.get() + bytes);
        self.inbox.borrow_mut().push_back(item);
        self.work.set();
    }

    /// A stream-level API request forwarded by the meta core.
    pub fn api(&self, api: String, message: InternalMessage) {
        self.enqueue(Inbound::Api(api, message));
    }

    /// An API request answered with an error: the server's and the account's counters.
    pub(super) fn count_api_error(&self) {
        self.js.api_errors.fetch_add(1, Ordering::Relaxed);
        self.account.api_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn send(&self, reply: Bytes, body: Vec<u8>) {
        self.client.publish(reply, None, None, Bytes::from(body));
    }

    fn pub_error(&self, error: &JsError) -> Vec<u8> {
        api::PubAck::error_json(&self.config.borrow().name, error)
    }

    /// Moves the server's and the account's usage of this stream's storage to `bytes`
    /// (what the store holds now).
    fn settle_usage(&self, bytes: i64) {
        let storage = self.config.borrow().storage;
        let delta = bytes - self.reported_bytes.replace(bytes);
        if delta != 0 {
            let total = match storage {
                StorageType::Memory => &self.js.memory_bytes,
                StorageType::File => &self.js.storage_bytes,
            };
            total.fetch_add(delta, Ordering::Relaxed);
        }
        let delta = bytes - self.account_reported_bytes.replace(bytes);
        if delta != 0 {
            self.account
                .usage_counter(storage)
                .fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// The account's `max_mem` / `max_file` for one more record (nats-server's
    /// `wouldExceedLimits`: 10002), judged by the record's stored size. In an account with
    /// a limit the bytes are reserved in its usage at once, so streams on other cores see
    /// them (the limit holds across the account's streams); an unlimited account is not
    /// touched until the batch's end.
    pub(super) fn admit_account_bytes(
        &self,
        storage: StorageType,
        subject_len: usize,
        header_len: usize,
        payload_len: usize,
    ) -> Result<(), JsError> {
        let kind = match storage {
            StorageType::Memory => store::StorageType::Memory,
            StorageType::File => store::StorageType::File,
        };
        let record_bytes = store::msg_size_bytes(kind, subject_len, header_len, payload_len);
        let record_bytes = i64::try_from(record_bytes).unwrap_or(i64::MAX);
        match self.account.reserve(storage, record_bytes) {
            Reservation::Unlimited => Ok(()),
            Reservation::Reserved => {
                // Settled against what the store really holds at the batch's end (a record
                // the store then refused, or removed, gives its bytes back there).
                let reported = self.account_reported_bytes.get();
                self.account_reported_bytes
                    .set(reported.saturating_add(record_bytes));
                Ok(())
            }
            Reservation::Refused => Err(JsError::account_resources_exceeded()),
        }
    }

    fn report_usage(&self) {
        let state = self.store.borrow().state();
        self.snapshot
            .refresh(&self.config.borrow(), &state, self.consumer_count());
        self.refresh_consumer_details();
        self.settle_usage(state.bytes as i64);
    }

    // -----------------------------------------------------------------------------------
    // Publishing
    // -----------------------------------------------------------------------------------

    /// Applies one publish to the store, checking its headers in nats-server's order
    /// (expected stream, last subject sequence, last sequence, dedup, last msg id, rollup).
    fn publish(&self, message: &InternalMessage, now: i64) -> Result<Published, JsError> {
        let config = self.config.borrow();
        if config.sealed {
            return Err(JsError::stream_sealed());
        }
        let header_len = message.header_len.unwrap_or(0).min(message.body.len());
        let headers = message.body.slice(..header_len);
        let payload = message.body.slice(header_len..);
        let subject = message.subject.clone();
        let header = |name: &str| {
            if headers.is_empty() {
                None
            } else {
                store::headers::get_header(&headers, name)
            }
        };
        if header_len > HEADERS_BYTES_MAX {
            return Err(JsError::stream_header_exceeds_maximum());
        }
        let mut store = self.store.borrow_mut();
        let mut dedup = self.dedup.borrow_mut();
        if let Some(expected) = header(EXPECTED_STREAM) {
            if expected != config.name.as_bytes() {
                return Err(JsError::stream_not_match());
            }
        }
        if let Some(expected) = header(EXPECTED_LAST_SUBJECT_SEQ) {
            let actual = store.last_seq_for_subject(&subject).unwrap_or(0);
            if parse_u64(expected) != Some(actual) {
                return Err(JsError::stream_wrong_last_sequence(actual));
            }
        }
        if let Some(expected) = header(EXPECTED_LAST_SEQ) {
            let actual = store.state().last_seq;
            if parse_u64(expected) != Some(actual) {
                return Err(JsError::stream_wrong_last_sequence(actual));
            }
        }
        let msg_id = header(MSG_ID).filter(|id| !id.is_empty());
        if let Some(id) = msg_id {
            if let Some(original) = dedup.check(id, now) {
                return Ok(Published::Duplicate(original));
            }
        }
        if let Some(expected) = header(EXPECTED_LAST_MSG_ID) {
            let last = dedup.last_msg_id().unwrap_or_default();
            if expected != last {
                return Err(JsError::stream_wrong_last_msg_id(String::from_utf8_lossy(
                    last,
                )));
            }
        }
        let rollup = match header(ROLLUP).filter(|v| !v.is_empty()) {
            None => None,
            Some(value) => {
                if !config.allow_rollup {
                    return Err(JsError::stream_rollup_failed("rollup not permitted"));
                }
                match value {
                    b"sub" => Some(Rollup::Subject),
                    b"all" => Some(Rollup::All),
                    other => {
                        return Err(JsError::stream_rollup_failed(format!(
                            "rollup value invalid: {:?}",
                            String::from_utf8_lossy(other)
                        )))
                    }
                }
            }
        };
        let size = header_len + payload.len();
        if config.max_msg_size_bytes >= 0 && size > config.max_msg_size_bytes as usize {
            return Err(JsError::stream_message_exceeds_maximum());
        }
        // The server's `max_memory_store` / `max_file_store` (nats-server answers a publish
        // past them with "insufficient resources").
        let (used, limit) = match config.storage {
            StorageType::Memory => (self.js.memory_used(), self.js.max_memory_bytes),
            StorageType::File => (self.js.storage_used(), self.js.max_store_bytes),
        };
        if used.saturating_add(size as i64) > limit {
            return Err(JsError::insufficient_resources());
        }
        self.admit_account_bytes(config.storage, subject.len(), header_len, payload.len())?;
        let appended = store
            .append(subject.clone(), headers.clone(), payload, now)
            .map_err(|error| store_error(&error))?;
        let seq = appended.seq;
        dedup.record(msg_id, seq, appended.ts_ns);
        drop(store);
        self.consumers_on_append(seq, &subject);
        let mut store = self.store.borrow_mut();
        match rollup {
            Some(Rollup::All) => {
                store.purge(None, Some(seq), None);
            }
            Some(Rollup::Subject) => {
                store.purge(Some(&subject), Some(seq), None);
            }
            None => {}
        }
        if config.retention == api::RetentionPolicy::Interest && !self.has_interest(&subject) {
            // No consumer wants it: the sequence is used, nothing is kept.
            store.delete(seq);
        }
        Ok(Published::Stored(seq))
    }

    // -----------------------------------------------------------------------------------
    // API
    // -----------------------------------------------------------------------------------

    pub fn info(&self, deleted_details: bool, subjects_filter: Option<&str>) -> api::StreamInfo {
        self.info_paged(deleted_details, subjects_filter, 0).0
    }

    /// The stream's info; with a subjects filter, one page of the matching subjects.
    fn info_paged(
        &self,
        deleted_details: bool,
        subjects_filter: Option<&str>,
        offset: usize,
    ) -> (api::StreamInfo, api::responses::Paged) {
        let config = self.config.borrow().clone();
        let store = self.store.borrow();
        let state = store.state();
        // A stream that never held a sequence reports 0 as its first, as nats-server's
        // fresh stores do; once sequences were used, an empty stream reports last + 1.
        let first_seq = if state.last_seq == 0 && state.messages == 0 {
            0
        } else {
            state.first_seq
        };
        let mut info_state = api::StreamState {
            messages: state.messages,
            bytes: state.bytes,
            first_seq,
            first_ts: api::GoTime::from_unix_nanos_or_zero(state.first_ts_ns),
            last_seq: state.last_seq,
            last_ts: api::GoTime::from_unix_nanos_or_zero(state.last_ts_ns),
            num_subjects: state.num_subjects,
            num_deleted: state.num_deleted,
            consumer_count: self.consumer_count(),
            ..Default::default()
        };
        if deleted_details {
            info_state.deleted = store.deleted();
        }
        let mut paged = api::responses::Paged::default();
        if let Some(filter) = subjects_filter.filter(|f| !f.is_empty()) {
            let totals = store
                .subject_counts(filter.as_bytes())
                .into_iter()
                .map(|(s, n)| (String::from_utf8_lossy(&s).into_owned(), n))
                .collect();
            let page = api::stream_info::page_subjects(totals, offset);
            info_state.subjects = page.subjects;
            paged = api::responses::Paged {
                total: page.total,
                offset: page.offset,
                limit: page.limit,
            };
        }
        if !state.lost_msgs.is_empty() {
            info_state.lost = Some(api::LostStreamData {
                msgs: state.lost_msgs.clone(),
                bytes: state.lost_bytes,
            });
        }
        let server_name = self
            .owner
            .upgrade()
            .map(|o| o.state.shared.server_name.clone())
            .unwrap_or_default();
        let (mirror, sources) = self.sourcing_info();
        let info = api::StreamInfo {
            config,
            created: api::GoTime::from_unix_nanos(self.created_ns),
            state: info_state,
            mirror,
            sources,
            cluster: Some(api::ClusterInfo {
                leader: server_name,
                ..Default::default()
            }),
            ts: api::GoTime::from_unix_nanos(now_ns()),
            ..Default::default()
        };
        (info, paged)
    }

    pub fn create_response(&self, did_create: bool) -> Vec<u8> {
        api::StreamCreateResponse {
            info: Some(self.info(false, None)),
            did_create,
            ..Default::default()
        }
        .to_json()
    }

    /// Applies a new (already validated) configuration.
    pub async fn update(self: &Rc<Self>, config: StreamConfig) -> Vec<u8> {
        if let Some(dir) = &self.dir {
            let meta = CreateRequest {
                config: config.clone(),
                created: self.created_ns,
            };
            let written = serde_json::to_vec(&meta)
                .map_err(io::Error::from)
                .and_then(|bytes| {
                    shards::file::write_file_atomic(
                        &dir.join(META_FILE),
                        &super::sealed::seal(&bytes),
                    )
                });
            if let Err(error) = written {
                return api::StreamUpdateResponse::error(JsError::stream_general(error)).to_json();
            }
        }
        let subjects_changed = self.config.borrow().subjects != config.subjects
            || self.config.borrow().allow_direct != config.allow_direct;
        let sources_changed = self.config.borrow().sources != config.sources;
        if let Err(error) = self
            .store
            .borrow_mut()
            .update_config(Self::store_config(&config), now_ns())
        {
            return api::StreamUpdateResponse::error(JsError::stream_general(error)).to_json();
        }
        self.dedup
            .borrow_mut()
            .set_window(config.duplicate_window_nanos);
        *self.config.borrow_mut() = config;
        if subjects_changed {
            self.unsubscribe();
            self.subscribe();
        }
        if sources_changed {
            self.restart_sourcing();
        }
        self.work.set();
        api::StreamUpdateResponse {
            info: Some(self.info(false, None)),
            ..Default::default()
        }
        .to_json()
    }

    /// Stops the writer and unsubscribes, keeping the stream's files (its account's
    /// JetStream was turned off at runtime, as nats-server's `stream.stop(false, false)`):
    /// the log is flushed, consumers' state written, and the stream comes back from disk
    /// when the account gets JetStream again.
    pub async fn close(self: &Rc<Self>) {
        if let Some(files) = self.stop().await {
            files.close().await;
        }
    }

    /// What closing and deleting share: no new messages in, sourcing and the writer
    /// stopped, usage given back to the account; the files are the caller's to close or
    /// remove.
    async fn stop(self: &Rc<Self>) -> Option<SegmentFiles> {
        self.unsubscribe();
        self.stop_sourcing();
        self.closed.set(true);
        self.work.set();
        self.finished.wait().await;
        self.settle_usage(0);
        self.files.borrow_mut().take()
    }

    /// Stops the writer, unsubscribes and removes the stream's files.
    pub async fn delete(self: &Rc<Self>) -> io::Result<()> {
        self.deleting.set(true);
        if let Some(files) = self.stop().await {
            files.destroy().await?;
        }
        if let Some(dir) = &self.dir {
            shards::file::remove_dir_all_durable(dir)?;
        }
        Ok(())
    }

    /// Answers one stream-level API request. Mutating answers are held until durable.
    async fn handle_api(
        self: &Rc<Self>,
        api: &str,
        message: &InternalMessage,
        held: &mut Vec<Held>,
    ) {
        let mut tokens = api.split('.');
        let (kind, op) = (tokens.next().unwrap_or(""), tokens.next().unwrap_or(""));
        let body = message
            .body
            .slice(message.header_len.unwrap_or(0).min(message.body.len())..);
        let (answer, mutating) = match (kind, op, tokens.next()) {
            ("STREAM", "INFO", _) => (self.api_info(&body), false),
            ("STREAM", "PURGE", _) => (self.api_purge(&body), true),
            ("STREAM", "MSG", Some("GET")) => (self.api_msg_get(&body).await, false),
            ("STREAM", "MSG", Some("DELETE")) => (self.api_msg_delete(&body), true),
            ("CONSUMER", _, _) => return self.consumer_api(api, message, held),
            _ => return,
        };
        let bytes = match answer {
            Ok(bytes) => bytes,
            Err(bytes) => {
                self.count_api_error();
                bytes
            }
        };
        let Some(reply) = message.reply.clone() else {
            return;
        };
        if mutating {
            held.push(Held {
                reply,
                body: bytes,
                publish: false,
                arrived: None,
            });
        } else {
            self.send(reply, bytes);
        }
    }

    fn api_info(&self, body: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        let request = api::StreamInfoRequest::parse(body)
            .map_err(|e| api::StreamInfoResponse::error(e).to_json())?;
        let (info, paged) = self.info_paged(
            request.deleted_details,
            Some(request.subjects_filter.as_str()),
            request.offset(),
        );
        Ok(api::StreamInfoResponse {
            error: None,
            paged,
            info: Some(info),
        }
        .to_json())
    }

    fn api_purge(&self, body: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        let fail = |e: JsError| api::StreamPurgeResponse::error(e).to_json();
        let config = self.config.borrow();
        if config.sealed {
            return Err(fail(JsError::stream_sealed()));
        }
        if config.deny_purge {
            return Err(fail(JsError::stream_purge_failed(
                "stream purge not permitted",
            )));
        }
        let request = api::PurgeRequest::parse(body).map_err(fail)?;
        let purged = match request {
            None => self.store.borrow_mut().purge(None, None, None),
            Some(request) => self.store.borrow_mut().purge(
                (!request.filter.is_empty()).then_some(request.filter.as_bytes()),
                (request.seq > 0).then_some(request.seq),
                (request.keep > 0).then_some(request.keep),
            ),
        };
        Ok(api::StreamPurgeResponse {
            success: true,
            purged,
            ..Default::default()
        }
        .to_json())
    }

    fn api_msg_delete(&self, body: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        let fail = |e: JsError| api::StreamMsgDeleteResponse::error(e).to_json();
        let config = self.config.borrow();
        if config.sealed {
            return Err(fail(JsError::stream_sealed()));
        }
        if config.deny_delete {
            return Err(fail(JsError::stream_msg_delete_failed(
                "message delete not permitted",
            )));
        }
        let request = api::MsgDeleteRequest::parse(body).map_err(fail)?;
        let erasure = if request.no_erase {
            None
        } else {
            self.erasure(request.seq)
        };
        if !self.store.borrow_mut().delete(request.seq) {
            return Err(fail(JsError::sequence_not_found(request.seq)));
        }
        if let Some(erasure) = erasure {
            self.erase.borrow_mut().push(erasure);
        }
        Ok(api::StreamMsgDeleteResponse {
            success: true,
            ..Default::default()
        }
        .to_json())
    }

    /// A same-length record for message `seq` with random headers and payload, to write
    /// over it once its tombstone is durable (nats-server's secure erase). The replacement
    /// still frames and checksums correctly, so recovery reads past it; the tombstone
    /// keeps it deleted.
    fn erasure(&self, seq: u64) -> Option<(u64, u64, Vec<u8>)> {
        use rand::RngCore;
        let store = self.store.borrow();
        let location = store.location(seq)?;
        let view = store.get(seq)?;
        let (headers_len, payload_len) = match &view.body {
            store::MsgBody::Cached { headers, payload } => (headers.len(), payload.len()),
            // Not in memory: its lengths follow from the frame length and the subject.
            store::MsgBody::OnDisk(_) => {
                let fixed = store::record::msg_frame_len(view.subject.len(), 0, 0);
                (0, (location.len as usize).checked_sub(fixed)?)
            }
        };
        let mut rng = rand::thread_rng();
        let mut noise = vec![0u8; headers_len + payload_len];
        rng.fill_bytes(&mut noise);
        let noise = Bytes::from(noise);
        let record = store::Record::Msg {
            seq,
            ts_ns: view.ts_ns,
            subject: view.subject.clone(),
            headers: noise.slice(..headers_len),
            payload: noise.slice(headers_len..),
        };
        let mut bytes = Vec::with_capacity(location.len as usize);
        store::encode(&record, &mut bytes);
        (bytes.len() == location.len as usize).then_some((location.segment, location.offset, bytes))
    }

    async fn api_msg_get(&self, body: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        let fail = |e: JsError| api::StreamMsgGetResponse::error(e).to_json();
        let request = api::MsgGetRequest::parse_msg_get(body).map_err(fail)?;
        let seq = self.find(request.target()).map_err(fail)?;
        let message = self.read(seq).await.map_err(fail)?;
        Ok(api::StreamMsgGetResponse {
            message: Some(api::StoredMsg {
                subject: String::from_utf8_lossy(&message.subject).into_owned(),
                seq: message.seq,
                headers: message.headers.to_vec(),
                data: message.payload.to_vec(),
                time: api::GoTime::from_unix_nanos(message.ts_ns),
            }),
            ..Default::default()
        }
        .to_json())
    }

    /// The sequence a get request names.
    fn find(&self, target: api::MsgGetTarget<'_>) -> Result<u64, JsError> {
        let store = self.store.borrow();
        let found = match target {
            api::MsgGetTarget::Sequence(seq) => store.get(seq).map(|_| seq),
            api::MsgGetTarget::LastBySubject(subject) => store.last_for(subject.as_bytes()),
            api::MsgGetTarget::NextBySubject { from_seq, subject } => {
                store.next_for(from_seq.max(1), subject.as_bytes())
            }
            // Finding by time needs a time index the store does not keep yet.
            api::MsgGetTarget::StartTime { .. } => None,
        };
        found.ok_or_else(JsError::no_message_found)
    }

    /// A stored message, from memory or read back from its segment (checksum verified).
    /// A written record that fails the check is forgotten as lost (logged, listed in the
    /// stream's `lost` state) so that consumers move past it; an I/O error leaves it
    /// stored.
    async fn read(&self, seq: u64) -> Result<store::StoredMsg, JsError> {
        let view = self
            .store
            .borrow()
            .get(seq)
            .ok_or_else(JsError::no_message_found)?;
        let store::MsgBody::OnDisk(location) = view.body.clone() else {
            return view.into_cached().ok_or_else(JsError::no_message_found);
        };
        // A batch larger than the body cache evicts bodies before its write: those are
        // still in the pending batch, and only there.
        let pending = self
            .store
            .borrow()
            .pending_frame(location)
            .map(<[u8]>::to_vec);
        if let Some(bytes) = pending {
            return view.verify_read(&bytes).map_err(|error| {
                debug_assert!(false, "pending frame of seq {seq}: {error}");
                tracing::error!(
                    "JetStream: stream '{}': seq {seq} not readable from its pending write: {error}",
                    self.name()
                );
                JsError::no_message_found()
            });
        }
        // Only this stream's writer task touches its files (this runs inside it), so taking
        // them out for the read and putting them back cannot race.
        let Some(files) = self.files.borrow_mut().take() else {
            return Err(JsError::no_message_found());
        };
        let bytes = files
            .read(location.segment, location.offset, location.len as usize)
            .await;
        *self.files.borrow_mut() = Some(files);
        let bytes = bytes.map_err(|error| {
            tracing::error!(
                "JetStream: stream '{}': reading seq {seq}: {error}",
                self.name()
            );
            JsError::no_message_found()
        })?;
        view.verify_read(&bytes).map_err(|error| {
            tracing::error!(
                "JetStream: stream '{}': corrupt record for seq {seq} in segment {} at offset {}: {error}: not served, counted as lost",
                self.name(),
                location.segment,
                location.offset
            );
            let mut store = self.store.borrow_mut();
            // Unless the message went (or moved) while the read was on its way.
            if store.location(seq) == Some(location) {
                store.forget_damaged(seq);
            }
            JsError::no_message_found()
        })
    }

    /// `$JS.API.DIRECT.GET.<stream>[.<subject>]`: the raw message with its headers.
    async fn direct_get(&self, message: &InternalMessage) {
        let Some(reply) = message.reply.clone() else {
            return;
        };
        let subject = String::from_utf8_lossy(&message.subject).into_owned();
        // Our own name, or a mirrored origin's (`mirror_direct`).
        let name = {
            let config = self.config.borrow();
            match config.mirror.as_ref() {
                Some(mirror)
                    if config.mirror_direct
                        && is_direct_get_of(&subject, &mirror.name)
                        && !is_direct_get_of(&subject, &config.name) =>
                {
                    mirror.name.clone()
                }
                _ => config.name.clone(),
            }
        };
        let prefix = format!("$JS.API.DIRECT.GET.{name}");
        let body = message
            .body
            .slice(message.header_len.unwrap_or(0).min(message.body.len())..);
        let request = match subject.strip_prefix(&format!("{prefix}.")) {
            Some(last) => api::MsgGetRequest::parse_direct_get_last_by_subject(&body, last),
            None => api::MsgGetRequest::parse_direct_get(&body),
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                self.client.publish(
                    reply,
                    None,
                    Some(error.status_header().len()),
                    Bytes::from_static(error.status_header()),
                );
                return;
            }
        };
        if !request.multi_last.is_empty() {
            return self.direct_get_multi_last(reply, &request).await;
        }
        if request.batch > 0 {
            return self.direct_get_batch(reply, &request).await;
        }
        let stored = match self.find(request.target()) {
            Ok(seq) => self.read(seq).await,
            Err(e) => Err(e),
        };
        let Ok(stored) = stored else {
            return self.direct_status(reply, 404, "Message Not Found");
        };
        let (body, header_len) = self.direct_message(&stored, &[]);
        self.client.publish(reply, None, Some(header_len), body);
    }

    /// A stored message as DIRECT.GET returns it: its own headers plus the stream's, then
    /// `extra` (batch bookkeeping); the body and the header block's length.
    fn direct_message(&self, stored: &store::StoredMsg, extra: &[(&str, u64)]) -> (Bytes, usize) {
        let mut out = if stored.headers.is_empty() {
            b"NATS/1.0\r\n".to_vec()
        } else {
            // Drop the block's final blank line; ours follow.
            let mut h = stored.headers.to_vec();
            if h.ends_with(b"\r\n\r\n") {
                h.truncate(h.len() - 2);
            }
            h
        };
        out.extend_from_slice(format!("Nats-Stream: {}\r\n", self.name()).as_bytes());
        out.extend_from_slice(b"Nats-Subject: ");
        out.extend_from_slice(&stored.subject);
        out.extend_from_slice(format!("\r\nNats-Sequence: {}\r\n", stored.seq).as_bytes());
        out.extend_from_slice(
            format!(
                "Nats-Time-Stamp: {}\r\n",
                api::GoTime::from_unix_nanos(stored.ts_ns).to_rfc3339_nanos()
            )
            .as_bytes(),
        );
        for (name, value) in extra {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        let header_len = out.len();
        out.extend_from_slice(&stored.payload);
        (Bytes::from(out), header_len)
    }

    /// `{"seq":N,"batch":B,"next_by_subj":F,"max_bytes":M}`: up to B messages from N on F,
    /// then the end-of-batch status (ADR-31).
    async fn direct_get_batch(&self, reply: Bytes, request: &api::MsgGetRequest) {
        let filter = if request.next_by_subject.is_empty() {
            ">".to_string()
        } else {
            request.next_by_subject.clone()
        };
        let max_bytes = if request.max_bytes > 0 {
            request.max_bytes as usize
        } else {
            DIRECT_BATCH_BYTES_MAX
        };
        let batch = (request.batch as usize).min(DIRECT_BATCH_MSGS_MAX);
        let mut next = request.seq.max(1);
        let (mut sent, mut sent_bytes, mut last_sent) = (0usize, 0usize, 0u64);
        while sent < batch {
            let found = self.store.borrow().next_for(next, filter.as_bytes());
            let Some(seq) = found else { break };
            next = seq + 1;
            let Ok(stored) = self.read(seq).await else {
                continue;
            };
            let size = stored.headers.len() + stored.payload.len();
            if sent > 0 && sent_bytes + size > max_bytes {
                break;
            }
            let pending = self.store.borrow().num_pending(seq + 1, filter.as_bytes());
            let (body, header_len) = self.direct_message(
                &stored,
                &[
                    ("Nats-Num-Pending", pending),
                    ("Nats-Last-Sequence", last_sent),
                ],
            );
            self.client
                .publish(reply.clone(), None, Some(header_len), body);
            sent += 1;
            sent_bytes += size;
            last_sent = seq;
        }
        if sent == 0 {
            return self.direct_status(reply, 404, "Message Not Found");
        }
        let pending = self.store.borrow().num_pending(next, filter.as_bytes());
        self.end_of_batch(reply, pending, last_sent, None);
    }

    /// `{"multi_last":[filters],"up_to_seq":N,"batch":B}`: the newest message (at or below
    /// N) of every subject matching the filters, in sequence order, then end-of-batch.
    async fn direct_get_multi_last(&self, reply: Bytes, request: &api::MsgGetRequest) {
        let up_to = if request.up_to_seq > 0 {
            request.up_to_seq
        } else {
            self.store.borrow().state().last_seq
        };
        let mut seqs = Vec::new();
        {
            let store = self.store.borrow();
            let mut subjects = std::collections::BTreeSet::new();
            for filter in &request.multi_last {
                for (subject, _) in store.subject_counts(filter.as_bytes()) {
                    subjects.insert(subject);
                    if subjects.len() > DIRECT_MULTI_SUBJECTS_MAX {
                        drop(store);
                        return self.direct_status(reply, 413, "Too Many Subjects");
                    }
                }
            }
            for subject in subjects {
                let last = match store.last_for(&subject) {
                    Some(last) if last <= up_to => Some(last),
                    // Newer than the point in time asked for: walk the subject's history.
                    Some(_) => {
                        let mut best = None;
                        let mut at = 1;
                        while let Some(seq) = store.next_for(at, &subject) {
                            if seq > up_to {
                                break;
                            }
                            best = Some(seq);
                            at = seq + 1;
                        }
                        best
                    }
                    None => None,
                };
                seqs.extend(last);
            }
        }
        seqs.sort_unstable();
        let limit = if request.batch > 0 {
            (request.batch as usize).min(DIRECT_BATCH_MSGS_MAX)
        } else {
            DIRECT_BATCH_MSGS_MAX
        };
        if seqs.is_empty() {
            return self.direct_status(reply, 404, "Message Not Found");
        }
        let total = seqs.len();
        let mut last_sent = 0;
        for (i, seq) in seqs.iter().take(limit).enumerate() {
            let Ok(stored) = self.read(*seq).await else {
                continue;
            };
            let pending = (total - i - 1) as u64;
            let (body, header_len) = self.direct_message(
                &stored,
                &[
                    ("Nats-Num-Pending", pending),
                    ("Nats-Last-Sequence", last_sent),
                    ("Nats-UpTo-Sequence", up_to),
                ],
            );
            self.client
                .publish(reply.clone(), None, Some(header_len), body);
            last_sent = *seq;
        }
        let pending = total.saturating_sub(limit) as u64;
        self.end_of_batch(reply, pending, last_sent, Some(up_to));
    }

    fn end_of_batch(&self, reply: Bytes, pending: u64, last: u64, up_to: Option<u64>) {
        let mut status = format!(
            "NATS/1.0 204 EOB\r\nNats-Num-Pending: {pending}\r\nNats-Last-Sequence: {last}\r\n"
        );
        if let Some(up_to) = up_to {
            status.push_str(&format!("Nats-UpTo-Sequence: {up_to}\r\n"));
        }
        status.push_str("\r\n");
        let len = status.len();
        self.client
            .publish(reply, None, Some(len), Bytes::from(status));
    }

    fn direct_status(&self, reply: Bytes, code: u16, text: &str) {
        let headers = format!("NATS/1.0 {code} {text}\r\n\r\n");
        let len = headers.len();
        self.client
            .publish(reply, None, Some(len), Bytes::from(headers));
    }

    // -----------------------------------------------------------------------------------
    // Durability
    // -----------------------------------------------------------------------------------

    /// Writes what the store logged since the last call; fsyncs when the sync policy says
    /// so (or `force`).
    async fn persist_log(&self) -> io::Result<()> {
        let (batch, point) = {
            let mut store = self.store.borrow_mut();
            (store.take_log(), store.log_point())
        };
        // Taken out for the awaits and put back: only the writer task uses the files.
        let Some(mut files) = self.files.borrow_mut().take() else {
            return Ok(());
        };
        let result = self.write_batch(&mut files, batch, point).await;
        *self.files.borrow_mut() = Some(files);
        result
    }

    async fn write_batch(
        &self,
        files: &mut SegmentFiles,
        batch: store::LogBatch,
        point: Option<store::SyncedPoint>,
    ) -> io::Result<()> {
        for op in &batch.ops {
            match op {
                store::LogOp::NewSegment { id } => files.create(*id).await?,
                store::LogOp::Append {
                    segment, offset, ..
                } => {
                    files
                        .write(*segment, *offset, batch.bytes_of(op).to_vec())
                        .await?
                }
                store::LogOp::RemoveSegment { id } => {
                    // The records that made the segment dead must be durable first.
                    if files.has_unsynced() {
                        files.sync().await?;
                    }
                    files.remove(*id).await?
                }
            }
        }
        self.store.borrow_mut().recycle_log(batch);
        let sync_now = match self.js.sync {
            SyncInterval::Always => true,
            SyncInterval::EveryMs(ms) => {
                self.last_sync.get().elapsed() >= Duration::from_millis(ms)
            }
        };
        if sync_now && files.has_unsynced() {
            files.sync().await?;
            self.last_sync.set(std::time::Instant::now());
        }
        if !files.has_unsynced() && point.is_some() {
            // Everything up to the end of this batch is durable.
            self.synced.set(point);
        }
        // Erase deleted messages only once their tombstones are on disk: an erased record
        // without its tombstone would come back at recovery as a message of noise.
        if !files.has_unsynced() {
            let erase = std::mem::take(&mut *self.erase.borrow_mut());
            for (segment, offset, bytes) in erase {
                files.write(segment, offset, bytes).await?;
            }
        }
        Ok(())
    }

    /// Makes the synced point durable when it moved and the last time was at least
    /// `JS_SYNCED_POINT_INTERVAL_MS` ago: at most one extra fsync per interval instead of
    /// one per commit (see `store::synced` for what that leaves unchecked).
    async fn record_synced_point(&self) {
        let point = self.synced.get();
        if point.is_none()
            || point == self.recorded.get()
            || self.recorded_at.get().elapsed() < Duration::from_millis(JS_SYNCED_POINT_INTERVAL_MS)
        {
            return;
        }
        let Some(point) = point else { return };
        // Taken out for the await and put back: only the writer task uses it.
        let Some(file) = self.synced_file.borrow_mut().take() else {
            return;
        };
        self.recorded_at.set(Instant::now());
        match file.record(point).await {
            Ok(()) => self.recorded.set(Some(point)),
            Err(error) => tracing::warn!(
                "JetStream: stream '{}': can not record the synced point: {error}",
                self.name()
            ),
        }
        *self.synced_file.borrow_mut() = Some(file);
    }

    /// At clean shutdown (a hook, which cannot await): records the synced point so a
    /// later cut of the log's tail is always detected.
    pub fn record_synced_point_at_shutdown(&self) {
        let point = self.synced.get();
        if point.is_none() || point == self.recorded.get() {
            return;
        }
        let Some(point) = point else { return };
        let file = self.synced_file.borrow();
        // Absent while the writer is recording a point itself (it takes the file across
        // that await): that write goes on without this one.
        let Some(file) = file.as_ref() else { return };
        match file.record_blocking(point) {
            Ok(()) => self.recorded.set(Some(point)),
            Err(error) => tracing::warn!(
                "JetStream: stream '{}': can not record the synced point: {error}",
                self.name()
            ),
        }
    }

    /// After a failed write: cut the files back to what the store can vouch for by reloading
    /// from disk (what is on disk is the truth), until that works.
    async fn recover_from_disk_error(&self) {
        let Some(dir) = &self.dir else { return };
        self.disk_failed.set(true);
        loop {
            shards::time::sleep(Duration::from_millis(JS_DISK_RETRY_MS)).await;
            if self.closed.get() {
                return;
            }
            let old = self.files.borrow_mut().take();
            if let Some(old) = old {
                old.close().await;
            }
            let config = self.config.borrow().clone();
            let old = self.synced_file.borrow_mut().take();
            if let Some(old) = old {
                old.close().await;
            }
            let Ok(loaded) = Self::load(&config.name, &config, dir).await else {
                continue;
            };
            *self.dedup.borrow_mut() = loaded.dedup;
            *self.store.borrow_mut() = loaded.store;
            *self.files.borrow_mut() = loaded.files;
            *self.synced_file.borrow_mut() = loaded.synced_file;
            self.recorded.set(loaded.recorded);
            if loaded.synced.is_some() {
                self.synced.set(loaded.synced);
            }
            self.disk_failed.set(false);
            tracing::info!(
                "JetStream: stream '{}': disk writes work again",
                self.name()
            );
            return;
        }
    }
}

/// A stream as read from disk by `Stream::load`.
struct Loaded {
    store: MsgStore,
    dedup: DedupWindow,
    files: Option<SegmentFiles>,
    synced_file: Option<SyncedFile>,
    /// The synced point the file held (`None`: nothing recorded, or damaged).
    recorded: Option<store::SyncedPoint>,
    /// The point now durable, when recovery left nothing to write.
    synced: Option<store::SyncedPoint>,
}

/// What a publish came to.
enum Published {
    Stored(u64),
    /// Seen within the duplicate window: the original's sequence, nothing stored.
    Duplicate(u64),
}

enum Rollup {
    Subject,
    All,
}

/// Whether `subject` is `$JS.API.DIRECT.GET.<stream>` or below it.
fn is_direct_get_of(subject: &str, stream: &str) -> bool {
    subject
        .strip_prefix("$JS.API.DIRECT.GET.")
        .and_then(|rest| rest.strip_prefix(stream))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

fn store_error(error: &store::StoreError) -> JsError {
    match error {
        store::StoreError::MaxMsgSize => JsError::stream_message_exceeds_maximum(),
        other => JsError::stream_store_failed(other),
    }
}

/// The writer: drains the queue in batches (see the module doc).
async fn writer(stream: Rc<Stream>) {
    let mut held: Vec<Held> = Vec::new();
    loop {
        let wait = stream.next_wake();
        match wait {
            Some(delay) => {
                shards::time::timeout(delay, stream.work.wait()).await;
            }
            None => stream.work.wait().await,
        }
        if stream.closed.get() {
            break;
        }
        let now = now_ns();
        stream.store.borrow_mut().expire(now);
        stream.dedup.borrow_mut().expire(now);
        // Group commit: before paying for the fsync, let publishes already on their way
        // on this core (from connections and other cores' rings) join the batch.
        // ...and when the last commit carried more publishers than have arrived so far,
        // wait a little for the rest of them (bounded), instead of paying an fsync for one
        // while the others' next publishes are on the wire.
        let wait_started = Instant::now();
        let mut batch_publishes = 0usize;
        loop {
            for gather in 0..GATHER_ROUNDS_MAX {
                if gather > 0 {
                    shards::task::yield_now().await;
                }
                let items: Vec<Inbound> = stream.inbox.borrow_mut().drain(..).collect();
                if items.is_empty() && gather > 0 {
                    break;
                }
                stream.inbox_bytes.set(0);
                for item in items {
                    match item {
                        Inbound::Publish(message, arrived) => {
                            batch_publishes += 1;
                            let no_ack = stream.config.borrow().no_ack;
                            let outcome = if stream.disk_failed.get() {
                                Err(JsError::stream_store_failed(
                                    "stream storage is unavailable",
                                ))
                            } else {
                                stream.publish(&message, now)
                            };
                            let Some(reply) = message.reply.clone().filter(|_| !no_ack) else {
                                continue;
                            };
                            let name = stream.name();
                            let body = match outcome {
                                Ok(Published::Stored(seq)) => api::PubAck {
                                    stream: name,
                                    seq,
                                    ..Default::default()
                                }
                                .to_json(),
                                Ok(Published::Duplicate(seq)) => api::PubAck {
                                    stream: name,
                                    seq,
                                    duplicate: true,
                                    ..Default::default()
                                }
                                .to_json(),
                                Err(error) => stream.pub_error(&error),
                            };
                            held.push(Held {
                                reply,
                                body,
                                publish: true,
                                arrived: Some(arrived),
                            });
                        }
                        Inbound::Api(api, message) => {
                            stream.handle_api(&api, &message, &mut held).await
                        }
                        Inbound::DirectGet(message) => stream.direct_get(&message).await,
                        Inbound::Ack(message) => stream.process_ack(&message, &mut held),
                        Inbound::FlowControl(message) => stream.flow_control_reply(&message),
                        Inbound::Sourced(message) => stream.apply_sourced(&message, now),
                    }
                }
            }
            if !stream.worth_waiting(batch_publishes, wait_started) {
                break;
            }
            shards::time::sleep(Duration::from_micros(GROUP_COMMIT_STEP_US)).await;
        }
        stream.last_batch_publishes.set(batch_publishes);
        match stream.persist_log().await {
            Ok(()) => {
                stream.sync_acked_consumers();
                for answer in held.drain(..) {
                    stream.send(answer.reply, answer.body);
                    if let Some(arrived) = answer.arrived {
                        super::monitor::record_publish_ack(arrived.elapsed());
                    }
                }
                // After the answers: its fsync must not delay them.
                stream.record_synced_point().await;
            }
            Err(error) => {
                tracing::error!(
                    "JetStream: stream '{}': write failed, {} answers turned into errors: {error}",
                    stream.name(),
                    held.len()
                );
                let failure = JsError::stream_store_failed(&error);
                for answer in held.drain(..) {
                    let body = if answer.publish {
                        stream.pub_error(&failure)
                    } else {
                        api::StreamMsgDeleteResponse::error(failure.clone()).to_json()
                    };
                    stream.send(answer.reply, body);
                }
                stream.recover_from_disk_error().await;
            }
        }
        // Consumers see what is now durable: removals first, then deliveries, timers and
        // heartbeats. Acks retired on the way are logged with the next batch.
        stream.consumers_on_removals();
        if stream.run_consumers().await {
            stream.work.set();
        }
        stream.consumers_on_removals();
        if !stream.store.borrow().take_log_is_empty() {
            stream.work.set();
        }
        stream.report_usage();
        shards::task::yield_if_needed().await;
    }
    // Flush whatever is left so a clean shutdown or delete leaves a consistent log.
    let _ = stream.persist_log().await;
    stream.close_consumers(stream.deleting.get());
    stream.finished.set();
}

impl Stream {
    /// Whether a commit holding `publishes` should wait for more before its fsync: only
    /// file streams that fsync per ack, only while fewer publishes arrived than the last
    /// commit carried, and never past [`GROUP_COMMIT_WAIT_MAX_US`].
    fn worth_waiting(&self, publishes: usize, since: Instant) -> bool {
        self.js.sync == SyncInterval::Always
            && self.dir.is_some()
            && publishes > 0
            && publishes < self.last_batch_publishes.get()
            && since.elapsed() < Duration::from_micros(GROUP_COMMIT_WAIT_MAX_US)
    }

    /// How long the writer may sleep: until the next message expires, or the next periodic
    /// sync; `None` when nothing is due.
    fn next_wake(&self) -> Option<Duration> {
        let mut wake: Option<Duration> = None;
        if let Some(at) = self.store.borrow().next_expiry_ns() {
            let delay = Duration::from_nanos((at - now_ns()).max(0) as u64);
            wake = Some(delay);
        }
        if let Some(at) = self.consumers_deadline_ns() {
            let delay = Duration::from_nanos((at - now_ns()).max(0) as u64);
            wake = Some(wake.map_or(delay, |w| w.min(delay)));
        }
        if self.synced.get().is_some() && self.synced.get() != self.recorded.get() {
            let due = Duration::from_millis(JS_SYNCED_POINT_INTERVAL_MS)
                .saturating_sub(self.recorded_at.get().elapsed());
            wake = Some(wake.map_or(due, |w| w.min(due)));
        }
        if let SyncInterval::EveryMs(ms) = self.js.sync {
            let files = self.files.borrow();
            if files.as_ref().is_some_and(SegmentFiles::has_unsynced) {
                let due = Duration::from_millis(ms).saturating_sub(self.last_sync.get().elapsed());
                wake = Some(wake.map_or(due, |w| w.min(due)));
            }
        }
        wake
    }
}
