//! Answers to the `$SYS.REQ` requests the cores hand over (see `server::system`): the same
//! builders as the HTTP endpoints, wrapped as nats-server's `ServerAPIResponse`
//! (`{"server": {...}, "data": {...}}`, or `"error": {"code", "description"}`), plus
//! statsz. Runs on its own thread: the builders ask every core and wait for them.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::format::serialize_time;
use super::http::Query;
use super::Monitor;
use crate::limits::SYSTEM_REQUESTS_QUEUED_MAX;
use crate::server::registry::{CoreQuery, CoreReply};
use crate::server::system::{SystemJob, SystemRequest};

/// Starts the thread that answers system requests and tells the cores where it is.
pub fn start(monitor: Arc<Monitor>) -> Result<(), String> {
    let (sender, receiver) = crossbeam_channel::bounded::<SystemJob>(SYSTEM_REQUESTS_QUEUED_MAX);
    let shared = monitor.shared.clone();
    std::thread::Builder::new()
        .name("tern-sys".to_string())
        .spawn(move || {
            for job in receiver {
                let answer = answer(&monitor, &job.request, &job.body);
                let _ = job.answer.send(answer);
            }
        })
        .map_err(|e| format!("can not start the system request thread: {e}"))?;
    let _ = shared.system.requests.set(sender);
    Ok(())
}

#[derive(Serialize)]
struct ApiResponse {
    server: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ApiError>,
}

#[derive(Serialize)]
struct ApiError {
    code: u16,
    description: String,
}

/// nats-server's `ServerStatsMsg`.
#[derive(Serialize)]
struct StatszMessage {
    server: Value,
    statsz: Statsz,
}

#[derive(Serialize)]
struct Statsz {
    #[serde(serialize_with = "serialize_time")]
    start: SystemTime,
    mem: Value,
    cores: Value,
    cpu: Value,
    connections: Value,
    total_connections: Value,
    active_accounts: usize,
    subscriptions: Value,
    sent: DataStats,
    received: DataStats,
    slow_consumers: Value,
    active_servers: u32,
}

#[derive(Serialize)]
struct DataStats {
    msgs: Value,
    bytes: Value,
}

/// The published answer, or `None` when this server does not answer.
fn answer(monitor: &Monitor, request: &SystemRequest, body: &[u8]) -> Option<Vec<u8>> {
    let shared = &monitor.shared;
    let options: serde_json::Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(options)) => options,
            Ok(_) => return Some(error(monitor, 400, "options must be a JSON object".into())),
            Err(e) => return Some(error(monitor, 400, e.to_string())),
        }
    };
    if !filter_matches(monitor, &options) {
        return None;
    }
    let (path, query) = match request {
        SystemRequest::Server { kind } if kind == "STATSZ" => {
            return Some(statsz(monitor));
        }
        SystemRequest::Server { kind } => (
            format!("/{}", kind.to_ascii_lowercase()),
            to_query(&options),
        ),
        SystemRequest::Account { account, kind } => {
            let mut args = to_query(&options);
            args.retain(|(k, _)| k != "acc");
            args.push(("acc".to_string(), account.clone()));
            let path = match kind.as_str() {
                "INFO" => "/accountz",
                "SUBSZ" => {
                    args.retain(|(k, _)| k != "subs");
                    args.push(("subs".to_string(), "1".to_string()));
                    "/subsz"
                }
                "CONNZ" => "/connz",
                "JSZ" => "/jsz",
                "LEAFZ" => "/leafz",
                _ => return None,
            };
            if kind == "JSZ" && super::jetstream::provider(shared).is_none() {
                return Some(error_with_null(monitor, "jetstream not enabled".into()));
            }
            if kind == "INFO" && shared.auth.load().account_id(account).is_none() {
                return Some(error_with_null(
                    monitor,
                    format!("Account {account} does not exist"),
                ));
            }
            (path.to_string(), args)
        }
    };
    let (status, body) = super::answer(monitor, &path, &Query::from_pairs(query)).into_parts();
    if status != 200 {
        let text = String::from_utf8_lossy(&body).trim_end().to_string();
        return Some(error_with_null(monitor, text));
    }
    let mut data: Value = serde_json::from_slice(&body).ok()?;
    if matches!(request, SystemRequest::Account { kind, .. } if kind == "INFO") {
        data = data["account_detail"].take();
    }
    serde_json::to_vec(&ApiResponse {
        server: shared.system.server_info(shared),
        data: Some(data),
        error: None,
    })
    .ok()
}

