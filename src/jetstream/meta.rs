//! The account-level JetStream API, on core 0.
//!
//! Core 0 subscribes to `$JS.API.>` and keeps the registry of streams (name, owning core,
//! config). It answers `INFO`, `STREAM.CREATE/UPDATE/DELETE/NAMES/LIST` itself, asking the
//! owning core to carry out the change (internal requests, see [`super::owner`]), and
//! forwards every other stream-level request to the owning core unchanged, with the
//! client's reply subject, so the answer goes straight back to the client from there.
//! Requests are handled one at a time, in arrival order: creates and deletes never race.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use shards::sync::Signal;

use super::api::{self, ApiResponse, JsError, StorageType, StreamConfig};
use super::owner::{control_subject, recovery_plan, stream_of_api, CreateRequest};
use super::{now_ns, JetStreamShared};
use crate::limits::{JS_API_LIST_PAGE, JS_OWNER_REQUEST_TIMEOUT_MS};
use crate::server::client::InternalMessage;
use crate::server::internal::InternalClient;
use crate::server::mesh::{GLOBAL_ACCOUNT, INTERNAL_ACCOUNT};
use crate::server::shard::ShardState;

const API_PREFIX: &str = "$JS.API.";
/// Requests queued for the meta core before new ones are dropped (nats-server bounds its
/// API queue the same way and drops past its limit).
const QUEUE_REQUESTS_MAX: usize = 10_000;

struct Entry {
    owner: usize,
    config: StreamConfig,
}

pub struct Meta {
    js: Arc<JetStreamShared>,
    global: Rc<InternalClient>,
    internal: Rc<InternalClient>,
    registry: RefCell<BTreeMap<String, Entry>>,
    queue: RefCell<VecDeque<InternalMessage>>,
    work: Signal,
}

impl Meta {
    pub fn start(state: &Rc<ShardState>, js: Arc<JetStreamShared>) -> Rc<Meta> {
        let mut registry = BTreeMap::new();
        for planned in recovery_plan(&js.streams_dir, js.cores) {
            registry.insert(
                planned.name,
                Entry {
                    owner: planned.owner,
                    config: planned.request.config,
                },
            );
        }
        let meta = Rc::new(Meta {
            global: InternalClient::new(state, GLOBAL_ACCOUNT),
            internal: InternalClient::new(state, INTERNAL_ACCOUNT),
            registry: RefCell::new(registry),
            queue: RefCell::new(VecDeque::new()),
            work: Signal::new(),
            js,
        });
        let weak = Rc::downgrade(&meta);
        let subscribed = meta.global.subscribe("$JS.API.>", None, move |message| {
            let Some(meta) = weak.upgrade() else { return };
            if message.subject.starts_with(b"$JS.API.DIRECT.GET.") {
                // Served by the owning core's own (queue) subscription.
                return;
            }
            let mut queue = meta.queue.borrow_mut();
            if queue.len() >= QUEUE_REQUESTS_MAX {
                tracing::warn!("JetStream API queue is full: request dropped");
                return;
            }
            queue.push_back(message);
            drop(queue);
            meta.work.set();
        });
        if let Err(error) = subscribed {
            tracing::error!("JetStream: can not subscribe to the API: {error}");
        }
        let weak = Rc::downgrade(&meta);
        shards::task::spawn(async move {
            loop {
                let Some(meta) = weak.upgrade() else { return };
                meta.work.wait().await;
                loop {
                    let next = meta.queue.borrow_mut().pop_front();
                    let Some(message) = next else { break };
                    meta.handle(message).await;
                }
            }
        });
        meta
    }

    fn answer(&self, message: &InternalMessage, body: Vec<u8>) {
        if let Some(reply) = &message.reply {
            self.global
                .publish(reply.clone(), None, None, Bytes::from(body));
        }
    }

    fn fail(&self, message: &InternalMessage, type_name: &str, error: &JsError) {
        self.js.api_errors.fetch_add(1, Ordering::Relaxed);
        self.answer(message, error_response(type_name, error.clone()));
    }

