//! The account-level JetStream API, on core 0, for every account.
//!
//! Core 0 subscribes to `$JS.API.>` in each JetStream-enabled account (one server-side
//! client per account, so each account's API lives in its own subject space) and keeps
//! each account's registry of streams (name, owning core, config). It answers `INFO`,
//! `STREAM.CREATE/UPDATE/DELETE/NAMES/LIST` itself, asking the owning core to carry out
//! the change (internal requests, see [`super::owner`]), and forwards every other
//! stream-level request to the owning core unchanged, with the client's reply subject, so
//! the answer goes straight back to the client from there. Requests are handled one at a
//! time, in arrival order: creates and deletes never race.
//!
//! In accounts without JetStream it subscribes too, and answers as nats-server 2.9.10
//! does: 10039 "JetStream not enabled for account" (see [`not_enabled_answer`]).
//!
//! The account's limits are checked here, in nats-server's order and with its errors:
//! stream count (10027), consumers per stream (10026), reservations of `max_bytes`
//! (10028 memory, 10047 storage), `max_bytes_required` (10113) and the largest
//! `max_bytes` (10122).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use shards::sync::Signal;

use super::api::{self, ApiResponse, JsError, StorageType, StreamConfig};
use super::owner::{
    control_subject, recovery_plan, stream_of_api, streams_on_disk, CreateRequest,
    META_CONTROL_PREFIX,
};
use super::{now_ns, JetStreamShared, JsAccount};
use crate::limits::{JS_API_LIST_PAGE, JS_AUTH_POLL_MS, JS_OWNER_REQUEST_TIMEOUT_MS};
use crate::server::client::InternalMessage;
use crate::server::internal::InternalClient;
use crate::server::mesh::{AccountId, GLOBAL_ACCOUNT, INTERNAL_ACCOUNT};
use crate::server::shard::ShardState;

const API_PREFIX: &str = "$JS.API.";
/// Requests queued for the meta core before new ones are dropped (nats-server bounds its
/// API queue the same way and drops past its limit).
const QUEUE_REQUESTS_MAX: usize = 10_000;

struct Entry {
    owner: usize,
    config: StreamConfig,
}

/// One JetStream-enabled account, as the meta core sees it.
struct AccountMeta {
    account: Arc<JsAccount>,
    /// Subscribed to the account's `$JS.API.>`; answers in the account.
    client: Rc<InternalClient>,
    registry: BTreeMap<String, Entry>,
}

enum Work {
    Api(AccountId, InternalMessage),
    /// An account enabled after startup (see [`super::enable_account`]).
    Enable(AccountId),
    /// An account added after startup without JetStream.
    Disabled(AccountId),
    /// A new authentication version (reload, account JWT): bring JetStream in line.
    Auth,
}

pub struct Meta {
    state: Rc<ShardState>,
    js: Arc<JetStreamShared>,
    internal: Rc<InternalClient>,
    accounts: RefCell<HashMap<AccountId, AccountMeta>>,
    /// Accounts without JetStream, answered with 10039.
    disabled: RefCell<HashMap<AccountId, Rc<InternalClient>>>,
    queue: RefCell<VecDeque<Work>>,
    work: Signal,
    /// The authentication version JetStream's accounts were last brought in line with.
    auth_version: Cell<u64>,
}