/// nats-server's `EventFilterOptions`: a request naming another server is not ours.
fn filter_matches(monitor: &Monitor, options: &serde_json::Map<String, Value>) -> bool {
    let shared = &monitor.shared;
    let wants = |key: &str, ours: &str| {
        options
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(|want| want.is_empty() || ours.contains(want))
    };
    let no_cluster = options
        .get("cluster")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    wants("server_name", &shared.server_name) && wants("host", &shared.options.host) && no_cluster
}

/// A request's JSON options as the HTTP endpoints' arguments (nats-server's option
/// structs name a few differently from the URL arguments).
fn to_query(options: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut args = Vec::new();
    for (key, value) in options {
        let text = match value {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => continue,
        };
        let arg = match key.as_str() {
            "subscriptions" => "subs",
            "subscriptions_detail" => {
                if value == &Value::Bool(true) {
                    args.push(("subs".to_string(), "detail".to_string()));
                }
                continue;
            }
            "account" => "acc",
            "leader_only" => "leader-only",
            "state" => {
                // ConnzOptions' `state` is nats-server's ConnState number.
                let state = match value.as_u64() {
                    Some(0) => "open",
                    Some(1) => "closed",
                    Some(2) => "all",
                    _ => text.as_str(),
                };
                args.push(("state".to_string(), state.to_string()));
                continue;
            }
            "server_name" | "cluster" | "host" | "tags" | "domain" => continue,
            other => other,
        };
        args.push((arg.to_string(), text));
    }
    args
}

fn error(monitor: &Monitor, code: u16, description: String) -> Vec<u8> {
    let shared = &monitor.shared;
    serde_json::to_vec(&ApiResponse {
        server: shared.system.server_info(shared),
        data: None,
        error: Some(ApiError { code, description }),
    })
    .unwrap_or_default()
}

/// An endpoint that failed: nats-server answers `"data": null` and code 500.
fn error_with_null(monitor: &Monitor, description: String) -> Vec<u8> {
    let shared = &monitor.shared;
    serde_json::to_vec(&ApiResponse {
        server: shared.system.server_info(shared),
        data: Some(Value::Null),
        error: Some(ApiError {
            code: 500,
            description,
        }),
    })
    .unwrap_or_default()
}

/// nats-server's statsz, from the `/varz` figures.
fn statsz(monitor: &Monitor) -> Vec<u8> {
    let shared = &monitor.shared;
    let varz = serde_json::to_value(super::varz::varz(monitor, &monitor.sampler.latest()))
        .unwrap_or_default();
    let active_accounts = match shared.registry.ask_all(CoreQuery::ActiveAccounts) {
        Ok(replies) => {
            let mut accounts: Vec<u32> = replies
                .into_iter()
                .flat_map(|reply| match reply {
                    CoreReply::ActiveAccounts(accounts) => accounts,
                    _ => Vec::new(),
                })
                .collect();
            accounts.sort_unstable();
            accounts.dedup();
            accounts.len()
        }
        Err(_) => 0,
    };
    let field = |key: &str| varz[key].clone();
    serde_json::to_vec(&StatszMessage {
        server: shared.system.server_info(shared),
        statsz: Statsz {
            start: shared.started,
            mem: field("mem"),
            cores: field("cores"),
            cpu: field("cpu"),
            connections: field("connections"),
            total_connections: field("total_connections"),
            active_accounts,
            subscriptions: field("subscriptions"),
            sent: DataStats {
                msgs: field("out_msgs"),
                bytes: field("out_bytes"),
            },
            received: DataStats {
                msgs: field("in_msgs"),
                bytes: field("in_bytes"),
            },
            slow_consumers: field("slow_consumers"),
            active_servers: 1,
        },
    })
    .unwrap_or_default()
}
