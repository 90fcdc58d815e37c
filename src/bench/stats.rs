//! What a run measured: per-client counts and times, the aggregate of a role, and the
//! latency distribution. Pure arithmetic over what the client threads hand back.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in nanoseconds, three significant digits, up to this bound
/// (longer ones are recorded as the bound).
pub const LATENCY_NS_MAX: u64 = 60 * 1_000_000_000;
/// Significant digits of the latency histogram: 0.1% resolution.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in nanoseconds.
pub fn new_histogram() -> Histogram<u64> {
    // Invariant: 1 <= LATENCY_NS_MAX / 2 and 3 significant digits are valid bounds.
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// One client's share of a run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClientStats {
    /// Messages published, received or answered.
    pub msgs: u64,
    /// Payload bytes of those messages (headers and protocol excluded).
    pub bytes: u64,
    /// When its first message went out or came in, ns on the run's clock.
    pub start_ns: u64,
    /// When its last message went out (and was flushed) or came in.
    pub end_ns: u64,
}

impl ClientStats {
    pub fn elapsed_secs(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }

    /// Messages per second; 0 for a client that saw fewer than two instants apart.
    pub fn msgs_per_sec(&self) -> f64 {
        rate(self.msgs as f64, self.elapsed_secs())
    }
}

fn rate(amount: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

/// Min/avg/max/stddev (population) of the clients' message rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub stddev: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        if values.is_empty() {
            return Spread {
                min: 0.0,
                avg: 0.0,
                max: 0.0,
                stddev: 0.0,
            };
        }
        let count = values.len() as f64;
        let avg = values.iter().sum::<f64>() / count;
        let variance = values.iter().map(|v| (v - avg).powi(2)).sum::<f64>() / count;
        Spread {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            avg,
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            stddev: variance.sqrt(),
        }
    }
}

/// The aggregate of one role (publishers, subscribers, requesters or responders).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStats {
    pub role: &'static str,
    pub clients: usize,
    pub msgs: u64,
    pub bytes: u64,
    /// From the earliest client start to the latest client end.
    pub elapsed_secs: f64,
    pub msgs_per_sec: f64,
    /// 10^6 payload bytes per second.
    pub mb_per_sec: f64,
    /// Spread of the per-client msgs/s.
    pub per_client_msgs_per_sec: Spread,
    /// Messages the role should have seen but did not (subscribers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_msgs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_msgs: Option<u64>,
}

impl GroupStats {
    pub fn of(role: &'static str, clients: &[ClientStats]) -> GroupStats {
        let active: Vec<&ClientStats> = clients.iter().filter(|c| c.msgs > 0).collect();
        let start_ns = active.iter().map(|c| c.start_ns).min().unwrap_or(0);
        let end_ns = active.iter().map(|c| c.end_ns).max().unwrap_or(0);
        let msgs = clients.iter().map(|c| c.msgs).sum();
        let bytes = clients.iter().map(|c| c.bytes).sum();
        let elapsed_secs = end_ns.saturating_sub(start_ns) as f64 / 1e9;
        let rates: Vec<f64> = clients.iter().map(ClientStats::msgs_per_sec).collect();
        GroupStats {
            role,
            clients: clients.len(),
            msgs,
            bytes,
            elapsed_secs,
            msgs_per_sec: rate(msgs as f64, elapsed_secs),
            mb_per_sec: rate(bytes as f64, elapsed_secs) / 1e6,
            per_client_msgs_per_sec: Spread::of(&rates),
            expected_msgs: None,
            lost_msgs: None,
        }
    }

    /// Records how many messages the role should have seen in all.
    pub fn expecting(mut self, expected_msgs: u64) -> GroupStats {
        self.expected_msgs = Some(expected_msgs);
        self.lost_msgs = Some(expected_msgs.saturating_sub(self.msgs));
        self
    }
}

/// A latency distribution summarised in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
    pub p99_99_us: f64,
    pub max_us: f64,
    /// Measured from each message's scheduled send time (paced runs), so a stall delays
    /// every message scheduled during it, as coordinated omission requires.
    pub from_schedule: bool,
}

impl LatencySummary {
    /// None for an empty histogram.
    pub fn of(histogram: &Histogram<u64>, from_schedule: bool) -> Option<LatencySummary> {
        if histogram.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1e3;
        let at = |quantile: f64| us(histogram.value_at_quantile(quantile));
        Some(LatencySummary {
            samples: histogram.len(),
            min_us: us(histogram.min()),
            mean_us: histogram.mean() / 1e3,
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p99_9_us: at(0.999),
            p99_99_us: at(0.9999),
            max_us: us(histogram.max()),
            from_schedule,
        })
    }

