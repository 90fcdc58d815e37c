//! Values written the way Go's `encoding/json` and `time` write them, so that tools which
//! parse nats-server's output (often with Go structs) read tern's the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// A `time.Time` as Go marshals it: UTC RFC 3339 with nanoseconds, trailing zeros of the
/// fraction dropped (`time.RFC3339Nano`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, da) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Serde adapter for [`rfc3339`].
pub fn serialize_time<S: Serializer>(t: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*t))
}

pub fn serialize_optional_time<S: Serializer>(
    t: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serializer.serialize_str(&rfc3339(*t)),
        None => serializer.serialize_none(),
    }
}

/// A float as Go's `encoding/json` writes it: integral values without a fraction (`2`, not
/// `2.0`), so a Go client decoding into an integer field would not choke either.
pub fn serialize_float<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        serializer.serialize_i64(*value as i64)
    } else if value.is_finite() {
        serializer.serialize_f64(*value)
    } else {
        // Go refuses to marshal NaN and infinities; 0 is what a gauge without data means.
        serializer.serialize_i64(0)
    }
}

/// nats-server's `myUptime`: whole seconds as `1y2d3h4m5s`, leading zero units left out.
pub fn uptime(d: Duration) -> String {
    let total = d.as_secs();
    let (secs, mins, hours, days) = (total % 60, total / 60, total / 3600, total / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{secs}s",
            days % 365,
            hours % 24,
            mins % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{secs}s", hours % 24, mins % 60)
    } else if hours > 0 {
        format!("{hours}h{}m{secs}s", mins % 60)
    } else if mins > 0 {
        format!("{mins}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.Duration.String()`: `0s`, `750ns`, `408µs`, `1.5ms`, `2.25s`, `1h2m3s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", decimal(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", decimal(ns, 1_000_000));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = (ns / 60_000_000_000) % 60;
    let seconds = decimal(ns % 60_000_000_000, 1_000_000_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&seconds);
    out.push('s');
    out
}

/// `value / unit` with the fraction's trailing zeros dropped.
fn decimal(value: u64, unit: u64) -> String {
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// nats-server's RTT display: microsecond precision between 1 µs and 1 ms.
pub fn rtt(d: Duration) -> String {
    if d > Duration::from_micros(1) && d < Duration::from_millis(1) {
        go_duration(Duration::from_micros(d.as_micros() as u64))
    } else {
        go_duration(d)
    }
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
    fn times_like_go() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 5);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.000000005Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 504_637_110);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.50463711Z");
    }

    #[test]
    fn uptimes_like_nats_server() {
        assert_eq!(uptime(Duration::from_secs(0)), "0s");
        assert_eq!(uptime(Duration::from_secs(65)), "1m5s");
        assert_eq!(uptime(Duration::from_secs(3_725)), "1h2m5s");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(uptime(Duration::from_secs(366 * 86_400)), "1y1d0h0m0s");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(750)), "750ns");
        assert_eq!(go_duration(Duration::from_nanos(408_000)), "408µs");
        assert_eq!(go_duration(Duration::from_nanos(1_500_000)), "1.5ms");
        assert_eq!(go_duration(Duration::from_millis(2_250)), "2.25s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_secs(3_723)), "1h2m3s");
        assert_eq!(rtt(Duration::from_nanos(408_123)), "408µs");
        assert_eq!(rtt(Duration::from_nanos(1_234_567)), "1.234567ms");
    }
}
