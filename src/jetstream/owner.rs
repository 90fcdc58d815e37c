//! One core's streams: recovery at start, and the control requests the meta core sends
//! (`$TERN.JS.<core>.<op>` in the internal account).
//!
//! | op | body | reply (internal) |
//! |---|---|---|
//! | `CREATE` | [`CreateRequest`] | the client's create response JSON |
//! | `UPDATE` | [`CreateRequest`] | the client's update response JSON |
//! | `DELETE` | stream name | the client's delete response JSON |
//! | `INFO` | stream name | StreamInfo JSON (for LIST) |
//! | `API.<rest of $JS.API subject>` | the client's request | answered on the client's reply |

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::api::{ApiResponse, StreamConfig};
use super::stream::Stream;
use super::JetStreamShared;
use crate::server::client::InternalMessage;
use crate::server::internal::InternalClient;
use crate::server::mesh::{GLOBAL_ACCOUNT, INTERNAL_ACCOUNT};
use crate::server::shard::ShardState;

/// What `meta.json` in a stream's directory holds, and what CREATE/UPDATE carry.
#[derive(Clone, Serialize, Deserialize)]
pub struct CreateRequest {
    pub config: StreamConfig,
    /// Unix nanoseconds.
    pub created: i64,
}

pub const META_FILE: &str = "meta.json";

pub fn control_subject(core: usize, op: &str) -> String {
    format!("$TERN.JS.{core}.{op}")
}

/// The file streams found on disk at start, in the order placement assigns them to cores
/// (every core computes the same plan independently, so no core waits for another).
pub struct Planned {
    pub name: String,
    pub owner: usize,
    pub request: CreateRequest,
}

pub fn recovery_plan(streams_dir: &Path, cores: usize) -> Vec<Planned> {
    let Ok(entries) = std::fs::read_dir(streams_dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let meta = dir.join(META_FILE);
        let text = match std::fs::read(&meta) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(
                    "JetStream: skipping {}: can not read {META_FILE}: {error}",
                    dir.display()
                );
                continue;
            }
        };
        // Damage is reported and the stream skipped: a garbled config is never loaded.
        let json = match super::sealed::unseal(&text) {
            Ok(unsealed) => unsealed.json(),
            Err(error) => {
                tracing::error!(
                    "JetStream: skipping {}: corrupt {META_FILE}: {error}",
                    dir.display()
                );
                continue;
            }
        };
        match serde_json::from_slice::<CreateRequest>(json) {
            Ok(request) => found.push((request.config.name.clone(), request)),
            Err(error) => tracing::error!(
                "JetStream: skipping {}: corrupt {META_FILE}: {error}",
                dir.display()
            ),
        }
    }
    found.sort_by(|a, b| (a.1.created, &a.0).cmp(&(b.1.created, &b.0)));
    found
        .into_iter()
        .enumerate()
        .map(|(i, (name, request))| Planned {
            name,
            owner: i % cores.max(1),
            request,
        })
        .collect()
}

pub struct Owner {
    pub state: Rc<ShardState>,
    pub js: Arc<JetStreamShared>,
    /// Publishes PubAcks and API answers, and holds the streams' capture subscriptions.
    pub global: Rc<InternalClient>,
    pub internal: Rc<InternalClient>,
    pub streams: RefCell<HashMap<String, Rc<Stream>>>,
}

impl Owner {
    pub fn start(state: &Rc<ShardState>, js: Arc<JetStreamShared>) -> Rc<Owner> {
        super::monitor::bind_core(&js, state.id);
        let owner = Rc::new(Owner {
            state: state.clone(),
            global: InternalClient::new(state, GLOBAL_ACCOUNT),
            internal: InternalClient::new(state, INTERNAL_ACCOUNT),
            streams: RefCell::new(HashMap::new()),
            js,
        });
        let weak = Rc::downgrade(&owner);
        let prefix = control_subject(state.id, "");
        let subscribed = owner
            .internal
            .subscribe(&format!("{prefix}>"), None, move |message| {
                if let Some(owner) = weak.upgrade() {
                    owner.control(&prefix, message);
                }
            });
        if let Err(error) = subscribed {
            tracing::error!("JetStream: can not subscribe to control subjects: {error}");
        }
        let weak = Rc::downgrade(&owner);
        state.shutdown_hooks.borrow_mut().push(Box::new(move || {
            if let Some(owner) = weak.upgrade() {
                for stream in owner.streams.borrow().values() {
                    stream.save_consumers();
                    stream.record_synced_point_at_shutdown();
                }
            }
        }));
        let recovering = owner.clone();
        shards::task::spawn(async move {
            recovering.recover().await;
            recovering
                .state
                .shared
                .startup_holds
                .fetch_sub(1, Ordering::AcqRel);
        });
        owner
    }

    async fn recover(self: &Rc<Self>) {
        let plan = recovery_plan(&self.js.streams_dir, self.js.cores);
        for planned in plan.into_iter().filter(|p| p.owner == self.state.id) {
            match Stream::open(self, planned.request, true).await {
                Ok(stream) => {
                    self.adopt(stream);
                }
                Err(error) => tracing::error!(
                    "JetStream: can not recover stream '{}': {error}",
                    planned.name
                ),
            }
        }
    }