impl Meta {
    pub fn start(state: &Rc<ShardState>, js: Arc<JetStreamShared>) -> Rc<Meta> {
        let meta = Rc::new(Meta {
            state: state.clone(),
            internal: InternalClient::new(state, INTERNAL_ACCOUNT),
            accounts: RefCell::new(HashMap::new()),
            disabled: RefCell::new(HashMap::new()),
            queue: RefCell::new(VecDeque::new()),
            work: Signal::new(),
            auth_version: Cell::new(state.shared.auth.version()),
            js,
        });
        meta.js
            .auth_applied
            .fetch_max(meta.auth_version.get(), Ordering::AcqRel);
        let accounts = meta.js.all_accounts();
        let mut registries: HashMap<AccountId, BTreeMap<String, Entry>> = HashMap::new();
        // The same plan every owner computes, so the registry names each stream's core.
        for planned in recovery_plan(&accounts, meta.js.cores) {
            registries.entry(planned.account.id).or_default().insert(
                planned.name,
                Entry {
                    owner: planned.owner,
                    config: planned.request.config,
                },
            );
        }
        for account in accounts {
            let registry = registries.remove(&account.id).unwrap_or_default();
            meta.serve(account, registry);
        }
        for id in meta.js.accounts_without_jetstream.clone() {
            meta.serve_without_jetstream(id);
        }
        let weak = Rc::downgrade(&meta);
        let subscribed =
            meta.internal
                .subscribe(&format!("{META_CONTROL_PREFIX}*"), None, move |message| {
                    let Some(meta) = weak.upgrade() else { return };
                    let account = std::str::from_utf8(&message.body)
                        .ok()
                        .and_then(|b| b.parse::<AccountId>().ok());
                    let op =
                        &message.subject[META_CONTROL_PREFIX.len().min(message.subject.len())..];
                    let work = match (op, account) {
                        (b"ENABLE", Some(account)) => Work::Enable(account),
                        (b"DISABLED", Some(account)) => Work::Disabled(account),
                        (b"AUTH", _) => Work::Auth,
                        _ => return,
                    };
                    meta.queue.borrow_mut().push_back(work);
                    meta.work.set();
                });
        if let Err(error) = subscribed {
            tracing::error!("JetStream: can not subscribe to meta control: {error}");
        }
        let weak = Rc::downgrade(&meta);
        shards::task::spawn(async move {
            loop {
                let Some(meta) = weak.upgrade() else { return };
                meta.work.wait().await;
                loop {
                    let next = meta.queue.borrow_mut().pop_front();
                    match next {
                        None => break,
                        Some(Work::Api(account, message)) => meta.handle(account, message).await,
                        Some(Work::Enable(account)) => meta.enable(account).await,
                        Some(Work::Disabled(account)) => {
                            if !meta.accounts.borrow().contains_key(&account) {
                                meta.serve_without_jetstream(account);
                            }
                        }
                        Some(Work::Auth) => meta.apply_auth().await,
                    }
                }
            }
        });
        // The API is subscribed (above, for every account): release the startup hold
        // `install` took for it once peers have the subscriptions in their rings.
        let settling = meta.state.clone();
        shards::task::spawn(async move { settling.release_startup_hold().await });
        // A reload is installed from a signal thread, which can not wake this core: look
        // for new versions now and then (one atomic load). Cores that install a version
        // themselves wake the meta core at once (see `accounts::apply_auth`).
        let weak = Rc::downgrade(&meta);
        shards::task::spawn(async move {
            loop {
                shards::time::sleep(Duration::from_millis(JS_AUTH_POLL_MS)).await;
                let Some(meta) = weak.upgrade() else { return };
                if meta.state.shared.auth.version() != meta.auth_version.get() {
                    meta.queue.borrow_mut().push_back(Work::Auth);
                    meta.work.set();
                }
            }
        });
        meta
    }

    /// Brings JetStream's accounts in line with the newest authentication version, as
    /// nats-server's `configJetStream` does for each account on a reload or an account JWT
    /// update: accounts that should have JetStream and do not get it (their streams on
    /// disk recovered), enabled ones get their new limits, accounts without it answer
    /// 10039, and accounts that no longer should have it lose it (see [`Meta::disable`]).
    async fn apply_auth(self: &Rc<Self>) {
        self.state.sync_auth();
        let version = self.state.auth_version();
        if version == self.auth_version.get() {
            self.js.auth_applied.fetch_max(version, Ordering::AcqRel);
            return;
        }
        self.auth_version.set(version);
        let auth = self.state.auth();
        let wanted = super::accounts::wanted(&auth);
        for (id, name, limits) in &wanted {
            match self.js.account(*id) {
                Some(account) => {
                    if account.limits() != *limits {
                        account.set_limits(limits.clone());
                        tracing::info!("JetStream limits of account {name} updated");
                    }
                }
                None => {
                    let account = Arc::new(JsAccount::new(
                        *id,
                        name,
                        &self.js.store_dir,
                        limits.clone(),
                    ));
                    self.js
                        .accounts
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(*id, account);
                    self.enable(*id).await;
                }
            }
        }
        for id in auth.live_accounts() {
            if wanted.iter().any(|(wanted, _, _)| *wanted == id) {
                continue;
            }
            // nats-server keeps `$G`'s JetStream once it has it (its limits live on
            // the account, which a reload does not replace).
            if id != GLOBAL_ACCOUNT && self.accounts.borrow().contains_key(&id) {
                self.disable(id).await;
            }
            if !self.accounts.borrow().contains_key(&id) {
                self.serve_without_jetstream(id);
            }
        }
        self.js.auth_applied.fetch_max(version, Ordering::AcqRel);
    }