    /// (label, microseconds) in report order, max last.
    pub fn columns(&self) -> [(&'static str, f64); 6] {
        [
            ("p50", self.p50_us),
            ("p90", self.p90_us),
            ("p99", self.p99_us),
            ("p99.9", self.p99_9_us),
            ("p99.99", self.p99_99_us),
            ("max", self.max_us),
        ]
    }
}

/// The points of a percentile plot: (quantile, latency in µs), quantile ascending, as
/// HdrHistogram's `outputPercentileDistribution` lists them (`ticks_per_half` points per
/// halving of the remaining distance to 100%).
pub fn percentile_points(histogram: &Histogram<u64>, ticks_per_half: u32) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<(f64, f64)> = histogram
        .iter_quantiles(ticks_per_half)
        .map(|step| {
            (
                step.quantile_iterated_to(),
                histogram.highest_equivalent(step.value_iterated_to()) as f64 / 1e3,
            )
        })
        .collect();
    points.dedup_by(|b, a| a.0 == b.0);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(msgs: u64, start_ms: u64, end_ms: u64) -> ClientStats {
        ClientStats {
            msgs,
            bytes: msgs * 100,
            start_ns: start_ms * 1_000_000,
            end_ns: end_ms * 1_000_000,
        }
    }

    #[test]
    fn client_rates() {
        assert_eq!(client(1000, 0, 500).msgs_per_sec(), 2000.0);
        assert_eq!(client(1, 7, 7).msgs_per_sec(), 0.0);
    }

    #[test]
    fn spread_is_population_stddev() {
        let spread = Spread::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!((spread.min, spread.avg, spread.max), (2.0, 5.0, 9.0));
        assert!((spread.stddev - 2.0).abs() < 1e-12);
        assert_eq!(Spread::of(&[]).max, 0.0);
    }

    #[test]
    fn group_spans_earliest_start_to_latest_end() {
        let group = GroupStats::of(
            "subscribers",
            &[client(1000, 0, 1000), client(1000, 500, 2000)],
        );
        assert_eq!(group.clients, 2);
        assert_eq!(group.msgs, 2000);
        assert_eq!(group.elapsed_secs, 2.0);
        assert_eq!(group.msgs_per_sec, 1000.0);
        assert_eq!(group.mb_per_sec, 0.1);
        assert_eq!(group.per_client_msgs_per_sec.min, 1000.0 / 1.5);
        assert_eq!(group.per_client_msgs_per_sec.max, 1000.0);
        let group = group.expecting(2500);
        assert_eq!(
            (group.expected_msgs, group.lost_msgs),
            (Some(2500), Some(500))
        );
    }

    #[test]
    fn idle_clients_do_not_stretch_the_group() {
        let group = GroupStats::of("queue", &[client(10, 100, 200), client(0, 0, 0)]);
        assert_eq!(group.elapsed_secs, 0.1);
        assert_eq!(group.per_client_msgs_per_sec.min, 0.0);
    }

    #[test]
    fn percentiles_in_microseconds() {
        let mut histogram = new_histogram();
        for us in 1..=10_000u64 {
            histogram.record(us * 1000).unwrap();
        }
        let summary = LatencySummary::of(&histogram, false).unwrap();
        assert_eq!(summary.samples, 10_000);
        let close =
            |value: f64, expected: f64| (value - expected).abs() <= expected * 0.001 + 0.001;
        assert!(close(summary.p50_us, 5000.0), "{}", summary.p50_us);
        assert!(close(summary.p90_us, 9000.0), "{}", summary.p90_us);
        assert!(close(summary.p99_us, 9900.0), "{}", summary.p99_us);
        assert!(close(summary.p99_9_us, 9990.0), "{}", summary.p99_9_us);
        assert!(close(summary.max_us, 10_000.0), "{}", summary.max_us);
        assert!(close(summary.min_us, 1.0));
        let labels: Vec<&str> = summary.columns().iter().map(|c| c.0).collect();
        assert_eq!(labels, ["p50", "p90", "p99", "p99.9", "p99.99", "max"]);
        assert!(LatencySummary::of(&new_histogram(), false).is_none());
    }

    #[test]
    fn out_of_range_latencies_saturate() {
        let mut histogram = new_histogram();
        histogram.saturating_record(u64::MAX);
        assert!(histogram.max() >= LATENCY_NS_MAX);
    }

    #[test]
    fn percentile_points_ascend_to_the_max() {
        let mut histogram = new_histogram();
        for ns in 1..=100_000u64 {
            histogram.record(ns * 10).unwrap();
        }
        let points = percentile_points(&histogram, 5);
        assert!(points.len() > 20);
        assert!(points
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        let last = points.last().unwrap();
        assert_eq!(last.0, 1.0);
        assert!((last.1 - 1000.0).abs() < 1.0, "{last:?}");
        assert!(percentile_points(&new_histogram(), 5).is_empty());
    }
}
