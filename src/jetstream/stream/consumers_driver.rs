//! The stream's side of its consumers: the consumer API, acks, and deliveries, all run by
//! the stream's writer task (see [`super`]), with the consumers' state machines in
//! [`crate::jetstream::consumer`] and the glue in [`crate::jetstream::consumers`].

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Held, Inbound, Stream};
use crate::jetstream::api::{self, ApiResponse, JsError, StorageType};
use crate::jetstream::consumer::{self, ConsumerState, PullAction, PushAction};
use crate::jetstream::consumers::{
    self as glue, ack_kind, ack_subject, consumer_error, heartbeat, pull_status, settings_of,
    Consumer, ConsumerMeta, Mode, StoreSource, CONSUMERS_DIR, DELIVERIES_PER_TURN,
};
use crate::jetstream::now_ns;
use crate::server::client::InternalMessage;

impl Stream {
    fn consumers_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(CONSUMERS_DIR))
    }

    /// Reopens the durable consumers saved with a file stream.
    pub(super) fn load_consumers(self: &Rc<Self>) {
        let Some(dir) = &self.dir else { return };
        let retention = self.config.borrow().retention;
        let stream = self.name();
        for (meta, snapshot, consumer_dir) in glue::load_saved(dir) {
            let settings = settings_of(&meta.config, &retention);
            let state = {
                let store = self.store.borrow();
                let source = StoreSource(&store);
                match &snapshot {
                    Some(snapshot) => ConsumerState::restore(settings, snapshot, &source),
                    None => ConsumerState::new(settings, &source),
                }
            };
            let mut state = match state {
                Ok(state) => state,
                Err(error) => {
                    tracing::error!(
                        "JetStream: consumer '{}' of '{stream}' can not be restored: {error}",
                        meta.name
                    );
                    continue;
                }
            };
            state.expire(now_ns());
            let (last_seq, burst) = self.pacing_bounds();
            let mut consumer = Consumer::new(
                meta.name.clone(),
                meta.config,
                meta.created,
                state,
                &stream,
                Some(consumer_dir),
            )
            .with_pacing(last_seq, burst);
            consumer.dirty = false;
            self.subscribe_consumer(&mut consumer);
            self.js.consumers.fetch_add(1, Ordering::Relaxed);
            self.account.consumers.fetch_add(1, Ordering::Relaxed);
            self.consumers.borrow_mut().insert(meta.name, consumer);
        }
    }

    /// The stream's last sequence (where `replay_policy: original` ends) and the burst of
    /// `rate_limit_bps`: the largest message the stream takes (nats-server's `setRateLimit`).
    fn pacing_bounds(&self) -> (u64, u64) {
        let last_seq = self.store.borrow().state().last_seq;
        let max_msg_size = self.config.borrow().max_msg_size_bytes;
        let burst = if max_msg_size > 0 {
            max_msg_size as u64
        } else {
            crate::config::options::MAX_PAYLOAD_BYTES_DEFAULT as u64
        };
        (last_seq, burst)
    }

    fn subscribe_consumer(self: &Rc<Self>, consumer: &mut Consumer) {
        let stream = self.name();
        let acks = format!("$JS.ACK.{stream}.{}.>", consumer.name);
        let weak = Rc::downgrade(self);
        if let Ok(sid) = self.client.subscribe(&acks, None, move |message| {
            if let Some(stream) = weak.upgrade() {
                stream.enqueue(Inbound::Ack(message));
            }
        }) {
            consumer.sids.push(sid);
        }
        if consumer.config.flow_control {
            let replies = format!("$JS.FC.{stream}.{}.>", consumer.name);
            let weak = Rc::downgrade(self);
            if let Ok(sid) = self.client.subscribe(&replies, None, move |message| {
                if let Some(stream) = weak.upgrade() {
                    stream.enqueue(Inbound::FlowControl(message));
                }
            }) {
                consumer.sids.push(sid);
            }
        }
    }

    /// Removes a consumer: its subscriptions, its waiting pull requests (`409 Consumer
    /// Deleted`) and its saved state.
    pub(super) fn drop_consumer(&self, mut consumer: Consumer) {
        for sid in consumer.sids.drain(..) {
            self.client.unsubscribe(&sid);
        }
        if let Mode::Pull { queue } = &mut consumer.mode {
            let mut actions = Vec::new();
            queue.release_all(consumer::Status::ConsumerDeleted, &mut actions);
            self.send_pull_actions(&actions);
        }
        if let Some(dir) = &consumer.dir {
            if let Err(error) = shards::file::remove_dir_all_durable(dir) {
                tracing::error!("JetStream: removing consumer '{}': {error}", consumer.name);
            }
        }
        self.js.consumers.fetch_sub(1, Ordering::Relaxed);
        self.account.consumers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Every consumer goes (the stream is being deleted or the server stops).
    pub(super) fn close_consumers(&self, delete: bool) {
        let consumers = std::mem::take(&mut *self.consumers.borrow_mut());
        for (_, mut consumer) in consumers {
            if delete {
                self.drop_consumer(consumer);
            } else {
                let _ = consumer.persist(now_ns(), true);
                for sid in consumer.sids.drain(..) {
                    self.client.unsubscribe(&sid);
                }
                // No longer running (its state stays on disk for the next start).
                self.js.consumers.fetch_sub(1, Ordering::Relaxed);
                self.account.consumers.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Writes every durable consumer's state now (shutdown).
    pub fn save_consumers(&self) {
        let now = now_ns();
        for consumer in self.consumers.borrow_mut().values_mut() {
            let _ = consumer.persist(now, true);
        }
    }

    /// Writes the state of every consumer that got acks asking for a reply (double ack,
    /// `AckSync`) in this batch, then sends those replies: a confirmed ack is on disk, so
    /// a crash right after the reply does not redeliver the message. When the write
    /// fails the replies are not sent (the client's ack times out and it tries again).
    pub(super) fn sync_acked_consumers(&self) {
        let now = now_ns();
        let mut replies = Vec::new();
        for consumer in self.consumers.borrow_mut().values_mut() {
            if !std::mem::take(&mut consumer.sync_requested) {
                continue;
            }
            let pending = std::mem::take(&mut consumer.sync_replies);
            if consumer.persist(now, true) {
                replies.extend(pending);
            } else {
                tracing::error!(
                    "JetStream: consumer '{}': {} ack replies withheld, its state is not on disk",
                    consumer.name,
                    pending.len()
                );
            }
        }
        for reply in replies {
            self.send(reply, Vec::new());
        }
    }

    /// Gives monitoring (`/jsz?consumers=true`) the consumers' info when due.
    pub(super) fn refresh_consumer_details(&self) {
        let now = now_ns();
        let consumers = self.consumers.borrow();
        if !self.snapshot.consumers_due(now, consumers.len()) {
            return;
        }
        let infos = consumers
            .values()
            .map(|consumer| self.consumer_info_of(consumer))
            .collect();
        self.snapshot.refresh_consumers(now, infos);
    }

    pub(super) fn consumer_count(&self) -> u64 {
        self.consumers.borrow().len() as u64
    }

    /// Does any consumer want messages on `subject` (interest retention)?
    pub(super) fn has_interest(&self, subject: &[u8]) -> bool {
        self.consumers
            .borrow()
            .values()
            .any(|c| c.state.settings().matches(subject))
    }

    pub(super) fn consumers_on_append(&self, seq: u64, subject: &[u8]) {
        for consumer in self.consumers.borrow_mut().values_mut() {
            consumer.state.on_stream_append(seq, subject);
        }
    }

    /// After anything removed messages (limits, purge, delete, acks on interest and work
    /// queue streams): every consumer drops what is gone and recounts.
    pub(super) fn consumers_on_removals(&self) {
        let store = self.store.borrow();
        if store.removals() == self.removals_seen.get() {
            return;
        }
        self.removals_seen.set(store.removals());
        let source = StoreSource(&store);
        for consumer in self.consumers.borrow_mut().values_mut() {
            consumer.state.on_stream_purge(&source);
            consumer.dirty = true;
        }
    }

    pub(super) fn consumers_deadline_ns(&self) -> Option<i64> {
        self.consumers
            .borrow()
            .values()
            .filter_map(Consumer::next_deadline_ns)
            .chain(self.snapshot.consumers_refresh_at_ns())
            .min()
    }

    // -----------------------------------------------------------------------------------
    // API
    // -----------------------------------------------------------------------------------

    /// `$JS.API.CONSUMER.*` for this stream. Answers are sent at once (creates and deletes
    /// of durable consumers write their files synchronously before answering).
    pub(super) fn consumer_api(
        self: &Rc<Self>,
        api_subject: &str,
        message: &InternalMessage,
        held: &mut Vec<Held>,
    ) {
        let tokens: Vec<&str> = api_subject.split('.').collect();
        let body = message
            .body
            .slice(message.header_len.unwrap_or(0).min(message.body.len())..);
        let answer = match tokens.as_slice() {
            ["CONSUMER", "CREATE", ..] | ["CONSUMER", "DURABLE", "CREATE", ..] => Some((
                "consumer_create_response",
                self.consumer_create(&format!("$JS.API.{api_subject}"), &body),
            )),
            ["CONSUMER", "INFO", _, name] => {
                Some(("consumer_info_response", self.consumer_info(name, &body)))
            }
            ["CONSUMER", "DELETE", _, name] => Some((
                "consumer_delete_response",
                self.consumer_delete(name, &body),
            )),
            ["CONSUMER", "NAMES", _] => {
                Some(("consumer_names_response", self.consumer_names(&body)))
            }
            ["CONSUMER", "LIST", _] => Some(("consumer_list_response", self.consumer_list(&body))),
            ["CONSUMER", "PAUSE", _, name] => {
                Some(("consumer_pause_response", self.consumer_pause(name, &body)))
            }
            ["CONSUMER", "MSG", "NEXT", _, name] => {
                self.pull_request(name, message.reply.clone(), &body);
                None
            }
            _ => None,
        };
        let Some((type_name, answer)) = answer else {
            return;
        };
        let bytes = answer.unwrap_or_else(|error| {
            self.count_api_error();
            consumer_error(type_name, error)
        });
        if let Some(reply) = message.reply.clone() {
            held.push(Held {
                reply,
                body: bytes,
                publish: false,
                arrived: None,
            });
        }
    }

    fn consumer_create(self: &Rc<Self>, subject: &str, body: &[u8]) -> Result<Vec<u8>, JsError> {
        let Some(form) = api::ConsumerCreateSubject::parse(subject) else {
            return Err(JsError::bad_request());
        };
        let request = api::CreateConsumerRequest::decode(body)?.normalised(&form)?;
        let stream_config = self.config.borrow().clone();
        let plan = {
            let consumers = self.consumers.borrow();
            let existing: Vec<api::ExistingConsumer<'_>> = consumers
                .values()
                .map(|c| api::ExistingConsumer {
                    name: &c.name,
                    config: &c.config,
                    deliver_subject_has_interest: !c.config.deliver_subject.is_empty()
                        && self
                            .client
                            .has_interest(c.config.deliver_subject.as_bytes()),
                })
                .collect();
            let account_limits = self.account.limits();
            api::plan_create(
                &request,
                &stream_config,
                &api::ConsumerLimits {
                    account_max_consumers: account_limits.max_consumers,
                    account_max_ack_pending: account_limits.max_ack_pending,
                    ..api::ConsumerLimits::default()
                },
                &existing,
                &glue::generated_name(),
            )?
        };
        let name = match plan {
            api::ConsumerPlan::Create { name, config } => {
                self.add_consumer(name.clone(), config)?;
                name
            }
            api::ConsumerPlan::Update {
                name,
                config,
                changed,
            } => {
                if changed {
                    self.update_consumer(&name, config)?;
                }
                name
            }
        };
        let consumers = self.consumers.borrow();
        let consumer = consumers
            .get(&name)
            .ok_or_else(JsError::consumer_not_found)?;
        Ok(api::ConsumerCreateResponse {
            info: Some(self.consumer_info_of(consumer)),
            ..Default::default()
        }
        .to_json())
    }

    fn add_consumer(
        self: &Rc<Self>,
        name: String,
        config: api::ConsumerConfig,
    ) -> Result<(), JsError> {
        let stream = self.name();
        let retention = self.config.borrow().retention;
        let settings = settings_of(&config, &retention);
        let state = {
            let store = self.store.borrow();
            ConsumerState::new(settings, &StoreSource(&store)).map_err(JsError::consumer_create)?
        };
        let file_backed = config.is_durable()
            && !config.memory_storage
            && self.config.borrow().storage == StorageType::File;
        let dir = file_backed
            .then(|| self.consumers_dir().map(|d| d.join(&name)))
            .flatten();
        let created = now_ns();
        if let Some(dir) = &dir {
            glue::write_meta(
                dir,
                &ConsumerMeta {
                    name: name.clone(),
                    config: config.clone(),
                    created,
                },
            )
            .map_err(JsError::consumer_create)?;
        }
        let (last_seq, burst) = self.pacing_bounds();
        let mut consumer = Consumer::new(name.clone(), config, created, state, &stream, dir)
            .with_pacing(last_seq, burst);
        self.subscribe_consumer(&mut consumer);
        self.js.consumers.fetch_add(1, Ordering::Relaxed);
        self.account.consumers.fetch_add(1, Ordering::Relaxed);
        self.consumers.borrow_mut().insert(name, consumer);
        self.work.set();
        Ok(())
    }

    fn update_consumer(&self, name: &str, config: api::ConsumerConfig) -> Result<(), JsError> {
        let retention = self.config.borrow().retention;
        let settings = settings_of(&config, &retention);
        let store = self.store.borrow();
        let mut consumers = self.consumers.borrow_mut();
        let consumer = consumers
            .get_mut(name)
            .ok_or_else(JsError::consumer_not_found)?;
        consumer
            .state
            .update_settings(settings, &StoreSource(&store))
            .map_err(JsError::consumer_create)?;
        match &mut consumer.mode {
            Mode::Pull { queue } => queue.set_limits(glue::pull_limits(&config)),
            // Only an unbound push consumer may get a new deliver subject (the API layer
            // refuses it otherwise).
            Mode::Push {
                deliver_subject, ..
            } => *deliver_subject = Bytes::copy_from_slice(config.deliver_subject.as_bytes()),
        }
        let rate_changed = config.rate_limit_bps != consumer.config.rate_limit_bps;
        if let Some(dir) = &consumer.dir {
            glue::write_meta(
                dir,
                &ConsumerMeta {
                    name: name.to_string(),
                    config: config.clone(),
                    created: consumer.created_ns,
                },
            )
            .map_err(JsError::consumer_create)?;
        }
        consumer.sample_percent = config.sample_percent();
        consumer.config = config;
        if rate_changed && matches!(consumer.mode, Mode::Push { .. }) {
            let burst = self.pacing_bounds().1;
            consumer.rate =
                consumer::RateLimiter::new(consumer.config.rate_limit_bps, burst, now_ns());
            consumer.rate_paid_seq = None;
            consumer.paced_until_ns = 0;
        }
        consumer.dirty = true;
        self.work.set();
        Ok(())
    }

    fn consumer_info_of(&self, consumer: &Consumer) -> api::ConsumerInfo {
        let bound = match &consumer.mode {
            Mode::Push {
                deliver_subject, ..
            } => self.client.has_interest(deliver_subject),
            Mode::Pull { .. } => false,
        };
        let store = self.store.borrow();
        let mut info = consumer.info(&self.name(), &StoreSource(&store), bound);
        info.cluster = Some(api::ClusterInfo {
            leader: self
                .owner
                .upgrade()
                .map(|o| o.state.shared.server_name.clone())
                .unwrap_or_default(),
            ..Default::default()
        });
        info
    }

    fn consumer_info(&self, name: &str, body: &[u8]) -> Result<Vec<u8>, JsError> {
        api::check_empty_request(body)?;
        let consumers = self.consumers.borrow();
        let consumer = consumers
            .get(name)
            .ok_or_else(JsError::consumer_not_found)?;
        Ok(api::ConsumerInfoResponse {
            info: Some(self.consumer_info_of(consumer)),
            ..Default::default()
        }
        .to_json())
    }

    fn consumer_delete(&self, name: &str, body: &[u8]) -> Result<Vec<u8>, JsError> {
        api::check_empty_request(body)?;
        let consumer = self.consumers.borrow_mut().remove(name);
        let consumer = consumer.ok_or_else(JsError::consumer_not_found)?;
        self.drop_consumer(consumer);
        Ok(api::ConsumerDeleteResponse {
            success: true,
            ..Default::default()
        }
        .to_json())
    }

    /// `CONSUMER.PAUSE.<stream>.<consumer>` (nats-server 2.11, ADR-48): `pause_until` in
    /// the future pauses deliveries until then; none, or one in the past, resumes. The
    /// answer says whether it is paused now; an advisory tells watchers.
    fn consumer_pause(&self, name: &str, body: &[u8]) -> Result<Vec<u8>, JsError> {
        #[derive(serde::Deserialize, Default)]
        struct PauseRequest {
            #[serde(default)]
            pause_until: Option<api::GoTime>,
        }
        let request: PauseRequest = if body.iter().all(u8::is_ascii_whitespace) {
            PauseRequest::default()
        } else {
            serde_json::from_slice(body).map_err(|_| JsError::bad_request())?
        };
        let now = now_ns();
        let mut consumers = self.consumers.borrow_mut();
        let consumer = consumers
            .get_mut(name)
            .ok_or_else(JsError::consumer_not_found)?;
        let until = request
            .pause_until
            .map(|t| t.to_utc())
            .filter(|t| t.unix_nanos_saturating() > now);
        consumer.config.pause_until = until;
        if let Some(dir) = &consumer.dir {
            glue::write_meta(
                dir,
                &ConsumerMeta {
                    name: name.to_string(),
                    config: consumer.config.clone(),
                    created: consumer.created_ns,
                },
            )
            .map_err(JsError::consumer_create)?;
        }
        let (paused, remaining) = api::consumer_info::pause_state(&consumer.config, now);
        let shown_until = until.unwrap_or_default();
        drop(consumers);
        let advisory = serde_json::json!({
            "type": "io.nats.jetstream.advisory.v1.consumer_pause",
            "id": glue::generated_name() + &glue::generated_name() + &glue::generated_name(),
            "timestamp": api::GoTime::from_unix_nanos(now),
            "stream": self.name(),
            "consumer": name,
            "paused": paused,
            "pause_until": shown_until,
        });
        self.client.publish(
            Bytes::from(api::advisory_subject(
                "$JS.EVENT.ADVISORY.CONSUMER.PAUSE",
                &self.name(),
                name,
            )),
            None,
            None,
            Bytes::from(advisory.to_string()),
        );
        self.work.set();
        let mut answer = serde_json::json!({
            "type": "io.nats.jetstream.api.v1.consumer_pause_response",
            "paused": paused,
            "pause_until": shown_until,
        });
        if remaining > 0 {
            answer["pause_remaining"] = serde_json::json!(remaining);
        }
        Ok(answer.to_string().into_bytes())
    }

    fn consumer_names(&self, body: &[u8]) -> Result<Vec<u8>, JsError> {
        let request = api::ConsumerNamesRequest::parse(body)?;
        let names: Vec<String> = self.consumers.borrow().keys().cloned().collect();
        Ok(api::ConsumerNamesResponse::page(names, request.offset()).to_json())
    }

    fn consumer_list(&self, body: &[u8]) -> Result<Vec<u8>, JsError> {
        let request = api::ConsumerListRequest::parse(body)?;
        let consumers = self.consumers.borrow();
        let (range, paged) = api::responses::page(
            consumers.len(),
            request.offset(),
            crate::limits::JS_API_LIST_PAGE,
        );
        let infos = consumers
            .values()
            .skip(range.start)
            .take(range.len())
            .map(|c| self.consumer_info_of(c))
            .collect();
        Ok(api::ConsumerListResponse {
            paged,
            consumers: infos,
            ..Default::default()
        }
        .to_json())
    }

    // -----------------------------------------------------------------------------------
    // Acks, pull requests, flow control
    // -----------------------------------------------------------------------------------

    fn pull_request(&self, name: &str, reply: Option<Bytes>, body: &[u8]) {
        let Some(reply) = reply else { return };
        let mut consumers = self.consumers.borrow_mut();
        let Some(consumer) = consumers.get_mut(name) else {
            // nats-server answers a pull on a missing consumer with a 409 status.
            let status = api::ConsumerStatus::ConsumerDeleted.header_block();
            self.send_status(reply, status);
            return;
        };
        let request = match api::check_pull_request(&consumer.config, body, None) {
            Ok(request) => request,
            Err(status) => return self.send_status(reply, status.header_block()),
        };
        let Mode::Pull { queue } = &mut consumer.mode else {
            return;
        };
        let store = self.store.borrow();
        let source = StoreSource(&store);
        let available = consumer.state.info(&source, queue.len()).num_pending
            + consumer.state.redeliveries_queued();
        let now = now_ns();
        let interest = |subject: &[u8]| self.client.has_interest(subject);
        let mut actions = Vec::new();
        let waiting = queue.add(
            reply,
            consumer::PullRequest {
                batch: request.batch.max(1),
                expires_ns: request.expires_nanos,
                max_bytes: request.max_bytes,
                no_wait: request.no_wait,
                heartbeat_ns: request.idle_heartbeat_nanos,
            },
            now,
            available,
            &interest,
            &mut actions,
        );
        consumer.active_ns = now;
        drop(store);
        drop(consumers);
        self.send_pull_actions(&actions);
        if waiting {
            self.work.set();
        }
    }

    /// A message on `$JS.ACK.<stream>.<consumer>....`.
    pub(super) fn process_ack(&self, message: &InternalMessage, held: &mut Vec<Held>) {
        let Ok(subject) = std::str::from_utf8(&message.subject) else {
            return;
        };
        let Some(ack) = api::AckSubject::parse(subject) else {
            return;
        };
        let Some((kind, next)) = ack_kind(&message.body) else {
            // An unknown payload is ignored, but a double ack still gets its answer.
            if let Some(reply) = message.reply.clone() {
                held.push(Held {
                    reply,
                    body: Vec::new(),
                    publish: false,
                    arrived: None,
                });
            }
            return;
        };
        let now = now_ns();
        let mut consumers = self.consumers.borrow_mut();
        let Some(consumer) = consumers.get_mut(ack.consumer) else {
            return;
        };
        // Ack sampling (`sample_freq`) measures from the delivery, which the ack forgets.
        let sampled = (matches!(kind, consumer::AckKind::Ack) && consumer.should_sample())
            .then(|| consumer.state.pending_since_ns(ack.stream_seq))
            .flatten();
        let outcome = consumer
            .state
            .ack(ack.stream_seq, ack.consumer_seq, kind, now);
        if let Some((since_ns, deliveries)) = sampled.filter(|_| outcome.applied) {
            self.publish_ack_metric(&consumer.name, &ack, now - since_ns, deliveries, now);
        }
        if outcome.applied {
            consumer.dirty = true;
        }
        if outcome.reply {
            if let Some(reply) = message.reply.clone() {
                if consumer.dir.is_some() && consumer.dirty {
                    // Answered by `sync_acked_consumers` once the state is written.
                    consumer.sync_requested = true;
                    consumer.sync_replies.push(reply);
                } else {
                    held.push(Held {
                        reply,
                        body: Vec::new(),
                        publish: false,
                        arrived: None,
                    });
                }
            }
        }
        // `+NXT`: the ack's own reply subject pulls more.
        let pull_more = next.zip(message.reply.clone());
        let consumer_name = consumer.name.clone();
        let mut advisories: Vec<consumer::Advisory> =
            outcome.advisory.clone().into_iter().collect();
        while let Some(advisory) = consumer.state.poll_advisory() {
            advisories.push(advisory);
        }
        drop(consumers);
        for advisory in advisories {
            self.publish_advisory(&consumer_name, advisory);
        }
        self.retire_acked(outcome.acked.iter().collect());
        if let Some((request, reply)) = pull_more {
            self.pull_request(&consumer_name, Some(reply), &request);
        }
        self.work.set();
    }

    /// On interest and work-queue streams, removes acked messages no consumer still needs.
    fn retire_acked(&self, seqs: Vec<u64>) {
        if seqs.is_empty() || self.config.borrow().retention == api::RetentionPolicy::Limits {
            return;
        }
        for seq in seqs {
            let subject = match self.store.borrow().get(seq) {
                Some(view) => view.subject,
                None => continue,
            };
            let needed = self
                .consumers
                .borrow()
                .values()
                .any(|c| c.state.needs_ack(seq, &subject));
            if !needed {
                self.store.borrow_mut().delete(seq);
            }
        }
    }

    pub(super) fn flow_control_reply(&self, message: &InternalMessage) {
        let mut consumers = self.consumers.borrow_mut();
        for consumer in consumers.values_mut() {
            if let Mode::Push { push, .. } = &mut consumer.mode {
                if push.on_flow_control_reply(&message.subject) {
                    self.work.set();
                    return;
                }
            }
        }
    }

    /// `$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>` for a sampled ack.
    fn publish_ack_metric(
        &self,
        consumer_name: &str,
        ack: &api::AckSubject<'_>,
        ack_time_ns: i64,
        deliveries: u64,
        now: i64,
    ) {
        let metric = api::ConsumerAckMetric {
            type_name: api::ConsumerAckMetric::TYPE,
            id: glue::generated_name() + &glue::generated_name() + &glue::generated_name(),
            timestamp: api::GoTime::from_unix_nanos(now),
            stream: self.name(),
            consumer: consumer_name.to_string(),
            consumer_seq: ack.consumer_seq,
            stream_seq: ack.stream_seq,
            ack_time: ack_time_ns.max(0),
            deliveries,
            domain: String::new(),
        };
        self.client.publish(
            Bytes::from(metric.subject()),
            None,
            None,
            Bytes::from(metric.to_json()),
        );
    }

    /// `$JS.EVENT.ADVISORY.CONSUMER.{MAX_DELIVERIES,MSG_NAKED,MSG_TERMINATED}.<s>.<c>`.
    fn publish_advisory(&self, consumer_name: &str, advisory: consumer::Advisory) {
        use api::consumer_responses::{DeliveryAdvisory, DeliveryAdvisoryKind as K};
        let (kind, stream_seq, deliveries) = match advisory {
            consumer::Advisory::MaxDeliveries {
                stream_seq,
                deliveries,
            } => (K::MaxDeliveries, stream_seq, deliveries),
            consumer::Advisory::Naked {
                stream_seq,
                consumer_seq,
                deliveries,
            } => (K::Naked { consumer_seq }, stream_seq, deliveries),
            consumer::Advisory::Terminated {
                stream_seq,
                consumer_seq,
                deliveries,
                reason,
            } => (
                K::Terminated {
                    consumer_seq,
                    reason: String::from_utf8_lossy(&reason).into_owned(),
                },
                stream_seq,
                deliveries,
            ),
        };
        let advisory = DeliveryAdvisory {
            kind,
            id: glue::generated_name() + &glue::generated_name() + &glue::generated_name(),
            timestamp: api::GoTime::from_unix_nanos(now_ns()),
            stream: self.name(),
            consumer: consumer_name.to_string(),
            stream_seq,
            deliveries,
            domain: String::new(),
        };
        self.client.publish(
            Bytes::from(advisory.subject()),
            None,
            None,
            Bytes::from(advisory.to_json()),
        );
    }

    fn send_status(&self, reply: Bytes, header: Vec<u8>) {
        let len = header.len();
        self.client
            .publish(reply, None, Some(len), Bytes::from(header));
    }

    fn send_pull_actions(&self, actions: &[PullAction]) {
        for action in actions {
            let (reply, header) = pull_status(action);
            self.send_status(reply, header);
        }
    }

    // -----------------------------------------------------------------------------------
    // Delivery
    // -----------------------------------------------------------------------------------

    /// Gives every consumer its turn: timers, heartbeats, deliveries. True when some
    /// consumer has more to send right away.
    pub(super) async fn run_consumers(&self) -> bool {
        let names: Vec<String> = self.consumers.borrow().keys().cloned().collect();
        let mut more = false;
        for name in names {
            // Out of the map while it awaits reads, back in afterwards (only this task
            // touches consumers).
            let Some(mut consumer) = self.consumers.borrow_mut().remove(&name) else {
                continue;
            };
            let keep = self.run_consumer(&mut consumer).await;
            more |= consumer.more;
            if keep {
                self.consumers.borrow_mut().insert(name, consumer);
            } else {
                tracing::debug!(
                    "JetStream: ephemeral consumer '{}' of '{}' inactive: deleted",
                    consumer.name,
                    self.name()
                );
                self.drop_consumer(consumer);
            }
        }
        more
    }

    /// One consumer's turn. False when an ephemeral consumer has been inactive too long.
    async fn run_consumer(&self, consumer: &mut Consumer) -> bool {
        let now = now_ns();
        consumer.more = false;
        if consumer.state.expire(now) > 0 {
            consumer.dirty = true;
        }
        let stream = self.name();
        let interest_now = match &mut consumer.mode {
            Mode::Push {
                push,
                deliver_subject,
            } => {
                let bound = self.client.has_interest(deliver_subject);
                push.set_bound(bound);
                while let Some(action) = push.poll(now) {
                    match action {
                        PushAction::IdleHeartbeat { stalled } => {
                            let header = heartbeat(&consumer.state, stalled.as_ref());
                            self.send_status(deliver_subject.clone(), header);
                        }
                        PushAction::FlowControlRequest { reply } => {
                            self.send_flow_control(deliver_subject, reply);
                        }
                    }
                }
                bound
            }
            Mode::Pull { queue } => !queue.is_empty(),
        };
        if interest_now {
            consumer.active_ns = now;
        }
        let turn = self.deliver(consumer, &stream, now).await;
        if let Mode::Pull { queue } = &mut consumer.mode {
            let interest = |subject: &[u8]| self.client.has_interest(subject);
            let mut actions = Vec::new();
            // A turn that ended on its budget has more to send: no-wait requests wait for
            // the next turn rather than end short with a 404.
            let end_of_stream =
                turn == TurnEnd::NothingToSend && !consumer.state.is_ack_pending_full();
            queue.process(now, end_of_stream, &interest, &mut actions);
            self.send_pull_actions(&actions);
        }
        while let Some(advisory) = consumer.state.poll_advisory() {
            self.publish_advisory(&consumer.name, advisory);
        }
        let _ = consumer.persist(now, false);
        if !consumer.is_durable() && now >= consumer.next_inactivity_check_ns {
            consumer.next_inactivity_check_ns = now + 1_000_000_000;
            let threshold = consumer.config.inactive_threshold_nanos;
            if threshold > 0 && now - consumer.active_ns > threshold {
                return false;
            }
        }
        true
    }

    fn send_flow_control(&self, deliver_subject: &Bytes, reply: Bytes) {
        let header = api::ConsumerStatus::FlowControlRequest.header_block();
        let len = header.len();
        self.client.publish(
            deliver_subject.clone(),
            Some(reply),
            Some(len),
            Bytes::from(header),
        );
    }

    /// Sends what the consumer may send now, at most [`DELIVERIES_PER_TURN`] messages.
    async fn deliver(&self, consumer: &mut Consumer, stream: &str, now: i64) -> TurnEnd {
        if consumer.paced_until_ns > now || consumer.pause_until_ns(now).is_some() {
            return TurnEnd::Held;
        }
        consumer.paced_until_ns = 0;
        // Counts messages that could not be read too, so a run of them still ends the turn.
        let mut sent = 0;
        while sent < DELIVERIES_PER_TURN {
            let can_send = match &consumer.mode {
                Mode::Push { push, .. } => push.can_deliver(),
                Mode::Pull { queue } => !queue.is_empty(),
            };
            if !can_send {
                return TurnEnd::Held;
            }
            let next = {
                let store = self.store.borrow();
                consumer.state.next_delivery(&StoreSource(&store), now)
            };
            let Some(delivery) = next else {
                return TurnEnd::NothingToSend;
            };
            let Ok(message) = self.read(delivery.stream_seq).await else {
                consumer.state.cancel_delivery();
                if self.store.borrow().get(delivery.stream_seq).is_none() {
                    // Gone between the choice and the read, or forgotten as damaged by
                    // the read: the next choice skips it.
                    sent += 1;
                    continue;
                }
                // Still stored but unreadable (an I/O error): the next turn retries it.
                return TurnEnd::NothingToSend;
            };
            let reply = ack_subject(stream, &consumer.name, &delivery, message.ts_ns);
            let (header_len, body) = delivery_body(
                &message.headers,
                &message.payload,
                consumer.config.headers_only,
            );
            let size = (message.subject.len() + reply.len() + body.len()) as u64;
            if consumer.replay.is_some() || consumer.rate.is_some() {
                let wait = consumer.pace_ns(delivery.stream_seq, message.ts_ns, size, now);
                if wait > 0 {
                    // Not yet: the same message is chosen again when the timer fires
                    // (unless a redelivery comes due first).
                    consumer.state.cancel_delivery();
                    consumer.paced_until_ns = now.saturating_add(wait);
                    return TurnEnd::Held;
                }
            }
            match &mut consumer.mode {
                Mode::Push {
                    push,
                    deliver_subject,
                } => {
                    self.client.publish_as(
                        deliver_subject.clone(),
                        &message.subject,
                        Some(reply),
                        header_len,
                        body,
                    );
                    if let Some(PushAction::FlowControlRequest { reply }) =
                        push.on_delivered(size, now)
                    {
                        let subject = deliver_subject.clone();
                        self.send_flow_control(&subject, reply);
                    }
                }
                Mode::Pull { queue } => {
                    let interest = |subject: &[u8]| self.client.has_interest(subject);
                    let mut actions = Vec::new();
                    match queue.assign(size, now, &interest, &mut actions) {
                        Some(to) => {
                            self.client.publish_as(
                                to.reply.clone(),
                                &message.subject,
                                Some(reply),
                                header_len,
                                body,
                            );
                            actions.extend(to.trailer());
                        }
                        None => {
                            consumer.state.cancel_delivery();
                            self.send_pull_actions(&actions);
                            return TurnEnd::Held;
                        }
                    }
                    self.send_pull_actions(&actions);
                }
            }
            consumer.dirty = true;
            if delivery.acked_on_delivery {
                self.retire_acked(vec![delivery.stream_seq]);
            }
            sent += 1;
        }
        consumer.more = true;
        TurnEnd::BudgetUsed
    }
}

/// Why a consumer's delivery turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TurnEnd {
    /// Nothing left to send (or the next message could not be read).
    NothingToSend,
    /// Messages may wait but cannot go now: paused, paced, no push interest or window,
    /// no pull request to take them.
    Held,
    /// [`DELIVERIES_PER_TURN`] used up; more follows in the next turn.
    BudgetUsed,
}

/// A delivery's header length and body (headers then payload). `headers_only` consumers
/// (KV `keys()` and meta-only watchers) get the headers plus `Nats-Msg-Size` and no
/// payload, as nats-server sends them.
fn delivery_body(headers: &[u8], payload: &Bytes, headers_only: bool) -> (Option<usize>, Bytes) {
    if headers_only {
        let mut block = crate::jetstream::store::headers::HeaderBuilder::extend(headers);
        block.header("Nats-Msg-Size", payload.len().to_string().as_bytes());
        let block = block.finish();
        return (Some(block.len()), block);
    }
    if headers.is_empty() {
        return (None, payload.clone());
    }
    let mut body = Vec::with_capacity(headers.len() + payload.len());
    body.extend_from_slice(headers);
    body.extend_from_slice(payload);
    (Some(headers.len()), Bytes::from(body))
}