    /// Subscribes to `account`'s `$JS.API.>` and keeps `registry` as its streams.
    fn serve(self: &Rc<Self>, account: Arc<JsAccount>, registry: BTreeMap<String, Entry>) {
        let id = account.id;
        if let Some(previous) = self.disabled.borrow_mut().remove(&id) {
            previous.close();
        }
        let client = InternalClient::new(&self.state, id);
        let weak = Rc::downgrade(self);
        let subscribed = client.subscribe("$JS.API.>", None, move |message| {
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
            queue.push_back(Work::Api(id, message));
            drop(queue);
            meta.work.set();
        });
        if let Err(error) = subscribed {
            tracing::error!(
                "JetStream: can not subscribe to the API of account {}: {error}",
                account.name
            );
        }
        self.accounts.borrow_mut().insert(
            id,
            AccountMeta {
                account,
                client,
                registry,
            },
        );
    }

    /// Answers `account`'s `$JS.API.>` with "JetStream not enabled for account".
    fn serve_without_jetstream(&self, account: AccountId) {
        if self.disabled.borrow().contains_key(&account) {
            return;
        }
        let client = InternalClient::new(&self.state, account);
        let weak = Rc::downgrade(&client);
        // nats-server serves its API from the system account, where it drops requests of
        // the account's own clients: only INFO gets an answer there.
        let system = account == self.state.auth().system_account();
        let subscribed = client.subscribe("$JS.API.>", None, move |message| {
            let Some(client) = weak.upgrade() else { return };
            if system && message.subject.as_ref() != b"$JS.API.INFO" {
                return;
            }
            let (Some(reply), Some(api_subject)) = (
                message.reply.clone(),
                std::str::from_utf8(&message.subject)
                    .ok()
                    .and_then(|s| s.strip_prefix(API_PREFIX)),
            ) else {
                return;
            };
            let body = message
                .body
                .slice(message.header_len.unwrap_or(0).min(message.body.len())..);
            if let Some(answer) = not_enabled_answer(api_subject, &body) {
                client.publish(reply, None, None, Bytes::from(answer));
            }
        });
        if let Err(error) = subscribed {
            tracing::error!(
                "JetStream: can not subscribe to the API of account {account}: {error}"
            );
        }
        self.disabled.borrow_mut().insert(account, client);
    }

    /// An account enabled after startup: serve its API and open the streams already in
    /// its directory, each on the least loaded core.
    async fn enable(self: &Rc<Self>, id: AccountId) {
        let Some(account) = self.js.account(id) else {
            return;
        };
        if self.accounts.borrow().contains_key(&id) {
            return;
        }
        self.serve(account.clone(), BTreeMap::new());
        for (name, request) in streams_on_disk(&account) {
            let owner = self.least_loaded_core(&account.name, &name);
            let config = request.config.clone();
            let body = serde_json::to_vec(&request).unwrap_or_default();
            match self.ask(owner, id, "OPEN", body).await {
                Ok(answer) if !is_error(&answer) => {
                    self.with_registry(id, |registry| {
                        registry.insert(name, Entry { owner, config })
                    });
                }
                Ok(answer) => tracing::error!(
                    "JetStream: can not recover stream '{} > {name}': {}",
                    account.name,
                    String::from_utf8_lossy(&answer)
                ),
                Err(_) => {}
            }
        }
        tracing::info!("JetStream enabled for account {}", account.name);
    }

    /// Turns JetStream off for an account that has it (a reload dropped its `jetstream`
    /// block, an account JWT no longer grants it), as nats-server's `DisableJetStream`:
    /// its API stops being served, its streams stop on their cores with their files kept
    /// (they come back if the account gets JetStream again), and it answers 10039.
    async fn disable(self: &Rc<Self>, id: AccountId) {
        let Some(meta) = self.accounts.borrow_mut().remove(&id) else {
            return;
        };
        meta.client.close();
        for (name, entry) in meta.registry {
            let _ = self.ask(entry.owner, id, "CLOSE", name.into_bytes()).await;
        }
        self.js
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        tracing::info!("JetStream disabled for account {}", meta.account.name);
    }

