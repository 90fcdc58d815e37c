//! One core's streams: recovery at start, and the control requests the meta core sends
//! (`$TERN.JS.<core>.<account>.<op>` in the internal account, `<account>` the account id
//! whose stream it is: the same stream name may exist in two accounts).
//!
//! | op | body | reply (internal) |
//! |---|---|---|
//! | `CREATE` | [`CreateRequest`] | the client's create response JSON |
//! | `OPEN` | [`CreateRequest`] | the same, for a stream found on disk (recovery) |
//! | `UPDATE` | [`CreateRequest`] | the client's update response JSON |
//! | `DELETE` | stream name | the client's delete response JSON |
//! | `INFO` | stream name | StreamInfo JSON (for LIST) |
//! | `API.<rest of $JS.API subject>` | the client's request | answered on the client's reply |
//!
//! Any core tells the meta core about accounts enabled after startup on
//! `$TERN.JS.META.<op>` (see [`Owner::tell_meta`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::api::{ApiResponse, StreamConfig};
use super::stream::Stream;
use super::{JetStreamShared, JsAccount};
use crate::server::client::InternalMessage;
use crate::server::internal::InternalClient;
use crate::server::mesh::{AccountId, INTERNAL_ACCOUNT};
use crate::server::shard::ShardState;

/// What `meta.json` in a stream's directory holds, and what CREATE/UPDATE carry.
#[derive(Clone, Serialize, Deserialize)]
pub struct CreateRequest {
    pub config: StreamConfig,
    /// Unix nanoseconds.
    pub created: i64,
}

pub const META_FILE: &str = "meta.json";

pub fn control_subject(core: usize, account: AccountId, op: &str) -> String {
    format!("$TERN.JS.{core}.{account}.{op}")
}

/// Where any core tells the meta core about an account (`<op>`: `ENABLE`, `DISABLED`).
pub const META_CONTROL_PREFIX: &str = "$TERN.JS.META.";

/// The file streams found on disk at start, in the order placement assigns them to cores
/// (every core computes the same plan independently, so no core waits for another).
pub struct Planned {
    pub account: Arc<JsAccount>,
    pub name: String,
    pub owner: usize,
    pub request: CreateRequest,
}

/// The streams of `accounts` found on disk, placed round-robin over the cores in the order
/// (created, account, stream): the (account, stream) pair, not the name alone, decides, so
/// two accounts' streams of the same name are two streams, possibly on two cores.
pub fn recovery_plan(accounts: &[Arc<JsAccount>], cores: usize) -> Vec<Planned> {
    let mut found = Vec::new();
    for account in accounts {
        for (name, request) in streams_on_disk(account) {
            found.push((account.clone(), name, request));
        }
    }
    found.sort_by(|a, b| (a.2.created, &a.0.name, &a.1).cmp(&(b.2.created, &b.0.name, &b.1)));
    found
        .into_iter()
        .enumerate()
        .map(|(i, (account, name, request))| Planned {
            account,
            name,
            owner: i % cores.max(1),
            request,
        })
        .collect()
}

