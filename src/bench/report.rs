//! An [`Outcome`] as text: a table for people, JSON and CSV for scripts. Pure functions.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::options::{Limit, Plan};
use super::run::Outcome;
use super::stats::{GroupStats, LatencySummary};

/// Columns of the CSV form, one row per role. The last two are for `js` scenarios
/// (acks with an error, and duplicates) and empty otherwise.
pub const CSV_HEADER: &str = "scenario,role,clients,size_bytes,msgs,bytes,elapsed_secs,msgs_per_sec,mb_per_sec,client_min_msgs_per_sec,client_avg_msgs_per_sec,client_max_msgs_per_sec,client_stddev_msgs_per_sec,lost_msgs,latency_samples,latency_p50_us,latency_p90_us,latency_p99_us,latency_p99_9_us,latency_p99_99_us,latency_max_us,tool_cpu_secs,ack_errors,duplicates";

/// `1234567.8` -> `1,234,568`.
pub fn group_digits(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    let rounded = value.round().abs() as u64;
    let digits = rounded.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value.round() < 0.0 {
        out.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Microseconds with precision that suits their size: `4.25`, `12.3`, `1,234`.
pub fn format_us(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 1000.0 {
        format!("{value:.1}")
    } else {
        group_digits(value)
    }
}

fn count_of(count: usize, singular: &str) -> String {
    let noun = singular.trim_end_matches('s');
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The first line: what ran, against what.
pub fn describe(plan: &Plan) -> String {
    let (senders, receivers) = plan.scenario.role_names();
    let mut clients = Vec::new();
    if plan.publishers > 0 {
        clients.push(count_of(plan.publishers, senders));
    }
    if plan.subscribers > 0 {
        let queue = if plan.scenario == super::options::Scenario::Queue {
            format!(" in queue group {}", plan.queue)
        } else {
            String::new()
        };
        clients.push(format!("{}{queue}", count_of(plan.subscribers, receivers)));
    }
    let limit = match plan.limit {
        Limit::Msgs(msgs) => format!("{} msgs", group_digits(msgs as f64)),
        Limit::Duration(duration) => format!("for {duration:?}"),
    };
    let mut line = format!(
        "tern bench {}: {}, {} B payload, {limit}",
        plan.scenario.name(),
        clients.join(" -> "),
        plan.size_bytes
    );
    if plan.headers > 0 {
        let _ = write!(line, ", {} header fields", plan.headers);
    }
    if let Some(rate) = plan.rate_msgs_per_sec {
        let _ = write!(line, ", paced at {} msgs/s", group_digits(rate));
    }
    if let Some(js) = &plan.jetstream {
        let _ = write!(line, ", stream {}, {}", js.stream, js.mode());
        if js.msg_id {
            line.push_str(", Nats-Msg-Id on every message");
        }
    }
    line
}

/// `js` runs: how the publishes were acknowledged and what the stream holds.
fn jetstream_lines(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some(acks) = &outcome.acks {
        let _ = writeln!(
            out,
            "acks: {} stored ({} duplicates), {} errors",
            group_digits(acks.acked as f64),
            group_digits(acks.duplicates as f64),
            group_digits(acks.errors as f64)
        );
        if let Some(error) = &acks.first_error {
            let _ = writeln!(out, "first ack error: {error}");
        }
    }
    if let Some(stream) = &outcome.stream {
        let mut line = format!(
            "stream {} ({}, {} replica{}",
            stream.name,
            stream.storage,
            stream.replicas,
            if stream.replicas == 1 { "" } else { "s" }
        );
        if stream.created {
            line.push_str(", created for this run");
        }
        if let Some(purged) = stream.purged_msgs {
            let _ = write!(line, ", {} msgs purged", group_digits(purged as f64));
        }
        let _ = write!(
            line,
            "): {} msgs before",
            group_digits(stream.msgs_before as f64)
        );
        if let (Some(msgs), Some(bytes)) = (stream.msgs_after, stream.bytes_after) {
            let _ = write!(
                line,
                ", {} msgs ({:.1} MB) after",
                group_digits(msgs as f64),
                bytes as f64 / 1e6
            );
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The readable table.
pub fn table(plan: &Plan, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", describe(plan));
    let _ = writeln!(
        out,
        "server {} ({} {})",
        plan.server.display(),
        outcome.server_name,
        outcome.server_version
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>12} {:>12} {:>9}   per client msgs/s: {:>10} {:>10} {:>10} {:>9}",
        "role", "clients", "msgs", "msgs/s", "MB/s", "min", "avg", "max", "stddev"
    );
    for group in [&outcome.senders, &outcome.receivers].into_iter().flatten() {
        let spread = &group.per_client_msgs_per_sec;
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>12} {:>12} {:>9.1}                      {:>10} {:>10} {:>10} {:>9}",
            group.role,
            group.clients,
            group_digits(group.msgs as f64),
            group_digits(group.msgs_per_sec),
            group.mb_per_sec,
            group_digits(spread.min),
            group_digits(spread.avg),
            group_digits(spread.max),
            group_digits(spread.stddev),
        );
    }
    if let Some(receivers) = &outcome.receivers {
        if let (Some(expected), Some(lost)) = (receivers.expected_msgs, receivers.lost_msgs) {
            let _ = writeln!(
                out,
                "{} received {} of {} expected ({} lost)",
                receivers.role,
                group_digits(receivers.msgs as f64),
                group_digits(expected as f64),
                group_digits(lost as f64)
            );
        }
    }
    out.push_str(&jetstream_lines(outcome));
    let _ = writeln!(out);
    match &outcome.latency {
        Some(latency) => {
            let _ = writeln!(
                out,
                "latency in µs, at the {} ({} samples)",
                outcome.latency_role,
                group_digits(latency.samples as f64)
            );
            let columns = latency.columns();
            let labels: Vec<String> = columns
                .iter()
                .map(|(label, _)| format!("{label:>9}"))
                .collect();
            let values: Vec<String> = columns
                .iter()
                .map(|(_, value)| format!("{:>9}", format_us(*value)))
                .collect();
            let _ = writeln!(out, "{}", labels.join(" "));
            let _ = writeln!(out, "{}", values.join(" "));
            if let Some(note) = &outcome.latency_note {
                let _ = writeln!(out, "({note})");
            }
        }
        None => {
            let note = outcome.latency_note.as_deref().unwrap_or("no samples");
            let _ = writeln!(out, "latency: {note}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", tool_cpu_line(plan, outcome));
    for error in &outcome.errors {
        let _ = writeln!(out, "error: {error}");
    }
    out
}

/// How busy the tool itself was, so a reader can tell whether the client or the server
/// set the pace.
pub fn tool_cpu_line(plan: &Plan, outcome: &Outcome) -> String {
    let threads = plan.publishers + plan.subscribers;
    let busy = if outcome.wall_secs > 0.0 {
        outcome.tool_cpu_secs / outcome.wall_secs
    } else {
        0.0
    };
    format!(
        "tool CPU: {:.2} s in {:.2} s ({:.0}% of one core, {threads} client threads)",
        outcome.tool_cpu_secs,
        outcome.wall_secs,
        busy * 100.0
    )
}

fn group_json(group: &GroupStats) -> Value {
    serde_json::to_value(group).unwrap_or(Value::Null)
}

fn latency_json(latency: &LatencySummary) -> Value {
    serde_json::to_value(latency).unwrap_or(Value::Null)
}

/// The JSON form: one object, roles under their names (`publishers`/`subscribers`, or
/// `requesters`/`responders` for `req`).
pub fn json(plan: &Plan, outcome: &Outcome) -> Value {
    let (sender_role, receiver_role) = plan.scenario.role_names();
    let (msgs, duration_secs) = match plan.limit {
        Limit::Msgs(msgs) => (Some(msgs), None),
        Limit::Duration(duration) => (None, Some(duration.as_secs_f64())),
    };
    json!({
        "tool": "tern bench",
        "scenario": plan.scenario.name(),
        "server": plan.server.display(),
        "server_name": outcome.server_name,
        "server_version": outcome.server_version,
        "size_bytes": plan.size_bytes,
        "headers": plan.headers,
        "msgs": msgs,
        "duration_secs": duration_secs,
        "rate_msgs_per_sec": plan.rate_msgs_per_sec,
        sender_role: outcome.senders.as_ref().map(group_json),
        receiver_role: outcome.receivers.as_ref().map(group_json),
        "latency_role": outcome.latency.as_ref().map(|_| outcome.latency_role),
        "latency": outcome.latency.as_ref().map(latency_json),
        "latency_note": outcome.latency_note,
        "errors": outcome.errors,
        "jetstream": plan.jetstream.as_ref().map(|js| json!({
            "stream": js.stream,
            "mode": if js.asynchronous { "async" } else { "sync" },
            "window": js.window,
            "msg_id": js.msg_id,
            "acked": outcome.acks.as_ref().map(|acks| acks.acked),
            "ack_errors": outcome.acks.as_ref().map(|acks| acks.errors),
            "duplicates": outcome.acks.as_ref().map(|acks| acks.duplicates),
            "first_error": outcome.acks.as_ref().and_then(|acks| acks.first_error.clone()),
            "stream_info": outcome.stream.as_ref().map(|stream| serde_json::to_value(stream).unwrap_or(Value::Null)),
        })),
        "tool_cpu_secs": outcome.tool_cpu_secs,
        "wall_secs": outcome.wall_secs,
    })
}

/// The CSV form: [`CSV_HEADER`] and one row per role; latency on the measuring role's row.
pub fn csv(plan: &Plan, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{CSV_HEADER}");
    for group in [&outcome.senders, &outcome.receivers].into_iter().flatten() {
        let spread = &group.per_client_msgs_per_sec;
        let latency = outcome
            .latency
            .as_ref()
            .filter(|_| group.role == outcome.latency_role);
        let latency_cells = match latency {
            Some(latency) => {
                let mut cells = vec![latency.samples.to_string()];
                cells.extend(latency.columns().iter().map(|(_, us)| format!("{us:.3}")));
                cells.join(",")
            }
            None => ",,,,,,".to_string(),
        };
        let ack_cells = match outcome
            .acks
            .as_ref()
            .filter(|_| group.role == plan.scenario.role_names().0)
        {
            Some(acks) => format!("{},{}", acks.errors, acks.duplicates),
            None => ",".to_string(),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.6},{:.1},{:.3},{:.1},{:.1},{:.1},{:.1},{},{},{:.2},{}",
            plan.scenario.name(),
            group.role,
            group.clients,
            plan.size_bytes,
            group.msgs,
            group.bytes,
            group.elapsed_secs,
            group.msgs_per_sec,
            group.mb_per_sec,
            spread.min,
            spread.avg,
            spread.max,
            spread.stddev,
            group
                .lost_msgs
                .map(|lost| lost.to_string())
                .unwrap_or_default(),
            latency_cells,
            outcome.tool_cpu_secs,
            ack_cells
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::js::{AckCounts, StreamReport};
    use crate::bench::options::{JsPlan, Output, Scenario, ServerUrl};
    use crate::bench::stats::{new_histogram, ClientStats};

    fn plan(scenario: Scenario) -> Plan {
        Plan {
            scenario,
            server: ServerUrl {
                address: "127.0.0.1:4222".to_string(),
                user: None,
                password: None,
                token: None,
            },
            publishers: 1,
            subscribers: 2,
            size_bytes: 128,
            limit: Limit::Msgs(1000),
            rate_msgs_per_sec: None,
            subject: "tern.bench".to_string(),
            queue: "q".to_string(),
            headers: 0,
            output: Output::Table,
            histogram: None,
            progress: false,
            pin: false,
            jetstream: None,
        }
    }

    fn outcome(plan: &Plan) -> Outcome {
        let (sender_role, receiver_role) = plan.scenario.role_names();
        let client = ClientStats {
            msgs: 1000,
            bytes: 128_000,
            start_ns: 0,
            end_ns: 1_000_000_000,
        };
        let mut histogram = new_histogram();
        for ns in [10_000u64, 20_000, 30_000] {
            histogram.record(ns).unwrap();
        }
        Outcome {
            server_name: "NAME".to_string(),
            server_version: "2.9.10".to_string(),
            senders: Some(GroupStats::of(sender_role, &[client])),
            receivers: Some(GroupStats::of(receiver_role, &[client, client]).expecting(2000)),
            latency: LatencySummary::of(&histogram, false),
            latency_role: receiver_role,
            histogram,
            latency_note: Some("a note".to_string()),
            errors: vec!["subscribers 1: boom".to_string()],
            acks: None,
            stream: None,
            tool_cpu_secs: 0.5,
            wall_secs: 2.0,
        }
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0.0), "0");
        assert_eq!(group_digits(999.4), "999");
        assert_eq!(group_digits(1000.0), "1,000");
        assert_eq!(group_digits(1_234_567.8), "1,234,568");
        assert_eq!(group_digits(-1234.0), "-1,234");
        assert_eq!(group_digits(f64::NAN), "-");
        assert_eq!(format_us(4.254), "4.25");
        assert_eq!(format_us(12.34), "12.3");
        assert_eq!(format_us(12_345.6), "12,346");
    }

    #[test]
    fn description_names_roles_and_limits() {
        let mut p = plan(Scenario::Queue);
        p.subscribers = 4;
        assert_eq!(
            describe(&p),
            "tern bench queue: 1 publisher -> 4 subscribers in queue group q, 128 B payload, 1,000 msgs"
        );
        let mut p = plan(Scenario::Req);
        p.subscribers = 1;
        p.rate_msgs_per_sec = Some(5000.0);
        p.limit = Limit::Duration(std::time::Duration::from_secs(2));
        assert_eq!(
            describe(&p),
            "tern bench req: 1 requester -> 1 responder, 128 B payload, for 2s, paced at 5,000 msgs/s"
        );
    }

    #[test]
    fn table_shows_rates_loss_latency_and_errors() {
        let p = plan(Scenario::Pubsub);
        let text = table(&p, &outcome(&p));
        assert!(
            text.contains("server nats://127.0.0.1:4222 (NAME 2.9.10)"),
            "{text}"
        );
        assert!(text.contains("publishers"), "{text}");
        assert!(
            text.contains("subscribers received 2,000 of 2,000 expected (0 lost)"),
            "{text}"
        );
        assert!(
            text.contains("latency in µs, at the subscribers (3 samples)"),
            "{text}"
        );
        assert!(text.contains("p99.99"), "{text}");
        assert!(text.contains("20.0"), "{text}");
        assert!(text.contains("(a note)"), "{text}");
        assert!(text.contains("error: subscribers 1: boom"), "{text}");
        assert!(
            text.contains("tool CPU: 0.50 s in 2.00 s (25% of one core, 3 client threads)"),
            "{text}"
        );
    }

    #[test]
    fn json_has_roles_by_name() {
        let p = plan(Scenario::Req);
        let mut o = outcome(&p);
        o.latency_role = "requesters";
        let value = json(&p, &o);
        assert_eq!(value["scenario"], "req");
        assert_eq!(value["requesters"]["msgs"], 1000);
        assert_eq!(value["responders"]["clients"], 2);
        assert_eq!(value["responders"]["lost_msgs"], 0);
        assert_eq!(value["msgs"], 1000);
        assert!(value["duration_secs"].is_null());
        assert_eq!(value["latency_role"], "requesters");
        assert!(value["latency"]["p99_us"].as_f64().unwrap() > 29.0);
        assert_eq!(value["errors"][0], "subscribers 1: boom");
    }

    #[test]
    fn csv_rows_line_up_with_the_header() {
        let p = plan(Scenario::Pubsub);
        let text = csv(&p, &outcome(&p));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let columns = CSV_HEADER.split(',').count();
        for line in &lines {
            assert_eq!(line.split(',').count(), columns, "{line}");
        }
        assert!(lines[1].starts_with("pubsub,publishers,1,128,1000,128000,1.000000,1000.0,0.128,"));
        assert!(
            lines[1].ends_with(",,,,,,,,0.50,,"),
            "no latency on the publishers' row: {}",
            lines[1]
        );
        assert!(
            lines[2].contains(",0,3,"),
            "lost then samples: {}",
            lines[2]
        );
    }

    fn js_plan(asynchronous: bool) -> Plan {
        Plan {
            scenario: Scenario::JsPub,
            subscribers: 0,
            subject: "tern.bench.js".to_string(),
            jetstream: Some(JsPlan {
                stream: "benchstream".to_string(),
                storage: None,
                replicas: None,
                purge: true,
                create: true,
                msg_id: asynchronous,
                window: if asynchronous { 256 } else { 1 },
                asynchronous,
            }),
            ..plan(Scenario::JsPub)
        }
    }

    fn js_outcome(plan: &Plan) -> Outcome {
        let mut outcome = outcome(plan);
        outcome.receivers = None;
        outcome.latency_role = "publishers";
        outcome.errors.clear();
        outcome.acks = Some(AckCounts {
            acked: 1000,
            errors: 2,
            duplicates: 1,
            first_error: Some("maximum messages exceeded (err_code 10077)".to_string()),
        });
        outcome.stream = Some(StreamReport {
            name: "benchstream".to_string(),
            storage: "file".to_string(),
            replicas: 1,
            created: true,
            purged_msgs: Some(5),
            msgs_before: 0,
            msgs_after: Some(999),
            bytes_after: Some(2_500_000),
        });
        outcome
    }

    #[test]
    fn js_pub_reports_acks_and_the_stream() {
        let p = js_plan(false);
        assert_eq!(
            describe(&p),
            "tern bench js pub: 1 publisher, 128 B payload, 1,000 msgs, stream benchstream, sync"
        );
        assert_eq!(
            describe(&js_plan(true)),
            "tern bench js pub: 1 publisher, 128 B payload, 1,000 msgs, stream benchstream, async window 256, Nats-Msg-Id on every message"
        );
        let o = js_outcome(&p);
        let text = table(&p, &o);
        assert!(
            text.contains("acks: 1,000 stored (1 duplicates), 2 errors"),
            "{text}"
        );
        assert!(
            text.contains("first ack error: maximum messages exceeded"),
            "{text}"
        );
        assert!(
            text.contains("stream benchstream (file, 1 replica, created for this run, 5 msgs purged): 0 msgs before, 999 msgs (2.5 MB) after"),
            "{text}"
        );
        assert!(text.contains("latency in µs, at the publishers"), "{text}");

        let value = json(&p, &o);
        assert_eq!(value["scenario"], "js pub");
        assert!(value["subscribers"].is_null());
        assert_eq!(value["jetstream"]["mode"], "sync");
        assert_eq!(value["jetstream"]["window"], 1);
        assert_eq!(value["jetstream"]["acked"], 1000);
        assert_eq!(value["jetstream"]["ack_errors"], 2);
        assert_eq!(value["jetstream"]["stream_info"]["msgs_after"], 999);
        assert!(json(&plan(Scenario::Pub), &outcome(&plan(Scenario::Pub)))["jetstream"].is_null());

        let text = csv(&p, &o);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[1].split(',').count(), CSV_HEADER.split(',').count());
        assert!(
            lines[1].starts_with("js pub,publishers,1,128,1000,"),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with(",0.50,2,1"), "{}", lines[1]);
    }
}