    async fn handle(&self, message: InternalMessage) {
        let Some(api_subject) = std::str::from_utf8(&message.subject)
            .ok()
            .and_then(|s| s.strip_prefix(API_PREFIX))
            .map(str::to_string)
        else {
            return;
        };
        self.js.api_total.fetch_add(1, Ordering::Relaxed);
        let body = message
            .body
            .slice(message.header_len.unwrap_or(0).min(message.body.len())..);
        let tokens: Vec<&str> = api_subject.split('.').collect();
        match tokens.as_slice() {
            ["INFO"] => self.account_info(&message),
            ["STREAM", "CREATE", name] => self.create(&message, name, &body).await,
            ["STREAM", "UPDATE", name] => self.update(&message, name, &body).await,
            ["STREAM", "DELETE", name] => self.delete(&message, name, &body).await,
            ["STREAM", "NAMES"] => self.names(&message, &body),
            ["STREAM", "LIST"] => self.list(&message, &body).await,
            _ => self.forward(&message, &api_subject),
        }
    }

    /// A stream's own request: to its owning core, or "stream not found" here.
    fn forward(&self, message: &InternalMessage, api_subject: &str) {
        let Some(name) = stream_of_api(api_subject) else {
            return;
        };
        let owner = self.registry.borrow().get(name).map(|e| e.owner);
        match owner {
            Some(owner) => self.internal.publish(
                Bytes::from(control_subject(owner, &format!("API.{api_subject}"))),
                message.reply.clone(),
                message.header_len,
                message.body.clone(),
            ),
            None => {
                let type_name = response_type(api_subject);
                self.fail(message, type_name, &JsError::stream_not_found());
            }
        }
    }

    /// Asks core `owner` to carry out `op`; the raw answer.
    async fn ask(&self, owner: usize, op: &str, body: Vec<u8>) -> Result<Bytes, JsError> {
        let answer = self
            .internal
            .request(
                Bytes::from(control_subject(owner, op)),
                Bytes::from(body),
                Duration::from_millis(JS_OWNER_REQUEST_TIMEOUT_MS),
            )
            .await;
        match answer {
            Some(message) => Ok(message.body),
            None => {
                tracing::error!("JetStream: core {owner} did not answer {op} in time");
                Err(JsError::cluster_not_avail())
            }
        }
    }

    fn account_info(&self, message: &InternalMessage) {
        let js = &self.js;
        let info = api::AccountInfo {
            usage: api::AccountTier {
                memory_bytes: js.memory_used().max(0) as u64,
                storage_bytes: js.storage_used().max(0) as u64,
                streams: self.registry.borrow().len() as u64,
                consumers: js.consumers.load(Ordering::Relaxed) as u64,
                limits: api::AccountLimits::default(),
                ..Default::default()
            },
            api: api::ApiStats {
                total: js.api_total.load(Ordering::Relaxed),
                errors: js.api_errors.load(Ordering::Relaxed),
                ..Default::default()
            },
            ..Default::default()
        };
        let body = api::AccountInfoResponse {
            error: None,
            info: Some(info),
        };
        self.answer(message, body.to_json());
    }

    /// Parses, checks and normalises a create/update body (nats-server's order: JSON, the
    /// name in the subject, then `checkStreamCfg`, then resources).
    fn parse_config(&self, name: &str, body: &[u8], create: bool) -> Result<StreamConfig, JsError> {
        let (config, pedantic) = api::parse_stream_config_request(body)?;
        if create {
            config.check_create_request(name)?;
        } else if config.name != name {
            return Err(JsError::stream_mismatch());
        }
        let limits = api::ServerLimits::default();
        config.check_account_limits(&limits)?;
        let registry = self.registry.borrow();
        let lookup = |other: &str| registry.get(other).map(|e| &e.config);
        let config = config.checked(&limits, pedantic, &lookup)?;
        let limit = match config.storage {
            StorageType::Memory => self.js.max_memory_bytes,
            StorageType::File => self.js.max_store_bytes,
        };
        if config.max_bytes > limit {
            return Err(JsError::insufficient_resources());
        }
        Ok(config)
    }