    fn client(&self, id: AccountId) -> Option<Rc<InternalClient>> {
        self.accounts.borrow().get(&id).map(|a| a.client.clone())
    }

    fn account(&self, id: AccountId) -> Option<Arc<JsAccount>> {
        self.accounts.borrow().get(&id).map(|a| a.account.clone())
    }

    /// Runs `f` on the registry of `id` (empty if the account is unknown). Never held
    /// across an await.
    fn with_registry<R>(
        &self,
        id: AccountId,
        f: impl FnOnce(&mut BTreeMap<String, Entry>) -> R,
    ) -> R {
        let mut accounts = self.accounts.borrow_mut();
        match accounts.get_mut(&id) {
            Some(meta) => f(&mut meta.registry),
            None => f(&mut BTreeMap::new()),
        }
    }

    fn answer(&self, id: AccountId, message: &InternalMessage, body: Vec<u8>) {
        if let (Some(reply), Some(client)) = (&message.reply, self.client(id)) {
            client.publish(reply.clone(), None, None, Bytes::from(body));
        }
    }

    fn count_error(&self, id: AccountId) {
        self.js.api_errors.fetch_add(1, Ordering::Relaxed);
        if let Some(account) = self.account(id) {
            account.api_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fail(&self, id: AccountId, message: &InternalMessage, type_name: &str, error: &JsError) {
        self.count_error(id);
        self.answer(id, message, error_response(type_name, error.clone()));
    }

    async fn handle(&self, id: AccountId, message: InternalMessage) {
        let Some(api_subject) = std::str::from_utf8(&message.subject)
            .ok()
            .and_then(|s| s.strip_prefix(API_PREFIX))
            .map(str::to_string)
        else {
            return;
        };
        let Some(account) = self.account(id) else {
            return;
        };
        let body = message
            .body
            .slice(message.header_len.unwrap_or(0).min(message.body.len())..);
        let tokens: Vec<&str> = api_subject.split('.').collect();
        if tokens.as_slice() == ["INFO"] {
            // nats-server counts a request when it answers: INFO does not count itself.
            self.account_info(id, &message);
            self.js.api_total.fetch_add(1, Ordering::Relaxed);
            account.api_total.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.js.api_total.fetch_add(1, Ordering::Relaxed);
        account.api_total.fetch_add(1, Ordering::Relaxed);
        match tokens.as_slice() {
            ["STREAM", "CREATE", name] => self.create(id, &message, name, &body).await,
            ["STREAM", "UPDATE", name] => self.update(id, &message, name, &body).await,
            ["STREAM", "DELETE", name] => self.delete(id, &message, name, &body).await,
            ["STREAM", "NAMES"] => self.names(id, &message, &body),
            ["STREAM", "LIST"] => self.list(id, &message, &body).await,
            _ => self.forward(id, &message, &api_subject),
        }
    }

    /// A stream's own request: to its owning core, or "stream not found" here.
    fn forward(&self, id: AccountId, message: &InternalMessage, api_subject: &str) {
        let Some(name) = stream_of_api(api_subject) else {
            return;
        };
        let owner = self.with_registry(id, |registry| registry.get(name).map(|e| e.owner));
        match owner {
            Some(owner) => self.internal.publish(
                Bytes::from(control_subject(owner, id, &format!("API.{api_subject}"))),
                message.reply.clone(),
                message.header_len,
                message.body.clone(),
            ),
            None => {
                let type_name = response_type(api_subject);
                self.fail(id, message, type_name, &JsError::stream_not_found());
            }
        }
    }

    /// Asks core `owner` to carry out `op` on a stream of `account`; the raw answer.
    async fn ask(
        &self,
        owner: usize,
        account: AccountId,
        op: &str,
        body: Vec<u8>,
    ) -> Result<Bytes, JsError> {
        let answer = self
            .internal
            .request(
                Bytes::from(control_subject(owner, account, op)),
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

    /// Bytes reserved by the `max_bytes` of `id`'s `storage` streams, `except` one
    /// (nats-server's `tieredReservation`).
    fn reserved(&self, id: AccountId, storage: StorageType, except: &str) -> i64 {
        self.with_registry(id, |registry| {
            registry
                .iter()
                .filter(|(name, e)| {
                    e.config.storage == storage && e.config.max_bytes > 0 && name.as_str() != except
                })
                .map(|(_, e)| e.config.max_bytes)
                .fold(0i64, i64::saturating_add)
        })
    }

    fn account_info(&self, id: AccountId, message: &InternalMessage) {
        let Some(account) = self.account(id) else {
            return;
        };
        let streams = self.with_registry(id, |registry| registry.len());
        let info = api::AccountInfo {
            usage: api::AccountTier {
                memory_bytes: account.used_bytes(StorageType::Memory).max(0) as u64,
                storage_bytes: account.used_bytes(StorageType::File).max(0) as u64,
                reserved_memory_bytes: self.reserved(id, StorageType::Memory, "").max(0) as u64,
                reserved_storage_bytes: self.reserved(id, StorageType::File, "").max(0) as u64,
                streams: streams as u64,
                consumers: account.consumers.load(Ordering::Relaxed) as u64,
                limits: account.limits(),
            },
            api: api::ApiStats {
                total: account.api_total.load(Ordering::Relaxed),
                errors: account.api_errors.load(Ordering::Relaxed),
                ..Default::default()
            },
            ..Default::default()
        };
        let body = api::AccountInfoResponse {
            error: None,
            info: Some(info),
        };
        self.answer(id, message, body.to_json());
    }

    /// Parses, checks and normalises a create/update body (nats-server's order: JSON, the
    /// name in the subject, then `checkStreamCfg` with the account's stream-size limits,
    /// then the server's resources).
    fn parse_config(
        &self,
        id: AccountId,
        name: &str,
        body: &[u8],
        create: bool,
    ) -> Result<StreamConfig, JsError> {
        let (config, pedantic) = api::parse_stream_config_request(body)?;
        if create {
            config.check_create_request(name)?;
        } else if config.name != name {
            return Err(JsError::stream_mismatch());
        }
        let account_limits = self.account(id).map(|a| a.limits()).unwrap_or_default();
        let limits = api::ServerLimits {
            max_bytes_required: account_limits.max_bytes_required,
            memory_max_stream_bytes: account_limits.memory_max_stream_bytes,
            storage_max_stream_bytes: account_limits.storage_max_stream_bytes,
            max_consumers: account_limits.max_consumers,
            ..api::ServerLimits::default()
        };
        let config = self.with_registry(id, |registry| {
            let lookup = |other: &str| registry.get(other).map(|e| &e.config);
            config.checked(&limits, pedantic, &lookup)
        })?;
        let limit = match config.storage {
            StorageType::Memory => self.js.max_memory_bytes,
            StorageType::File => self.js.max_store_bytes,
        };
        if config.max_bytes > limit {
            return Err(JsError::insufficient_resources());
        }
        Ok(config)
    }

    /// The account limits a new stream must fit (nats-server's
    /// `jsNonClusteredStreamLimitsCheck`): stream count, consumers per stream, and the
    /// `max_bytes` reservation of its storage. An identical re-create is judged too, as
    /// nats-server judges it, before it finds the stream exists.
    fn check_create_limits(&self, id: AccountId, config: &StreamConfig) -> Result<(), JsError> {
        let Some(account) = self.account(id) else {
            return Err(JsError::not_enabled_for_account());
        };
        let limits = account.limits();
        let streams = self.with_registry(id, |registry| registry.len());
        if limits.max_streams > 0 && streams as i64 >= limits.max_streams {
            return Err(JsError::maximum_streams_limit());
        }
        config.check_account_limits(&api::ServerLimits {
            max_consumers: limits.max_consumers,
            ..api::ServerLimits::default()
        })?;
        let reserved = self.reserved(id, config.storage, &config.name);
        let adding = if config.max_bytes > 0 {
            config.max_bytes
        } else {
            1
        };
        check_reservation(&account, config.storage, reserved, adding)
    }

    /// An update's account limits (nats-server 2.9.10's `jsStreamUpdateRequest`): only a
    /// growth of `max_bytes` is reserved, on top of everything reserved so far.
    fn check_update_limits(
        &self,
        id: AccountId,
        old: &StreamConfig,
        config: &StreamConfig,
    ) -> Result<(), JsError> {
        let Some(account) = self.account(id) else {
            return Err(JsError::not_enabled_for_account());
        };
        config.check_account_limits(&api::ServerLimits {
            max_consumers: account.limits().max_consumers,
            ..api::ServerLimits::default()
        })?;
        let growth = config.max_bytes.saturating_sub(old.max_bytes).max(0);
        let reserved = self
            .reserved(id, config.storage, &config.name)
            .saturating_add(old.max_bytes.max(0));
        check_reservation(&account, config.storage, reserved, growth)
    }

    fn overlapping(&self, id: AccountId, config: &StreamConfig) -> bool {
        self.with_registry(id, |registry| {
            registry
                .iter()
                .any(|(name, entry)| *name != config.name && api::overlaps(config, &entry.config))
        })
    }

    async fn create(&self, id: AccountId, message: &InternalMessage, name: &str, body: &[u8]) {
        const TYPE: &str = "stream_create_response";
        let config = match self.parse_config(id, name, body, true) {
            Ok(config) => config,
            Err(error) => return self.fail(id, message, TYPE, &error),
        };
        if let Err(error) = self.check_create_limits(id, &config) {
            return self.fail(id, message, TYPE, &error);
        }
        let existing = self.with_registry(id, |registry| {
            registry.get(name).map(|e| (e.owner, e.config == config))
        });
        let owner = match existing {
            Some((_, false)) => return self.fail(id, message, TYPE, &JsError::stream_name_exist()),
            Some((owner, true)) => owner,
            None => {
                if self.overlapping(id, &config) {
                    return self.fail(id, message, TYPE, &JsError::stream_subject_overlap());
                }
                let account_name = self.account(id).map(|a| a.name.clone()).unwrap_or_default();
                self.least_loaded_core(&account_name, name)
            }
        };
        let request = CreateRequest {
            config: config.clone(),
            created: now_ns(),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        match self.ask(owner, id, "CREATE", body).await {
            Ok(answer) => {
                if !is_error(&answer) {
                    self.with_registry(id, |registry| {
                        registry.insert(name.to_string(), Entry { owner, config })
                    });
                } else {
                    self.count_error(id);
                }
                self.answer(id, message, answer.to_vec());
            }
            Err(error) => self.fail(id, message, TYPE, &error),
        }
    }

    /// Where a new stream of `account` goes: the core with the fewest streams; among equally
    /// loaded cores, the first from a start that the (account, stream) pair hashes to, so
    /// streams of the same name in different accounts spread instead of piling up on the
    /// first core.
    fn least_loaded_core(&self, account: &str, stream: &str) -> usize {
        let cores = self.js.cores.max(1);
        let start = (placement_hash(account, stream) % cores as u64) as usize;
        (0..cores)
            .map(|offset| (start + offset) % cores)
            .min_by_key(|core| self.js.streams_per_core[*core].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    async fn update(&self, id: AccountId, message: &InternalMessage, name: &str, body: &[u8]) {
        const TYPE: &str = "stream_update_response";
        let config = match self.parse_config(id, name, body, false) {
            Ok(config) => config,
            Err(error) => return self.fail(id, message, TYPE, &error),
        };
        let current = self.with_registry(id, |registry| {
            registry.get(name).map(|e| (e.owner, e.config.clone()))
        });
        let Some((owner, old)) = current else {
            return self.fail(id, message, TYPE, &JsError::stream_not_found());
        };
        if let Err(error) = api::check_update(&old, &config) {
            return self.fail(id, message, TYPE, &error);
        }
        if let Err(error) = self.check_update_limits(id, &old, &config) {
            return self.fail(id, message, TYPE, &error);
        }
        if self.overlapping(id, &config) {
            return self.fail(id, message, TYPE, &JsError::stream_subject_overlap());
        }
        let request = CreateRequest {
            config: config.clone(),
            created: 0,
        };
        match self
            .ask(
                owner,
                id,
                "UPDATE",
                serde_json::to_vec(&request).unwrap_or_default(),
            )
            .await
        {
            Ok(answer) => {
                if !is_error(&answer) {
                    self.with_registry(id, |registry| {
                        if let Some(entry) = registry.get_mut(name) {
                            entry.config = config;
                        }
                    });
                }
                self.answer(id, message, answer.to_vec());
            }
            Err(error) => self.fail(id, message, TYPE, &error),
        }
    }

    async fn delete(&self, id: AccountId, message: &InternalMessage, name: &str, body: &[u8]) {
        const TYPE: &str = "stream_delete_response";
        if let Err(error) = api::check_empty_request(body) {
            return self.fail(id, message, TYPE, &error);
        }
        let owner = self.with_registry(id, |registry| registry.get(name).map(|e| e.owner));
        let Some(owner) = owner else {
            return self.fail(id, message, TYPE, &JsError::stream_not_found());
        };
        match self
            .ask(owner, id, "DELETE", name.as_bytes().to_vec())
            .await
        {
            Ok(answer) => {
                self.with_registry(id, |registry| registry.remove(name));
                self.answer(id, message, answer.to_vec());
            }
            Err(error) => self.fail(id, message, TYPE, &error),
        }
    }

    /// Stream names in order, those with a subject colliding with `filter` if given.
    fn matching_names(&self, id: AccountId, filter: Option<&str>) -> Vec<String> {
        self.with_registry(id, |registry| {
            registry
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
        })
    }

    fn names(&self, id: AccountId, message: &InternalMessage, body: &[u8]) {
        const TYPE: &str = "stream_names_response";
        let request = match api::StreamNamesRequest::parse(body) {
            Ok(request) => request,
            Err(error) => return self.fail(id, message, TYPE, &error),
        };
        let names = self.matching_names(id, Some(&request.subject));
        let response = api::StreamNamesResponse::page(names, request.offset());
        self.answer(id, message, response.to_json());
    }

    async fn list(&self, id: AccountId, message: &InternalMessage, body: &[u8]) {
        const TYPE: &str = "stream_list_response";
        let request = match api::StreamListRequest::parse(body) {
            Ok(request) => request,
            Err(error) => return self.fail(id, message, TYPE, &error),
        };
        let names = self.matching_names(id, Some(&request.subject));
        let (range, paged) = api::responses::page(names.len(), request.offset(), JS_API_LIST_PAGE);
        let mut streams = Vec::new();
        let mut missing = Vec::new();
        for name in &names[range] {
            let owner = self.with_registry(id, |registry| registry.get(name).map(|e| e.owner));
            let Some(owner) = owner else { continue };
            let info = match self.ask(owner, id, "INFO", name.as_bytes().to_vec()).await {
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
        self.answer(id, message, response.to_json());
    }
}

/// FNV-1a of the account and stream names (a NUL between them, which neither contains):
/// stable across runs and builds, unlike `std`'s randomly keyed hasher.
fn placement_hash(account: &str, stream: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    account
        .bytes()
        .chain(std::iter::once(0))
        .chain(stream.bytes())
        .fold(OFFSET_BASIS, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        })
}

/// nats-server's `checkBytesLimits` for the account: `adding` more bytes reserved on top
/// of `reserved` must stay within the account's limit for `storage` (-1: none).
fn check_reservation(
    account: &JsAccount,
    storage: StorageType,
    reserved: i64,
    adding: i64,
) -> Result<(), JsError> {
    let max = account.max_bytes(storage);
    if max >= 0 && reserved.saturating_add(adding) > max {
        return Err(match storage {
            StorageType::Memory => JsError::memory_resources_exceeded(),
            StorageType::File => JsError::storage_resources_exceeded(),
        });
    }
    Ok(())
}

/// What nats-server 2.9.10 answers an API request in an account without JetStream: the
/// request's response type with 10039, except that a consumer create first parses its
/// body (an unparsable one is "invalid JSON"), a consumer info first wants an empty body
/// (10038), and that pull requests, direct gets and unknown subjects get no answer at all.
pub fn not_enabled_answer(api_subject: &str, body: &[u8]) -> Option<Vec<u8>> {
    let tokens: Vec<&str> = api_subject.split('.').collect();
    let type_name = match tokens.as_slice() {
        ["INFO"] => "account_info_response",
        ["STREAM", "CREATE", _] => "stream_create_response",
        ["STREAM", "UPDATE", _] => "stream_update_response",
        ["STREAM", "DELETE", _] => "stream_delete_response",
        ["STREAM", "NAMES"] => "stream_names_response",
        ["STREAM", "LIST"] => "stream_list_response",
        ["STREAM", "INFO", _] | ["STREAM", "PURGE", _] | ["STREAM", "MSG", "GET" | "DELETE", _] => {
            response_type(api_subject)
        }
        ["CONSUMER", "CREATE", ..] | ["CONSUMER", "DURABLE", "CREATE", ..] => {
            if let Err(error) = serde_json::from_slice::<Value>(body) {
                return Some(error_response(
                    "consumer_create_response",
                    JsError::invalid_json(error),
                ));
            }
            "consumer_create_response"
        }
        ["CONSUMER", "INFO", _, _] => {
            if let Err(error) = api::check_empty_request(body) {
                return Some(error_response("consumer_info_response", error));
            }
            "consumer_info_response"
        }
        ["CONSUMER", "DELETE", _, _] | ["CONSUMER", "NAMES" | "LIST", _] => {
            response_type(api_subject)
        }
        _ => return None,
    };
    Some(error_response(
        type_name,
        JsError::not_enabled_for_account(),
    ))
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
        "consumer_names_response" => api::ConsumerNamesResponse::error(error).to_json(),
        "consumer_list_response" => api::ConsumerListResponse::error(error).to_json(),
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

#[cfg(test)]
mod tests {
    use super::{not_enabled_answer, placement_hash};
    use serde_json::Value;

    #[test]
    fn placement_hashes_the_pair_not_the_name() {
        assert_ne!(placement_hash("A", "S"), placement_hash("B", "S"));
        assert_ne!(placement_hash("AB", "S"), placement_hash("A", "BS"));
        // Stable: the same pair always lands on the same start (FNV-1a of "A\0S").
        assert_eq!(placement_hash("A", "S"), placement_hash("A", "S"));
        let spread: std::collections::BTreeSet<u64> = ["A", "B", "C", "D", "E", "F"]
            .iter()
            .map(|account| placement_hash(account, "ORDERS") % 2)
            .collect();
        assert_eq!(
            spread.len(),
            2,
            "six accounts' ORDERS use both of two cores"
        );
    }

    fn answer(subject: &str, body: &str) -> Option<Value> {
        not_enabled_answer(subject, body.as_bytes()).map(|a| serde_json::from_slice(&a).unwrap())
    }

    #[test]
    fn not_enabled_answers_as_nats_server_2_9_10() {
        let info = answer("INFO", "").unwrap();
        assert_eq!(
            info.to_string(),
            r#"{"error":{"code":503,"description":"JetStream not enabled for account","err_code":10039},"type":"io.nats.jetstream.api.v1.account_info_response"}"#
        );
        let names = answer("STREAM.NAMES", "").unwrap();
        assert!(names["streams"].is_null() && names["total"] == 0);
        let consumers = answer("CONSUMER.NAMES.S", "").unwrap();
        assert_eq!(consumers["consumers"], serde_json::json!([]));
        assert_eq!(answer("STREAM.PURGE.S", "").unwrap()["purged"], 0);
        let create = answer("CONSUMER.CREATE.S", "").unwrap();
        assert_eq!(create["error"]["err_code"], 10025, "body parsed first");
        let create = answer("CONSUMER.DURABLE.CREATE.S.d", "{}").unwrap();
        assert_eq!(create["error"]["err_code"], 10039);
        let info = answer("CONSUMER.INFO.S.d", "x").unwrap();
        assert_eq!(
            info["error"]["err_code"], 10038,
            "an empty body is checked first"
        );
        assert_eq!(
            answer("CONSUMER.INFO.S.d", "").unwrap()["error"]["err_code"],
            10039
        );
        assert_eq!(
            answer("STREAM.DELETE.S", "x").unwrap()["error"]["err_code"],
            10039
        );
        for silent in [
            "CONSUMER.MSG.NEXT.S.d",
            "DIRECT.GET.S",
            "BOGUS",
            "STREAM.INFO",
        ] {
            assert!(answer(silent, "").is_none(), "{silent}");
        }
    }
}
