//! `/varz`: the server's settings and counters, with nats-server's field names and types.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::server::{Shared, NATS_VERSION};

pub fn varz(shared: &Shared, http_addr: SocketAddr) -> Value {
    let o = &shared.options;
    let sum = |f: fn(&crate::server::ShardStats) -> u64| shared.stats.iter().map(f).sum::<u64>();
    let now = SystemTime::now();
    let cores: Vec<Value> = shared
        .stats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "core": i,
                "cpu": shared.cores.get(i),
                "connections": s.connections.load(Ordering::Relaxed),
                "in_msgs": s.in_msgs.load(Ordering::Relaxed),
                "out_msgs": s.out_msgs.load(Ordering::Relaxed),
                "in_bytes": s.in_bytes.load(Ordering::Relaxed),
                "out_bytes": s.out_bytes.load(Ordering::Relaxed),
                "subscriptions": s.subscriptions.load(Ordering::Relaxed),
                "slow_consumers": s.slow_consumers.load(Ordering::Relaxed),
                "mesh_backpressure_events": s.outbox_full_events.load(Ordering::Relaxed),
            })
        })
        .collect();
    json!({
        "server_id": shared.server_id,
        "server_name": shared.server_name,
        "version": NATS_VERSION,
        "proto": 1,
        "go": format!("tern {}", env!("CARGO_PKG_VERSION")),
        "host": o.host,
        "port": shared.client_addr.port(),
        "auth_required": shared.auth.required(),
        "max_connections": o.max_connections,
        "ping_interval": o.ping_interval_ms * 1_000_000,
        "ping_max": o.ping_max,
        "http_host": http_addr.ip().to_string(),
        "http_port": http_addr.port(),
        "https_port": 0,
        "auth_timeout": o.auth_timeout_ms as f64 / 1000.0,
        "max_control_line": o.max_control_line_bytes,
        "max_payload": o.max_payload_bytes,
        "max_pending": o.max_pending_bytes,
        "tls_timeout": 2.0,
        "write_deadline": o.write_deadline_ms * 1_000_000,
        "lame_duck_duration": o.lame_duck_duration_ms * 1_000_000,
        "lame_duck_grace_period": o.lame_duck_grace_period_ms * 1_000_000,
        "start": rfc3339(shared.started),
        "now": rfc3339(now),
        "uptime": go_duration(shared.started_instant.elapsed()),
        "mem": resident_bytes(),
        "cores": shared.cores.len(),
        "gomaxprocs": shared.cores.len(),
        "connections": shared.connection_count(),
        "total_connections": shared.total_connections.load(Ordering::Relaxed),
        "routes": 0,
        "remotes": 0,
        "leafnodes": 0,
        "in_msgs": sum(|s| s.in_msgs.load(Ordering::Relaxed)),
        "out_msgs": sum(|s| s.out_msgs.load(Ordering::Relaxed)),
        "in_bytes": sum(|s| s.in_bytes.load(Ordering::Relaxed)),
        "out_bytes": sum(|s| s.out_bytes.load(Ordering::Relaxed)),
        "slow_consumers": sum(|s| s.slow_consumers.load(Ordering::Relaxed)),
        "subscriptions": sum(|s| s.subscriptions.load(Ordering::Relaxed)),
        "config_load_time": rfc3339(shared.started),
        "tern_cores": cores,
    })
}

/// Resident set size from /proc (0 if unreadable).
fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page_bytes
}

/// Go's `time.Duration` rounded to seconds as nats-server prints uptime: "1d2h3m4s".
pub fn go_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    let days = secs / 86_400;
    secs %= 86_400;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if days > 0 {
        out.push_str(&format!("{days}d"));
    }
    if days > 0 || h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if days > 0 || h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// UTC RFC 3339 with nanoseconds, as Go marshals `time.Time`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, da) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil calendar algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_like_go() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 5);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.000000005Z");
        assert_eq!(go_duration(Duration::from_secs(0)), "0s");
        assert_eq!(go_duration(Duration::from_secs(3_725)), "1h2m5s");
        assert_eq!(go_duration(Duration::from_secs(90_061)), "1d1h1m1s");
    }
}