    fn overlapping(&self, config: &StreamConfig) -> bool {
        self.registry
            .borrow()
            .iter()
            .any(|(name, entry)| *name != config.name && api::overlaps(config, &entry.config))
    }

    async fn create(&self, message: &InternalMessage, name: &str, body: &[u8]) {
        const TYPE: &str = "stream_create_response";
        let config = match self.parse_config(name, body, true) {
            Ok(config) => config,
            Err(error) => return self.fail(message, TYPE, &error),
        };
        let existing = self
            .registry
            .borrow()
            .get(name)
            .map(|e| (e.owner, e.config == config));
        let owner = match existing {
            Some((_, false)) => return self.fail(message, TYPE, &JsError::stream_name_exist()),
            Some((owner, true)) => owner,
            None => {
                if self.overlapping(&config) {
                    return self.fail(message, TYPE, &JsError::stream_subject_overlap());
                }
                self.least_loaded_core()
            }
        };
        let request = CreateRequest {
            config: config.clone(),
            created: now_ns(),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        match self.ask(owner, "CREATE", body).await {
            Ok(answer) => {
                if !is_error(&answer) {
                    self.registry
                        .borrow_mut()
                        .insert(name.to_string(), Entry { owner, config });
                } else {
                    self.js.api_errors.fetch_add(1, Ordering::Relaxed);
                }
                self.answer(message, answer.to_vec());
            }
            Err(error) => self.fail(message, TYPE, &error),
        }
    }

    fn least_loaded_core(&self) -> usize {
        (0..self.js.cores)
            .min_by_key(|core| self.js.streams_per_core[*core].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    async fn update(&self, message: &InternalMessage, name: &str, body: &[u8]) {
        const TYPE: &str = "stream_update_response";
        let config = match self.parse_config(name, body, false) {
            Ok(config) => config,
            Err(error) => return self.fail(message, TYPE, &error),
        };
        let current = self
            .registry
            .borrow()
            .get(name)
            .map(|e| (e.owner, e.config.clone()));
        let Some((owner, old)) = current else {
            return self.fail(message, TYPE, &JsError::stream_not_found());
        };
        if let Err(error) = api::check_update(&old, &config) {
            return self.fail(message, TYPE, &error);
        }
        if self.overlapping(&config) {
            return self.fail(message, TYPE, &JsError::stream_subject_overlap());
        }
        let request = CreateRequest {
            config: config.clone(),
            created: 0,
        };
        match self
            .ask(
                owner,
                "UPDATE",
                serde_json::to_vec(&request).unwrap_or_default(),
            )
            .await
        {
            Ok(answer) => {
                if !is_error(&answer) {
                    if let Some(entry) = self.registry.borrow_mut().get_mut(name) {
                        entry.config = config;
                    }
                }
                self.answer(message, answer.to_vec());
            }
            Err(error) => self.fail(message, TYPE, &error),
        }
    }

    async fn delete(&self, message: &InternalMessage, name: &str, body: &[u8]) {
        const TYPE: &str = "stream_delete_response";
        if let Err(error) = api::check_empty_request(body) {
            return self.fail(message, TYPE, &error);
        }
        let owner = self.registry.borrow().get(name).map(|e| e.owner);
        let Some(owner) = owner else {
            return self.fail(message, TYPE, &JsError::stream_not_found());
        };
        match self.ask(owner, "DELETE", name.as_bytes().to_vec()).await {
            Ok(answer) => {
                self.registry.borrow_mut().remove(name);
                self.answer(message, answer.to_vec());
            }
            Err(error) => self.fail(message, TYPE, &error),
        }
    }

    /// Stream names in order, those with a subject colliding with `filter` if given.
    fn matching_names(&self, filter: Option<&str>) -> Vec<String> {
        self.registry
            .borrow()
            .iter()
            .filter(|(_, entry)| match filter {
                None | Some("") => true,
                Some(filter) => entry
                    .config
                    .subjects
                    .iter()
                    .any(|s| api::subjects::subjects_collide(s, filter)),
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn names(&self, message: &InternalMessage, body: &[u8]) {
        const TYPE: &str = "stream_names_response";
        let request = match api::StreamNamesRequest::parse(body) {
            Ok(request) => request,
            Err(error) => return self.fail(message, TYPE, &error),
        };
        let names = self.matching_names(Some(&request.subject));
        let response = api::StreamNamesResponse::page(names, request.offset());
        self.answer(message, response.to_json());
    }

    async fn list(&self, message: &InternalMessage, body: &[u8]) {
        const TYPE: &str = "stream_list_response";
        let request = match api::StreamListRequest::parse(body) {
            Ok(request) => request,
            Err(error) => return self.fail(message, TYPE, &error),
        };
        let names = self.matching_names(Some(&request.subject));
        let (range, paged) = api::responses::page(names.len(), request.offset(), JS_API_LIST_PAGE);
        let mut streams = Vec::new();
        let mut missing = Vec::new();
        for name in &names[range] {
            let owner = self.registry.borrow().get(name).map(|e| e.owner);
            let Some(owner) = owner else { continue };
            let info = match self.ask(owner, "INFO", name.as_bytes().to_vec()).await {
                Ok(answer) => serde_json::from_slice::<Option<api::StreamInfo>>(&answer)
                    .ok()
                    .flatten(),
                Err(_) => None,
            };
            match info {
                Some(info) => streams.push(info),
                None => missing.push(name.clone()),
            }
        }
        let response = api::StreamListResponse {
            error: None,
            paged,
            streams,
            missing,
        };
        self.answer(message, response.to_json());
    }
}

/// An error answer with the fields nats-server keeps on errors of that response type
/// (e.g. `total`/`offset`/`limit` on INFO, `"streams":null` on NAMES).
pub fn error_response(type_name: &str, error: JsError) -> Vec<u8> {
    match type_name {
        "account_info_response" => api::AccountInfoResponse::error(error).to_json(),
        "stream_create_response" => api::StreamCreateResponse::error(error).to_json(),
        "stream_update_response" => api::StreamUpdateResponse::error(error).to_json(),
        "stream_info_response" => api::StreamInfoResponse::error(error).to_json(),
        "stream_names_response" => api::StreamNamesResponse::error(error).to_json(),
        "stream_list_response" => api::StreamListResponse::error(error).to_json(),
        "stream_delete_response" => api::StreamDeleteResponse::error(error).to_json(),
        "stream_purge_response" => api::StreamPurgeResponse::error(error).to_json(),
        "stream_msg_delete_response" => api::StreamMsgDeleteResponse::error(error).to_json(),
        "stream_msg_get_response" => api::StreamMsgGetResponse::error(error).to_json(),
        other => api::error_json(other, &error),
    }
}

fn is_error(answer: &[u8]) -> bool {
    serde_json::from_slice::<Value>(answer)
        .map(|v| v.get("error").is_some())
        .unwrap_or(true)
}

/// The response type of a stream-level API subject (after `$JS.API.`).
fn response_type(api_subject: &str) -> &'static str {
    let tokens: Vec<&str> = api_subject.split('.').take(3).collect();
    match tokens.as_slice() {
        ["STREAM", "INFO", ..] => "stream_info_response",
        ["STREAM", "PURGE", ..] => "stream_purge_response",
        ["STREAM", "MSG", "GET"] => "stream_msg_get_response",
        ["STREAM", "MSG", "DELETE"] => "stream_msg_delete_response",
        ["CONSUMER", "CREATE", ..] | ["CONSUMER", "DURABLE", ..] => "consumer_create_response",
        ["CONSUMER", "INFO", ..] => "consumer_info_response",
        ["CONSUMER", "DELETE", ..] => "consumer_delete_response",
        ["CONSUMER", "NAMES", ..] => "consumer_names_response",
        ["CONSUMER", "LIST", ..] => "consumer_list_response",
        ["CONSUMER", "PAUSE", ..] => "consumer_pause_response",
        _ => "error_response",
    }
}
