//! `/connz`: open and recently closed connections, with nats-server's arguments (`sort`,
//! `auth`, `subs`, `offset`, `limit`, `cid`, `state`, `user`, `acc`, `mqtt_client`), its 400
//! texts, and its `Connz`/`ConnInfo` fields. Open connections come from the cores (see
//! `server::registry`), closed ones from the shared ring.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::format::{rtt, serialize_optional_time, serialize_time, uptime};
use super::http::{Query, Response};
use super::Monitor;
use crate::server::registry::{
    sort_rows, ConnRow, ConnectionsQuery, CoreQuery, CoreReply, SortKey, SubRow, SubsWanted,
};

/// nats-server's `DefaultConnListSize`.
pub const CONNZ_LIMIT_DEFAULT: usize = 1024;
/// Connections one answer lists at most (nats-server has no bound); a larger `limit` is cut
/// to this and the answer's `limit` says so.
pub const CONNZ_LIMIT_MAX: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closed,
    All,
}

#[derive(Serialize)]
struct Connz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    connections: Vec<ConnInfo<'a>>,
}

/// nats-server's `ConnInfo`.
#[derive(Serialize)]
struct ConnInfo<'a> {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: &'a str,
    port: u16,
    #[serde(serialize_with = "serialize_time")]
    start: SystemTime,
    #[serde(serialize_with = "serialize_time")]
    last_activity: SystemTime,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_time"
    )]
    stop: Option<SystemTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    lang: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    tls_version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    tls_cipher_suite: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_first: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    authorized_user: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    account: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail<'a>>,
}

/// nats-server's `SubDetail`.
#[derive(Serialize)]
pub struct SubDetail<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub account: &'a str,
    pub subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qgroup: Option<&'a str>,
    pub sid: &'a str,
    pub msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub cid: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl<'a> SubDetail<'a> {
    pub fn from_row(row: &'a SubRow) -> SubDetail<'a> {
        SubDetail {
            account: row.account,
            subject: &row.subject,
            qgroup: row.queue.as_deref(),
            sid: &row.sid,
            msgs: row.msgs,
            max: row.max,
            cid: row.cid,
        }
    }
}

fn decode_state(query: &Query) -> Result<State, Response> {
    match query.get("state").map(str::to_ascii_lowercase).as_deref() {
        None | Some("open") => Ok(State::Open),
        Some("closed") => Ok(State::Closed),
        Some("any") | Some("all") => Ok(State::All),
        Some(_) => Err(Response::error(
            400,
            format!(
                "Error decoding state for {}",
                query.get("state").unwrap_or("")
            ),
        )),
    }
}

/// nats-server's `decodeSubs`: `detail`, or a boolean.
pub fn decode_subs(query: &Query) -> Result<SubsWanted, Response> {
    if query
        .get("subs")
        .is_some_and(|s| s.eq_ignore_ascii_case("detail"))
    {
        return Ok(SubsWanted::Detail);
    }
    Ok(if query.bool("subs")? {
        SubsWanted::Subjects
    } else {
        SubsWanted::None
    })
}

pub fn connz(monitor: &Monitor, query: &Query) -> Response {
    match build(monitor, query) {
        Ok(response) => response,
        Err(response) => response,
    }
}

fn build(monitor: &Monitor, query: &Query) -> Result<Response, Response> {
    // Arguments are decoded in nats-server's order, so the first bad one is the one named.
    let sort_text = query.get("sort").unwrap_or("");
    let auth = query.bool("auth")?;
    let subs = decode_subs(query)?;
    let offset = query.int("offset")?.max(0) as usize;
    let limit = match query.int("limit")? {
        n if n <= 0 => CONNZ_LIMIT_DEFAULT,
        n => (n as usize).min(CONNZ_LIMIT_MAX),
    };
    let cid = query.uint64("cid")?;
    let state = decode_state(query)?;
    let user = query.get("user").map(str::to_string);
    let account = query.get("acc");
    // MQTT clients do not exist in tern: a filter on one matches nothing.
    let mqtt_client = query.get("mqtt_client");

    let Some(sort) = SortKey::parse(sort_text) else {
        return Err(Response::error(
            400,
            format!("invalid sorting option: {sort_text}"),
        ));
    };
    if sort == SortKey::Stop && state != State::Closed {
        return Err(Response::error(
            400,
            "sort by stop only valid on closed connections",
        ));
    }
    if sort == SortKey::Reason && state != State::Closed {
        return Err(Response::error(
            400,
            "sort by reason only valid on closed connections",
        ));
    }
    let limit = if cid > 0 { 1 } else { limit };
    let now = SystemTime::now();
    let server_id = &monitor.shared.server_id;
    let account_known = account.is_none_or(|a| monitor.shared.auth.load().account_id(a).is_some());

    let mut rows: Vec<Arc<ConnRow>> = Vec::new();
    let mut total = 0;
    if state != State::Closed && account_known {
        let core_query = ConnectionsQuery {
            cid: (cid > 0).then_some(cid),
            user: user.clone(),
            account: account.map(str::to_string),
            sort,
            keep: offset.saturating_add(limit),
            subs,
        };
        let replies = monitor
            .shared
            .registry
            .ask_all(CoreQuery::Connections(core_query))
            .map_err(|error| Response::error(503, error))?;
        for reply in replies {
            if let CoreReply::Connections {
                total: core_total,
                rows: core_rows,
            } = reply
            {
                total += core_total;
                rows.extend(core_rows.into_iter().map(Arc::new));
            }
        }
    }
    if state != State::Open && account_known {
        let closed = monitor.shared.registry.closed_connections();
        total += closed
            .iter()
            .filter(|row| account.is_none_or(|a| a == row.account))
            .count();
        rows.extend(
            closed
                .into_iter()
                .filter(|row| cid == 0 || row.cid == cid)
                .filter(|row| user.as_ref().is_none_or(|u| *u == row.user))
                .filter(|row| account.is_none_or(|a| a == row.account)),
        );
    }
    if mqtt_client.is_some() {
        rows.clear();
    }
    sort_rows(&mut rows, sort, now);
    let page: Vec<&ConnRow> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|row| row.as_ref())
        .collect();
    let connections: Vec<ConnInfo> = page
        .iter()
        .map(|row| conn_info(row, now, auth, subs))
        .collect();
    let body = Connz {
        server_id,
        now,
        num_connections: connections.len(),
        total,
        offset,
        limit,
        connections,
    };
    Ok(Response::json(&body))
}

