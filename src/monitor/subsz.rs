//! `/subsz` (and its old name `/subscriptionsz`): subject index statistics and, with
//! `subs=1`, the subscriptions themselves (`test=<subject>` keeps those a message on that
//! subject would reach; `offset`, `limit`, `acc`).
//!
//! As nats-server 2.9/2.10 do, an answer without any listed subscription is the bare
//! statistics object, and `total` counts the listed page.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::Serialize;

use super::connz::SubDetail;
use super::format::{serialize_float, serialize_time};
use super::http::{Query, Response};
use super::Monitor;
use crate::routing::is_valid_literal_subject;
use crate::server::registry::{sort_subs, CoreQuery, CoreReply, SubRow, SubscriptionsQuery};

/// nats-server's `DefaultSubListSize`.
pub const SUBSZ_LIMIT_DEFAULT: usize = 1024;
/// Subscriptions one answer lists at most.
pub const SUBSZ_LIMIT_MAX: usize = 10_000;

/// nats-server's `SublistStats`. tern's index does not count matches, cache hits or fan-out
/// (those would cost on every publish); `num_matches` is the number of messages routed.
#[derive(Serialize, Default)]
pub struct SublistStats {
    pub num_subscriptions: u64,
    pub num_cache: u64,
    pub num_inserts: u64,
    pub num_removes: u64,
    pub num_matches: u64,
    #[serde(serialize_with = "serialize_float")]
    pub cache_hit_rate: f64,
    pub max_fanout: u64,
    #[serde(serialize_with = "serialize_float")]
    pub avg_fanout: f64,
}

#[derive(Serialize)]
struct Subsz<'a> {
    server_id: &'a str,
    #[serde(serialize_with = "serialize_time")]
    now: SystemTime,
    #[serde(flatten)]
    stats: SublistStats,
    total: usize,
    offset: usize,
    limit: usize,
    subscriptions_list: Vec<SubDetail<'a>>,
}

pub fn sublist_stats(monitor: &Monitor) -> SublistStats {
    let registry = &monitor.shared.registry;
    let sum = |f: fn(&crate::server::registry::CoreSlot) -> u64| {
        registry.cores().iter().map(f).sum::<u64>()
    };
    SublistStats {
        num_subscriptions: sum(|c| c.index_entries.load(Ordering::Relaxed)),
        num_cache: sum(|c| c.cache_entries.load(Ordering::Relaxed)),
        num_inserts: sum(|c| c.subscription_inserts.load(Ordering::Relaxed)),
        num_removes: sum(|c| c.subscription_removes.load(Ordering::Relaxed)),
        num_matches: monitor
            .shared
            .stats
            .iter()
            .map(|s| s.in_msgs.load(Ordering::Relaxed))
            .sum(),
        ..SublistStats::default()
    }
}

/// One account's subject index figures, summed over the cores.
pub fn account_stats(monitor: &Monitor, account: u32) -> Result<SublistStats, Response> {
    let replies = monitor
        .shared
        .registry
        .ask_all(CoreQuery::Account(account))
        .map_err(|error| Response::error(503, error))?;
    let mut stats = SublistStats::default();
    for reply in replies {
        if let CoreReply::Account(core) = reply {
            stats.num_subscriptions += core.subscriptions;
            stats.num_cache += core.cache_entries;
            stats.num_inserts += core.inserts;
            stats.num_removes += core.removes;
        }
    }
    Ok(stats)
}

pub fn subsz(monitor: &Monitor, query: &Query) -> Response {
    match build(monitor, query) {
        Ok(response) | Err(response) => response,
    }
}

fn build(monitor: &Monitor, query: &Query) -> Result<Response, Response> {
    let subs = query.bool("subs")?;
    let offset = query.int("offset")?.max(0) as usize;
    let limit = match query.int("limit")? {
        n if n <= 0 => SUBSZ_LIMIT_DEFAULT,
        n => (n as usize).min(SUBSZ_LIMIT_MAX),
    };
    let test = query.get("test");
    if let Some(test) = test {
        if !is_valid_literal_subject(test.as_bytes()) {
            return Err(Response::error(
                400,
                format!("invalid test subject, must be valid publish subject: {test}"),
            ));
        }
    }
    let auth = monitor.shared.auth.load();
    let account = query.get("acc").map(|name| auth.account_id(name));
    let account_known = !matches!(account, Some(None));
    let account = account.flatten();
    let stats = match account {
        _ if !account_known => SublistStats::default(),
        None => sublist_stats(monitor),
        Some(account) => account_stats(monitor, account)?,
    };
    let mut rows: Vec<SubRow> = Vec::new();
    if subs && account_known {
        let replies = monitor
            .shared
            .registry
            .ask_all(CoreQuery::Subscriptions(SubscriptionsQuery {
                test: test.map(str::to_string),
                account,
                keep: offset.saturating_add(limit),
            }))
            .map_err(|error| Response::error(503, error))?;
        for reply in replies {
            if let CoreReply::Subscriptions { rows: core_rows } = reply {
                rows.extend(core_rows);
            }
        }
        sort_subs(&mut rows);
    }
    let page: Vec<SubDetail> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(SubDetail::from_row)
        .collect();
    if page.is_empty() {
        return Ok(Response::json(&stats));
    }
    Ok(Response::json(&Subsz {
        server_id: &monitor.shared.server_id,
        now: SystemTime::now(),
        stats,
        total: page.len(),
        offset,
        limit,
        subscriptions_list: page,
    }))
}