    fn adopt(&self, stream: Rc<Stream>) {
        self.js.streams_per_core[self.state.id].fetch_add(1, Ordering::Relaxed);
        self.js.streams.fetch_add(1, Ordering::Relaxed);
        self.js.telemetry.register(&stream.snapshot);
        self.streams
            .borrow_mut()
            .insert(stream.name().to_string(), stream);
    }

    fn control(self: &Rc<Self>, prefix: &str, message: InternalMessage) {
        tracing::debug!(
            "JetStream core {}: control {:?}",
            self.state.id,
            String::from_utf8_lossy(&message.subject)
        );
        let Some(op) = std::str::from_utf8(&message.subject)
            .ok()
            .and_then(|s| s.strip_prefix(prefix))
            .map(str::to_string)
        else {
            return;
        };
        if let Some(api) = op.strip_prefix("API.") {
            let api = api.to_string();
            let name = stream_of_api(&api);
            let stream = name.and_then(|n| self.streams.borrow().get(n).cloned());
            match stream {
                Some(stream) => stream.api(api, message),
                None => {
                    // Deleted between the meta core's check and now.
                    if let Some(reply) = message.reply {
                        let body = super::api::StreamInfoResponse::error(
                            super::api::JsError::stream_not_found(),
                        )
                        .to_json();
                        self.global.publish(reply, None, None, Bytes::from(body));
                    }
                }
            }
            return;
        }
        let owner = self.clone();
        shards::task::spawn(async move {
            let answer = match op.as_str() {
                "CREATE" => owner.create(&message.body).await,
                "UPDATE" => owner.update(&message.body).await,
                "DELETE" => owner.delete(&message.body).await,
                "INFO" => owner.info(&message.body),
                _ => return,
            };
            if let Some(reply) = message.reply {
                owner
                    .internal
                    .publish(reply, None, None, Bytes::from(answer));
            }
        });
    }

    async fn create(self: &Rc<Self>, body: &[u8]) -> Vec<u8> {
        use super::api::{JsError, StreamCreateResponse};
        let request: CreateRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return StreamCreateResponse::error(JsError::invalid_json(error)).to_json()
            }
        };
        let name = request.config.name.clone();
        if let Some(existing) = self.streams.borrow().get(&name).cloned() {
            // nats-server answers an identical create as a create.
            return existing.create_response(true);
        }
        match Stream::open(self, request, false).await {
            Ok(stream) => {
                let answer = stream.create_response(true);
                self.adopt(stream);
                answer
            }
            Err(error) => {
                tracing::error!("JetStream: can not create stream '{name}': {error}");
                StreamCreateResponse::error(JsError::stream_create(error)).to_json()
            }
        }
    }

    async fn update(self: &Rc<Self>, body: &[u8]) -> Vec<u8> {
        use super::api::{JsError, StreamUpdateResponse};
        let request: CreateRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return StreamUpdateResponse::error(JsError::invalid_json(error)).to_json()
            }
        };
        let stream = self.streams.borrow().get(&request.config.name).cloned();
        match stream {
            Some(stream) => stream.update(request.config).await,
            None => StreamUpdateResponse::error(JsError::stream_not_found()).to_json(),
        }
    }

    async fn delete(self: &Rc<Self>, body: &[u8]) -> Vec<u8> {
        use super::api::{JsError, StreamDeleteResponse};
        let name = String::from_utf8_lossy(body).to_string();
        let stream = self.streams.borrow_mut().remove(&name);
        let Some(stream) = stream else {
            return StreamDeleteResponse::error(JsError::stream_not_found()).to_json();
        };
        self.js.streams_per_core[self.state.id].fetch_sub(1, Ordering::Relaxed);
        self.js.streams.fetch_sub(1, Ordering::Relaxed);
        self.js.telemetry.unregister(&stream.snapshot);
        match stream.delete().await {
            Ok(()) => StreamDeleteResponse {
                success: true,
                ..Default::default()
            }
            .to_json(),
            Err(error) => {
                tracing::error!("JetStream: deleting stream '{name}': {error}");
                StreamDeleteResponse::error(JsError::stream_delete(error)).to_json()
            }
        }
    }

    fn info(&self, body: &[u8]) -> Vec<u8> {
        let name = String::from_utf8_lossy(body);
        match self.streams.borrow().get(name.as_ref()) {
            Some(stream) => serde_json::to_vec(&stream.info(false, None)).unwrap_or_default(),
            None => b"null".to_vec(),
        }
    }
}

/// The stream a stream-level API subject (after `$JS.API.`) is about: `STREAM.INFO.<s>`,
/// `STREAM.MSG.GET.<s>`, `CONSUMER.<op>.<s>...`.
pub fn stream_of_api(api: &str) -> Option<&str> {
    let mut tokens = api.split('.');
    match (tokens.next()?, tokens.next()?) {
        ("STREAM", "MSG") => {
            tokens.next()?;
            tokens.next()
        }
        ("STREAM", _) => tokens.next(),
        // CONSUMER.DURABLE.CREATE.<s>.<d>, CONSUMER.MSG.NEXT.<s>.<c>
        ("CONSUMER", "DURABLE" | "MSG") => {
            tokens.next()?;
            tokens.next()
        }
        ("CONSUMER", _) => tokens.next(),
        _ => None,
    }
}