fn conn_info(row: &ConnRow, now: SystemTime, auth: bool, subs: SubsWanted) -> ConnInfo<'_> {
    let since = |later: SystemTime, earlier: SystemTime| {
        later.duration_since(earlier).unwrap_or(Duration::ZERO)
    };
    let until = row.stop.unwrap_or(now);
    ConnInfo {
        cid: row.cid,
        kind: "Client",
        kind_type: "nats",
        ip: &row.ip,
        port: row.port,
        start: row.start,
        last_activity: row.last_activity,
        stop: row.stop,
        reason: row.reason,
        rtt: rtt(row.rtt),
        uptime: uptime(since(until, row.start)),
        idle: uptime(since(until, row.last_activity)),
        pending_bytes: row.pending_bytes,
        in_msgs: row.in_msgs,
        out_msgs: row.out_msgs,
        in_bytes: row.in_bytes,
        out_bytes: row.out_bytes,
        subscriptions: row.subscription_count,
        name: &row.name,
        lang: &row.lang,
        version: &row.version,
        tls_version: row.tls.as_ref().map_or("", |t| t.0.as_str()),
        tls_cipher_suite: row.tls.as_ref().map_or("", |t| t.1.as_str()),
        tls_first: row.tls.as_ref().is_some_and(|t| t.2),
        authorized_user: if auth { &row.user } else { "" },
        // nats-server names the account only when it is not the global one.
        account: if auth && row.account != "$G" {
            row.account
        } else {
            ""
        },
        subscriptions_list: if subs == SubsWanted::Subjects {
            row.subs.iter().map(|s| s.subject.as_str()).collect()
        } else {
            Vec::new()
        },
        subscriptions_list_detail: if subs == SubsWanted::Detail {
            row.subs.iter().map(SubDetail::from_row).collect()
        } else {
            Vec::new()
        },
    }
}
