//! The smaller endpoints: `/routez`, `/gatewayz`, `/leafz` (empty until clustering, gateways
//! and leaf nodes exist), `/accountz`, `/accstatz`, `/jsz` and `/healthz`, each with
//! nats-server's fields and argument checks.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

use super::format::serialize_time;
use super::http::{Query, Response};
use super::jetstream::{self, HealthzQuery, JszQuery, JETSTREAM_NOT_ENABLED, JSZ_LIMIT_MAX};
use super::subsz::SublistStats;
use super::varz::total;
use super::Monitor;
use crate::auth::imports::{ExportInfo, ImportInfo};
use crate::server::mesh::GLOBAL_ACCOUNT;
use crate::server::registry::{account_name, AccountFigures, CoreQuery, CoreReply};

/// nats-server's `Routez` with no routes.
#[derive(Serialize)]
struct Routez<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    num_routes: u32,
    routes: [(); 0],
}

pub fn routez(monitor: &Monitor, query: &Query) -> Response {
    if let Err(response) = super::connz::decode_subs(query) {
        return response;
    }
    Response::json(&Routez {
        server_id: &monitor.shared.server_id,
        now: SystemTime::now(),
        num_routes: 0,
        routes: [],
    })
}

/// nats-server's `Gatewayz` when gateways are not configured.
#[derive(Serialize)]
struct Gatewayz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    outbound_gateways: Map<String, Value>,
    inbound_gateways: Map<String, Value>,
}

pub fn gatewayz(monitor: &Monitor, query: &Query) -> Response {
    if let Err(response) = query.bool("accs") {
        return response;
    }
    Response::json(&Gatewayz {
        server_id: &monitor.shared.server_id,
        now: SystemTime::now(),
        outbound_gateways: Map::new(),
        inbound_gateways: Map::new(),
    })
}

/// nats-server's `Leafz` with no leaf nodes (its `leafs` is then `null`).
#[derive(Serialize)]
struct Leafz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    leafnodes: u32,
    leafs: Option<[(); 0]>,
}

pub fn leafz(monitor: &Monitor, query: &Query) -> Response {
    if let Err(response) = query.bool("subs") {
        return response;
    }
    Response::json(&Leafz {
        server_id: &monitor.shared.server_id,
        now: SystemTime::now(),
        leafnodes: 0,
        leafs: None,
    })
}

#[derive(Serialize)]
struct Accountz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    system_account: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountInfo>,
}

/// nats-server's `AccountInfo` (no JWT, mappings or leaf nodes in tern).
#[derive(Serialize)]
struct AccountInfo {
    account_name: &'static str,
    #[serde(serialize_with = "serialize_time")]
    update_time: SystemTime,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_system: bool,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: u32,
    client_connections: usize,
    subscriptions: u64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    exports: Vec<ExportInfo>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    imports: Vec<ImportInfo>,
    sublist_stats: SublistStats,
}

/// Lists every account, or details one (`acc=`): its exports and imports as configured,
/// and its connections and subject index summed over the cores.
pub fn accountz(monitor: &Monitor, query: &Query) -> Response {
    let shared = &monitor.shared;
    let auth = shared.auth.load();
    let detail = match query.get("acc") {
        None => None,
        Some(name) => {
            let Some(account) = auth.account_id(name) else {
                return Response::error(400, format!("Account {name} does not exist"));
            };
            let replies = match shared.registry.ask_all(CoreQuery::Account(account)) {
                Ok(replies) => replies,
                Err(error) => return Response::error(500, error),
            };
            let mut figures = AccountFigures::default();
            for reply in replies {
                if let CoreReply::Account(core) = reply {
                    figures.connections += core.connections;
                    figures.subscriptions += core.subscriptions;
                    figures.cache_entries += core.cache_entries;
                    figures.inserts += core.inserts;
                    figures.removes += core.removes;
                }
            }
            let interfaces = auth.interfaces(account).cloned().unwrap_or_default();
            Some(AccountInfo {
                account_name: auth.account_name(account),
                update_time: shared.started,
                is_system: account == auth.system_account(),
                expired: false,
                complete: true,
                jetstream_enabled: jetstream::provider(shared)
                    .is_some_and(|provider| provider.account_enabled(auth.account_name(account))),
                leafnode_connections: 0,
                client_connections: figures.connections,
                subscriptions: figures.subscriptions,
                exports: interfaces.exports,
                imports: interfaces.imports,
                sublist_stats: SublistStats {
                    num_subscriptions: figures.subscriptions,
                    num_cache: figures.cache_entries,
                    num_inserts: figures.inserts,
                    num_removes: figures.removes,
                    ..SublistStats::default()
                },
            })
        }
    };
    Response::json(&Accountz {
        server_id: &shared.server_id,
        now: SystemTime::now(),
        system_account: auth.account_name(auth.system_account()),
        accounts: detail.is_none().then(|| {
            // tern's internal account is no account a client or operator can use, and a
            // removed one is gone.
            auth.live_accounts()
                .map(|id| auth.account_name(id))
                .collect()
        }),
        account_detail: detail,
    })
}

#[derive(Serialize)]
struct AccountStatz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    account_statz: Vec<AccountStat>,
}