/// The file streams in an account's directory, with their configs.
pub fn streams_on_disk(account: &JsAccount) -> Vec<(String, CreateRequest)> {
    let Ok(entries) = std::fs::read_dir(&account.streams_dir) else {
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
}

/// A stream's key on its core: its account and name.
pub type StreamKey = (AccountId, String);

pub struct Owner {
    pub state: Rc<ShardState>,
    pub js: Arc<JetStreamShared>,
    /// One server-side client per account this core has streams in: publishes PubAcks and
    /// API answers in that account, and holds its streams' capture subscriptions.
    clients: RefCell<HashMap<AccountId, Rc<InternalClient>>>,
    pub internal: Rc<InternalClient>,
    pub streams: RefCell<HashMap<StreamKey, Rc<Stream>>>,
}

impl Owner {
    pub fn start(state: &Rc<ShardState>, js: Arc<JetStreamShared>) -> Rc<Owner> {
        super::monitor::bind_core(&js, state.id);
        let owner = Rc::new(Owner {
            state: state.clone(),
            clients: RefCell::new(HashMap::new()),
            internal: InternalClient::new(state, INTERNAL_ACCOUNT),
            streams: RefCell::new(HashMap::new()),
            js,
        });
        let weak = Rc::downgrade(&owner);
        let prefix = format!("$TERN.JS.{}.", state.id);
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
            recovering.state.release_startup_hold().await;
        });
        owner
    }

    /// This core's owner, if JetStream runs (it is one of the core's services).
    pub fn on_core(state: &Rc<ShardState>) -> Option<Rc<Owner>> {
        state
            .services
            .borrow()
            .iter()
            .find_map(|service| service.clone().downcast::<Owner>().ok())
    }

    /// The server-side client of `account` on this core (made on first use).
    pub fn client(&self, account: AccountId) -> Rc<InternalClient> {
        self.clients
            .borrow_mut()
            .entry(account)
            .or_insert_with(|| InternalClient::new(&self.state, account))
            .clone()
    }

    /// Asks the meta core to carry out `op` for `account` (accounts changed after startup).
    pub fn tell_meta(&self, op: &str, account: AccountId) {
        self.internal.publish(
            Bytes::from(format!("{META_CONTROL_PREFIX}{op}")),
            None,
            None,
            Bytes::from(account.to_string()),
        );
    }

    async fn recover(self: &Rc<Self>) {
        let plan = recovery_plan(&self.js.all_accounts(), self.js.cores);
        for planned in plan.into_iter().filter(|p| p.owner == self.state.id) {
            match Stream::open(self, planned.account.clone(), planned.request, true).await {
                Ok(stream) => {
                    self.adopt(stream);
                }
                Err(error) => tracing::error!(
                    "JetStream: can not recover stream '{} > {}': {error}",
                    planned.account.name,
                    planned.name
                ),
            }
        }
    }

    fn adopt(&self, stream: Rc<Stream>) {
        self.js.streams_per_core[self.state.id].fetch_add(1, Ordering::Relaxed);
        self.js.streams.fetch_add(1, Ordering::Relaxed);
        stream.account.streams.fetch_add(1, Ordering::Relaxed);
        self.js.telemetry.register(&stream.snapshot);
        self.streams
            .borrow_mut()
            .insert((stream.account.id, stream.name()), stream);
    }

    fn control(self: &Rc<Self>, prefix: &str, message: InternalMessage) {
        tracing::debug!(
            "JetStream core {}: control {:?}",
            self.state.id,
            String::from_utf8_lossy(&message.subject)
        );
        let Some((account, op)) = std::str::from_utf8(&message.subject)
            .ok()
            .and_then(|s| s.strip_prefix(prefix))
            .and_then(|s| s.split_once('.'))
            .and_then(|(account, op)| Some((account.parse::<AccountId>().ok()?, op.to_string())))
        else {
            return;
        };
        if let Some(api) = op.strip_prefix("API.") {
            let api = api.to_string();
            let name = stream_of_api(&api);
            let stream = name.and_then(|n| {
                self.streams
                    .borrow()
                    .get(&(account, n.to_string()))
                    .cloned()
            });
            match stream {
                Some(stream) => stream.api(api, message),
                None => {
                    // Deleted between the meta core's check and now.
                    if let Some(reply) = message.reply {
                        let body = super::api::StreamInfoResponse::error(
                            super::api::JsError::stream_not_found(),
                        )
                        .to_json();
                        self.client(account)
                            .publish(reply, None, None, Bytes::from(body));
                    }
                }
            }
            return;
        }
        let owner = self.clone();
        shards::task::spawn(async move {
            let answer = match op.as_str() {
                "CREATE" => owner.create(account, &message.body, false).await,
                "OPEN" => owner.create(account, &message.body, true).await,
                "UPDATE" => owner.update(account, &message.body).await,
                "DELETE" => owner.delete(account, &message.body).await,
                "CLOSE" => owner.close(account, &message.body).await,
                "INFO" => owner.info(account, &message.body),
                _ => return,
            };
            if let Some(reply) = message.reply {
                owner
                    .internal
                    .publish(reply, None, None, Bytes::from(answer));
            }
        });
    }

    /// Creates a stream (or, with `recover`, opens one found on disk) of `account`.
    async fn create(self: &Rc<Self>, account: AccountId, body: &[u8], recover: bool) -> Vec<u8> {
        use super::api::{JsError, StreamCreateResponse};
        let request: CreateRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return StreamCreateResponse::error(JsError::invalid_json(error)).to_json()
            }
        };
        let Some(js_account) = self.js.account(account) else {
            return StreamCreateResponse::error(JsError::not_enabled_for_account()).to_json();
        };
        let name = request.config.name.clone();
        let existing = self.streams.borrow().get(&(account, name.clone())).cloned();
        if let Some(existing) = existing {
            // nats-server answers an identical create as a create.
            return existing.create_response(true);
        }
        match Stream::open(self, js_account, request, recover).await {
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

    async fn update(self: &Rc<Self>, account: AccountId, body: &[u8]) -> Vec<u8> {
        use super::api::{JsError, StreamUpdateResponse};
        let request: CreateRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return StreamUpdateResponse::error(JsError::invalid_json(error)).to_json()
            }
        };
        let key = (account, request.config.name.clone());
        let stream = self.streams.borrow().get(&key).cloned();
        match stream {
            Some(stream) => stream.update(request.config).await,
            None => StreamUpdateResponse::error(JsError::stream_not_found()).to_json(),
        }
    }

    async fn delete(self: &Rc<Self>, account: AccountId, body: &[u8]) -> Vec<u8> {
        use super::api::{JsError, StreamDeleteResponse};
        let name = String::from_utf8_lossy(body).to_string();
        let stream = self.streams.borrow_mut().remove(&(account, name.clone()));
        let Some(stream) = stream else {
            return StreamDeleteResponse::error(JsError::stream_not_found()).to_json();
        };
        self.js.streams_per_core[self.state.id].fetch_sub(1, Ordering::Relaxed);
        self.js.streams.fetch_sub(1, Ordering::Relaxed);
        stream.account.streams.fetch_sub(1, Ordering::Relaxed);
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

    /// Stops a stream of an account whose JetStream was turned off, keeping its files.
    async fn close(self: &Rc<Self>, account: AccountId, body: &[u8]) -> Vec<u8> {
        let name = String::from_utf8_lossy(body).to_string();
        let stream = self.streams.borrow_mut().remove(&(account, name));
        let Some(stream) = stream else {
            return b"{}".to_vec();
        };
        self.js.streams_per_core[self.state.id].fetch_sub(1, Ordering::Relaxed);
        self.js.streams.fetch_sub(1, Ordering::Relaxed);
        stream.account.streams.fetch_sub(1, Ordering::Relaxed);
        self.js.telemetry.unregister(&stream.snapshot);
        stream.close().await;
        b"{}".to_vec()
    }

    fn info(&self, account: AccountId, body: &[u8]) -> Vec<u8> {
        let name = String::from_utf8_lossy(body).to_string();
        match self.streams.borrow().get(&(account, name)) {
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
