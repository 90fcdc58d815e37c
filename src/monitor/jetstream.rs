//! The hook through which the JetStream module feeds monitoring: `/jsz`, the `jetstream`
//! section of `/varz`, its lines in `/metrics`, the JetStream checks of `/healthz`, and the
//! streams table of the dashboard.
//!
//! Monitoring runs on its own threads, so the provider must answer from state it can read
//! without a core's help (atomics, or a snapshot the JetStream module refreshes), and
//! quickly: a monitoring request waits for it.
//!
//! The JetStream module installs its provider once, at startup:
//!
//! ```ignore
//! tern::monitor::jetstream::install(server.shared(), Arc::new(MyProvider { .. }));
//! ```
//!
//! Until then (and when JetStream is off) `/jsz` answers nats-server's shape for a server
//! without JetStream, `/varz` has `"jetstream": {}`, and `/healthz` follows nats-server:
//! healthy when JetStream is not configured, `503 {"status":"unavailable","error":
//! "JetStream not enabled"}` when it is configured but nothing provides it.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::server::Shared;

/// `/jsz` query arguments, decoded and bounded by monitoring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JszQuery {
    /// `acc`: only this account's details.
    pub account: Option<String>,
    /// `accounts`: per-account details.
    pub accounts: bool,
    /// `streams`: per-stream details (implies `accounts`).
    pub streams: bool,
    /// `consumers`: per-consumer details (implies `streams`).
    pub consumers: bool,
    /// `config`: stream and consumer configurations in the details.
    pub config: bool,
    /// `leader-only`: answer only if this server is the meta leader.
    pub leader_only: bool,
    /// `offset` into the account list (sorted by name, as nats-server does).
    pub offset: usize,
    /// `limit` on the account list: 1024 by default, at most [`JSZ_LIMIT_MAX`].
    pub limit: usize,
}

/// Accounts one `/jsz` answer lists at most.
pub const JSZ_LIMIT_MAX: usize = 10_000;

/// `/healthz` query arguments that concern JetStream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthzQuery {
    /// `js-enabled-only` (or the deprecated `js-enabled`): only check JetStream is running.
    pub js_enabled_only: bool,
    /// `js-server-only`: skip the per-stream and per-consumer checks.
    pub js_server_only: bool,
}

/// What the JetStream module tells monitoring. Every method is called on a monitoring
/// thread.
pub trait JetStreamMonitor: Send + Sync {
    /// The `/jsz` body after `server_id` and `now` (which monitoring adds first): nats-server's
    /// `JSInfo` fields (`config`, `memory`, `storage`, `reserved_memory`,
    /// `reserved_storage`, `accounts`, `ha_assets`, `api`, `streams`, `consumers`,
    /// `messages`, `bytes`, `account_details` ...). `Err` becomes a 400 with that text.
    fn jsz(&self, query: &JszQuery) -> Result<Value, String>;

    /// The `jetstream` object of `/varz`: `{"config": {...}, "stats": {...}, "meta": ...}`.
    fn varz_section(&self) -> Value;

    /// Appends JetStream's lines to `/metrics` in Prometheus text format, `tern_jetstream_`
    /// prefixed (store bytes, fsync latency and publish-ack latency histograms); the
    /// helpers in [`crate::monitor::metrics`] write well-formed families.
    fn metrics(&self, out: &mut String);

    /// `Err(reason)` makes `/healthz` answer 503 `{"status":"unavailable","error":reason}`.
    fn healthz(&self, query: &HealthzQuery) -> Result<(), String>;

    /// Whether the account named `account` has JetStream (`/accountz`'s
    /// `jetstream_enabled`).
    fn account_enabled(&self, account: &str) -> bool;

    /// Waits (bounded) until JetStream's accounts follow authentication version `version`
    /// (a config reload waits so that its new JetStream accounts serve once it reports
    /// done). False when that did not happen in time.
    fn wait_for_auth(&self, version: u64) -> bool;
}

/// Installs the provider; a second call is refused (the first provider stays).
pub fn install(shared: &Shared, provider: Arc<dyn JetStreamMonitor>) -> Result<(), String> {
    shared
        .registry
        .jetstream
        .set(provider)
        .map_err(|_| "a JetStream monitoring provider is already installed".to_string())
}

pub(crate) fn provider(shared: &Shared) -> Option<&Arc<dyn JetStreamMonitor>> {
    shared.registry.jetstream.get()
}

/// nats-server's `/jsz` fields for a server without JetStream (captured from 2.9.10 run
/// without `-js`), after `server_id` and `now`.
#[derive(Serialize)]
pub(crate) struct JszDisabled {
    disabled: bool,
    config: JszDisabledConfig,
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: JszDisabledApi,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
}

#[derive(Serialize, Default)]
struct JszDisabledConfig {
    max_memory: i64,
    max_storage: i64,
}

#[derive(Serialize, Default)]
struct JszDisabledApi {
    total: u64,
    errors: u64,
}

impl Default for JszDisabled {
    fn default() -> Self {
        JszDisabled {
            disabled: true,
            config: JszDisabledConfig::default(),
            memory: 0,
            storage: 0,
            reserved_memory: 0,
            reserved_storage: 0,
            accounts: 0,
            ha_assets: 0,
            api: JszDisabledApi::default(),
            streams: 0,
            consumers: 0,
            messages: 0,
            bytes: 0,
        }
    }
}

/// nats-server's `NewJSNotEnabledError()` text.
pub(crate) const JETSTREAM_NOT_ENABLED: &str = "JetStream not enabled";