/// nats-server's `AccountStat`: `sent` is what the account's clients were sent, `received`
/// what they published.
#[derive(Serialize)]
struct AccountStat {
    acc: &'static str,
    conns: usize,
    leafnodes: u32,
    total_conns: usize,
    sent: DataStats,
    received: DataStats,
    slow_consumers: u64,
}

#[derive(Serialize)]
struct DataStats {
    msgs: u64,
    bytes: u64,
}

pub fn accstatz(monitor: &Monitor, query: &Query) -> Response {
    let unused = match query.bool("unused") {
        Ok(unused) => unused,
        Err(response) => return response,
    };
    let shared = &monitor.shared;
    let conns = shared.connection_count();
    let stats = &shared.stats;
    let count = |f: fn(&crate::server::ShardStats) -> &std::sync::atomic::AtomicU64| {
        total(stats, |s| f(s).load(Ordering::Relaxed))
    };
    let mut account_statz = Vec::new();
    if unused || conns > 0 {
        account_statz.push(AccountStat {
            acc: account_name(GLOBAL_ACCOUNT),
            conns,
            leafnodes: 0,
            total_conns: conns,
            sent: DataStats {
                msgs: count(|s| &s.out_msgs),
                bytes: count(|s| &s.out_bytes),
            },
            received: DataStats {
                msgs: count(|s| &s.in_msgs),
                bytes: count(|s| &s.in_bytes),
            },
            slow_consumers: count(|s| &s.slow_consumers),
        });
    }
    Response::json(&AccountStatz {
        server_id: &shared.server_id,
        now: SystemTime::now(),
        account_statz,
    })
}

/// `/jsz`: the JetStream module's answer, or nats-server's shape for a server without
/// JetStream.
pub fn jsz(monitor: &Monitor, query: &Query) -> Response {
    let decoded = (|| -> Result<JszQuery, Response> {
        let accounts = query.bool("accounts")?;
        let streams = query.bool("streams")?;
        let consumers = query.bool("consumers")?;
        let config = query.bool("config")?;
        let offset = query.int("offset")?.max(0) as usize;
        let limit = match query.int("limit")? {
            n if n <= 0 => 1024,
            n => (n as usize).min(JSZ_LIMIT_MAX),
        };
        let leader_only = query.bool("leader-only")?;
        Ok(JszQuery {
            account: query.get("acc").map(str::to_string),
            // As nats-server: consumers imply streams, streams imply accounts.
            accounts: accounts || streams || consumers,
            streams: streams || consumers,
            consumers,
            config,
            leader_only,
            offset,
            limit,
        })
    })();
    let jsz_query = match decoded {
        Ok(q) => q,
        Err(response) => return response,
    };
    let shared = &monitor.shared;
    let server_id = shared.server_id.as_str();
    let now = SystemTime::now();
    match jetstream::provider(shared) {
        Some(provider) => match provider.jsz(&jsz_query) {
            Ok(mut body) => {
                // Ours come first, once.
                if let Some(fields) = body.as_object_mut() {
                    fields.remove("server_id");
                    fields.remove("now");
                }
                Response::json(&Identified {
                    server_id,
                    now,
                    body,
                })
            }
            Err(error) => Response::error(400, error),
        },
        // nats-server's errSkipZreq text for a server that is not the leader.
        None if jsz_query.leader_only => Response::error(400, "filtered response: not leader"),
        None => Response::json(&Identified {
            server_id,
            now,
            body: jetstream::JszDisabled::default(),
        }),
    }
}

/// `{"server_id": .., "now": .., <body's fields>}`.
#[derive(Serialize)]
struct Identified<'a, T: Serialize> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct HealthStatus<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    error: &'a str,
}

/// `/healthz`, as nats-server 2.9/2.10 decide it: not ready yet is an error; with JetStream
/// configured, JetStream must be running (`js-enabled-only` stops there) and healthy.
pub fn healthz(monitor: &Monitor, query: &Query) -> Response {
    let decoded = (|| -> Result<HealthzQuery, Response> {
        let js_enabled = query.bool("js-enabled")?;
        let js_enabled_only = query.bool("js-enabled-only")?;
        let js_server_only = query.bool("js-server-only")?;
        Ok(HealthzQuery {
            js_enabled_only: js_enabled_only || js_enabled,
            js_server_only,
        })
    })();
    let health_query = match decoded {
        Ok(q) => q,
        Err(response) => return response,
    };
    let shared = &monitor.shared;
    let failure = |status: &str, error: &str| {
        tracing::warn!("Healthcheck failed: {error:?}");
        Response::json_compact(503, &HealthStatus { status, error })
    };
    // The listeners are bound before the cores start, so the server takes connections
    // from the start, unless a server-side service holds the cores back while it starts.
    if shared.startup_holds.load(Ordering::Acquire) > 0 {
        return failure("error", "server is not ready for connections yet");
    }
    if shared.options.jetstream {
        match jetstream::provider(shared) {
            None => return failure("unavailable", JETSTREAM_NOT_ENABLED),
            Some(provider) => {
                if let Err(error) = provider.healthz(&health_query) {
                    return failure("unavailable", &error);
                }
            }
        }
    }
    Response::json_compact(
        200,
        &HealthStatus {
            status: "ok",
            error: "",
        },
    )
}
