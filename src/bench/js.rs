//! `tern bench js pub`: publishers to a JetStream stream that wait for acknowledgements.
//!
//! Before the run, [`prepare_stream`] looks the stream up with a raw
//! `$JS.API.STREAM.INFO.<name>` request on a connection of its own, creates it
//! (`STREAM.CREATE`, capturing exactly the bench subject) or purges it (`STREAM.PURGE`) as
//! asked. After the run, [`stream_after`] asks again how many messages it holds.
//!
//! Each publisher is one thread and one connection. A publish carries the reply subject
//! `<inbox>.<seq>`; the stream's PubAck comes back on it, so an ack is matched to its
//! publish by the sequence in the subject's last token. Up to `window` publishes are in
//! flight (1 with `--sync`), each in the slot `seq % window`:
//!
//! ```text
//!   seq   0  1  2  3 | 4  5  6  7  8  9 | 10 11 ...
//!         acked      | in flight        | not yet sent
//!                    | (at most window) |
//!   slots [ 8 | 9 | 4 | 5 | 6 | 7 ]    window 6: slot i holds (seq, send time) of the
//!                                       publish in flight whose seq % 6 == i
//! ```
//!
//! A publish goes out only into a free slot, so acks that arrive out of order never
//! overwrite a publish still in flight. Latency is from the moment a publish is written
//! to the moment its ack is read. An ack with an `"error"` (or a 503 no-responders status:
//! no stream captures the subject) counts as an error in the report; a publish without
//! any ack for [`ACK_TIMEOUT`] fails the publisher.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use memchr::memmem;
use serde::Serialize;
use serde_json::{json, Value};

use crate::protocol::ServerOp;
use crate::routing::subject_matches_filter;

use super::client::{now_ns, Connection, HANDSHAKE_TIMEOUT};
use super::options::{JsPlan, Limit, Plan, Storage};
use super::run::{
    connect_as, err, inbox, io_err, message_template, reply_seq, reply_subject, signal_ready,
    ClientReport, Ready, Shared,
};
use super::stats::{new_histogram, ClientStats};

/// How long one JetStream API request may take (a purge of a big file stream is slow).
pub const API_TIMEOUT: Duration = Duration::from_secs(30);
/// A publisher fails when publishes are in flight and no ack came for this long.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// nats-server's `JSStreamNotFoundErr`.
const ERR_STREAM_NOT_FOUND: u64 = 10059;
/// The subscription id of the API inbox, and of a publisher's ack inbox.
const SID_INBOX: &[u8] = b"1";
/// Publishes a publisher writes between two looks at its acks when the window is wide.
const BURST_MSGS_MAX: usize = 4096;

/// How a publisher's (or all publishers') publishes were acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AckCounts {
    /// Acks without an error: the message is stored (or was a duplicate of a stored one).
    pub acked: u64,
    /// Acks that carried an error, and 503 no-responders statuses.
    pub errors: u64,
    /// Acks marked `"duplicate": true` (counted in `acked` too).
    pub duplicates: u64,
    /// The first error's text.
    pub first_error: Option<String>,
}

impl AckCounts {
    pub fn add(&mut self, other: &AckCounts) {
        self.acked += other.acked;
        self.errors += other.errors;
        self.duplicates += other.duplicates;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Every publish that was answered, well or not.
    pub fn answered(&self) -> u64 {
        self.acked + self.errors
    }

    fn count(&mut self, ack: Ack) {
        match ack {
            Ack::Stored => self.acked += 1,
            Ack::Duplicate => {
                self.acked += 1;
                self.duplicates += 1;
            }
            Ack::Error(text) => {
                self.errors += 1;
                self.first_error.get_or_insert(text);
            }
        }
    }
}

/// The stream a run published to, as the server described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamReport {
    pub name: String,
    pub storage: String,
    pub replicas: u64,
    /// The tool created it for this run.
    pub created: bool,
    /// Messages removed by `--purge`.
    pub purged_msgs: Option<u64>,
    /// Messages it held when publishing started.
    pub msgs_before: u64,
    /// Messages and bytes it held after the run (None if the request failed).
    pub msgs_after: Option<u64>,
    pub bytes_after: Option<u64>,
}

/// What one acknowledgement said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    Stored,
    Duplicate,
    Error(String),
}

/// Reads a PubAck (`{"stream":"S","seq":42}`, `...,"duplicate": true}`, or
/// `{"error":{...},...}`) or a status message, without parsing the JSON unless it is an
/// error: the tool reads up to one ack per message.
pub fn classify_ack(headers: Option<&[u8]>, payload: &[u8]) -> Ack {
    if let Some((code, text)) = headers.and_then(status_of) {
        return Ack::Error(match code {
            503 => "no responders: no stream captures the subject".to_string(),
            _ => format!("status {code} {text}").trim_end().to_string(),
        });
    }
    if memmem::find(payload, b"\"error\"").is_some() {
        return Ack::Error(match serde_json::from_slice::<Value>(payload) {
            Ok(value) => match api_error(&value) {
                Some((code, description)) => format!("{description} (err_code {code})"),
                None => String::from_utf8_lossy(payload).into_owned(),
            },
            Err(_) => String::from_utf8_lossy(payload).into_owned(),
        });
    }
    if let Some(at) = memmem::find(payload, b"\"duplicate\"") {
        let rest = payload
            .get(at + b"\"duplicate\"".len()..)
            .unwrap_or_default();
        let value = rest
            .iter()
            .position(|byte| !matches!(byte, b':' | b' ' | b'\t'))
            .and_then(|start| rest.get(start..));
        if value.is_some_and(|value| value.starts_with(b"true")) {
            return Ack::Duplicate;
        }
    }
    if memmem::find(payload, b"\"seq\"").is_some() {
        return Ack::Stored;
    }
    Ack::Error(format!(
        "not a PubAck: {}",
        String::from_utf8_lossy(payload.get(..200).unwrap_or(payload))
    ))
}

/// The status of a header block's first line (`NATS/1.0 503` or `NATS/1.0 408 Request
/// Timeout`): the code and its description.
pub fn status_of(headers: &[u8]) -> Option<(u16, String)> {
    let line_end = memchr::memchr(b'\r', headers).unwrap_or(headers.len());
    let line = std::str::from_utf8(headers.get(..line_end)?).ok()?;
    let rest = line.strip_prefix("NATS/1.0")?.trim_start();
    let (code, description) = rest.split_once(' ').unwrap_or((rest, ""));
    let code = code.parse().ok()?;
    Some((code, description.trim().to_string()))
}

/// `(err_code, description)` of an API answer that is an error.
pub fn api_error(answer: &Value) -> Option<(u64, String)> {
    let error = answer.get("error")?;
    let code = error["err_code"]
        .as_u64()
        .or_else(|| error["code"].as_u64())
        .unwrap_or(0);
    let description = error["description"]
        .as_str()
        .unwrap_or("no description")
        .to_string();
    Some((code, description))
}

/// The config of a stream the tool creates: the bench subject, the asked storage and
/// replicas, everything else the server's defaults.
pub fn stream_config(plan: &Plan, js: &JsPlan) -> Value {
    json!({
        "name": js.stream,
        "subjects": [plan.subject],
        "storage": js.storage.unwrap_or(Storage::File).name(),
        "num_replicas": js.replicas.unwrap_or(1),
        "retention": "limits",
        "discard": "old",
    })
}

/// Whether an existing stream (its STREAM.INFO answer) is the one the plan asks for: it
/// must capture the subject, and match the storage and replicas if they were given.
pub fn check_existing(plan: &Plan, js: &JsPlan, info: &Value) -> Result<(), String> {
    let config = &info["config"];
    let storage = config["storage"].as_str().unwrap_or("file");
    if let Some(asked) = js.storage {
        if asked.name() != storage {
            return Err(format!(
                "stream {} exists with {storage} storage, not {}: delete it, or leave out --storage",
                js.stream,
                asked.name()
            ));
        }
    }
    let replicas = config["num_replicas"].as_u64().unwrap_or(1);
    if let Some(asked) = js.replicas {
        if asked as u64 != replicas {
            return Err(format!(
                "stream {} exists with {replicas} replicas, not {asked}: delete it, or leave out --replicas",
                js.stream
            ));
        }
    }
    // A stream created without subjects captures its own name.
    let mut subjects: Vec<&str> = config["subjects"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if subjects.is_empty() {
        subjects.push(&js.stream);
    }
    if !subjects
        .iter()
        .any(|filter| subject_matches_filter(filter.as_bytes(), plan.subject.as_bytes()))
    {
        return Err(format!(
            "stream {} does not capture subject {} (its subjects: {}): pick another --stream or --subject",
            js.stream,
            plan.subject,
            subjects.join(", ")
        ));
    }
    Ok(())
}

/// A connection for JetStream API requests, with its own inbox.
struct Admin {
    connection: Connection,
    inbox: Vec<u8>,
    requests: u64,
}

impl Admin {
    fn connect(plan: &Plan) -> Result<Admin, String> {
        let mut connection = connect_as(plan, "tern-bench-js-admin".to_string(), true)?;
        let inbox = format!("_INBOX.tern-bench-js-admin.{:x}", now_ns()).into_bytes();
        let mut filter = inbox.clone();
        filter.extend_from_slice(b".*");
        connection.writer.subscribe(&filter, None, SID_INBOX);
        connection
            .ping_pong(HANDSHAKE_TIMEOUT, |_| {})
            .map_err(err)?;
        Ok(Admin {
            connection,
            inbox,
            requests: 0,
        })
    }

    /// One request; the answer's JSON. Err if nothing answers (no JetStream) or in time.
    fn request(&mut self, subject: &str, body: &[u8]) -> Result<Value, String> {
        self.requests += 1;
        let seq = self.requests;
        let mut reply = Vec::with_capacity(self.inbox.len() + 24);
        reply_subject(&mut reply, &self.inbox, seq);
        let writer = &mut self.connection.writer;
        writer
            .publish(subject.as_bytes(), Some(&reply), b"", body, None)
            .map_err(io_err)?;
        writer.flush().map_err(io_err)?;
        let deadline = Instant::now() + API_TIMEOUT;
        let mut answer: Option<Result<Value, String>> = None;
        while answer.is_none() {
            if Instant::now() > deadline {
                return Err(format!("no answer to {subject} within {API_TIMEOUT:?}"));
            }
            self.connection
                .reader
                .read_some(|op| {
                    let ServerOp::Msg(message) = op else { return };
                    if message.sid != SID_INBOX || reply_seq(&message.subject) != Some(seq) {
                        return;
                    }
                    if let Some((code, _)) = message.headers().and_then(status_of) {
                        answer = Some(Err(if code == 503 {
                            format!(
                                "nothing answers {subject}: the server has no JetStream (start tern or nats-server with -js)"
                            )
                        } else {
                            format!("{subject} answered with status {code}")
                        }));
                        return;
                    }
                    answer = Some(serde_json::from_slice(message.payload()).map_err(|e| {
                        format!(
                            "the answer to {subject} is not JSON ({e}): {}",
                            String::from_utf8_lossy(message.payload())
                        )
                    }));
                })
                .map_err(err)?;
            if self.connection.writer.owes_pongs() {
                self.connection.writer.flush().map_err(io_err)?;
            }
        }
        answer.unwrap_or_else(|| Err(format!("no answer to {subject}")))
    }
}

/// Finds (or creates) the plan's stream and purges it if asked; what it looks like now.
pub fn prepare_stream(plan: &Plan) -> Result<StreamReport, String> {
    let js = plan.jetstream.as_ref().ok_or("not a JetStream scenario")?;
    let mut admin = Admin::connect(plan)?;
    if !admin.connection.info.jetstream {
        return Err(format!(
            "the server at {} has no JetStream (its INFO does not announce it; start it with -js)",
            plan.server.display()
        ));
    }
    let info = admin.request(&format!("$JS.API.STREAM.INFO.{}", js.stream), b"")?;
    let (info, created) = match api_error(&info) {
        None => {
            check_existing(plan, js, &info)?;
            (info, false)
        }
        Some((ERR_STREAM_NOT_FOUND, _)) if js.create => {
            let config = stream_config(plan, js).to_string();
            let answer = admin.request(
                &format!("$JS.API.STREAM.CREATE.{}", js.stream),
                config.as_bytes(),
            )?;
            if let Some((code, description)) = api_error(&answer) {
                return Err(format!(
                    "can not create stream {}: {description} (err_code {code})",
                    js.stream
                ));
            }
            (answer, true)
        }
        Some((ERR_STREAM_NOT_FOUND, _)) => {
            return Err(format!(
                "stream {} does not exist (leave out --no-create to create it)",
                js.stream
            ))
        }
        Some((code, description)) => {
            return Err(format!(
                "can not look up stream {}: {description} (err_code {code})",
                js.stream
            ))
        }
    };
    let purged_msgs = if js.purge {
        let answer = admin.request(&format!("$JS.API.STREAM.PURGE.{}", js.stream), b"")?;
        if let Some((code, description)) = api_error(&answer) {
            return Err(format!(
                "can not purge stream {}: {description} (err_code {code})",
                js.stream
            ));
        }
        Some(answer["purged"].as_u64().unwrap_or(0))
    } else {
        None
    };
    let held = info["state"]["messages"].as_u64().unwrap_or(0);
    Ok(StreamReport {
        name: js.stream.clone(),
        storage: info["config"]["storage"]
            .as_str()
            .unwrap_or("file")
            .to_string(),
        replicas: info["config"]["num_replicas"].as_u64().unwrap_or(1),
        created,
        purged_msgs,
        msgs_before: held.saturating_sub(purged_msgs.unwrap_or(0)),
        msgs_after: None,
        bytes_after: None,
    })
}

/// Fills in what the stream holds after the run; a failed request leaves it unknown.
pub fn stream_after(plan: &Plan, mut report: StreamReport) -> StreamReport {
    let info = Admin::connect(plan)
        .and_then(|mut admin| admin.request(&format!("$JS.API.STREAM.INFO.{}", report.name), b""));
    if let Ok(info) = info {
        if api_error(&info).is_none() {
            report.msgs_after = info["state"]["messages"].as_u64();
            report.bytes_after = info["state"]["bytes"].as_u64();
        }
    }
    report
}

/// The header block of a message with a `Nats-Msg-Id`: the `--headers` fields of `base`
/// (or none), then `Nats-Msg-Id: <tag>-<publisher>-<seq>`. Unique per run, publisher and
/// message, so the server's dedup looks every id up and finds none.
pub fn msg_id_headers(out: &mut Vec<u8>, base: &[u8], tag: &str, publisher: usize, seq: u64) {
    use std::io::Write as _;
    out.clear();
    match base.strip_suffix(b"\r\n") {
        Some(fields) if !base.is_empty() => out.extend_from_slice(fields),
        _ => out.extend_from_slice(b"NATS/1.0\r\n"),
    }
    // Writing to a Vec does not fail.
    let _ = write!(out, "Nats-Msg-Id: {tag}-{publisher}-{seq}\r\n\r\n");
}

/// A publish in flight.
#[derive(Clone, Copy, Default)]
struct Slot {
    seq: u64,
    sent_ns: u64,
    busy: bool,
}

/// A `js pub` publisher: publishes with a reply subject per message, at most the plan's
/// window unacknowledged, and records publish-to-ack latency.
pub(super) fn publisher(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let result = publish_acked(plan, shared, index, ready);
    shared.sender_finished();
    result
}

fn publish_acked(
    plan: &Plan,
    shared: &Shared,
    index: usize,
    ready: &mut Option<Ready>,
) -> Result<ClientReport, String> {
    let js = plan.jetstream.as_ref().ok_or("not a JetStream scenario")?;
    let mut connection = connect_as(plan, format!("tern-bench-js-pub-{index}"), true)?;
    let inbox = inbox(shared, index);
    let mut filter = inbox.clone();
    filter.extend_from_slice(b".*");
    connection.writer.subscribe(&filter, None, SID_INBOX);
    connection
        .ping_pong(HANDSHAKE_TIMEOUT, |_| {})
        .map_err(err)?;
    signal_ready(ready, &connection.info);
    shared.gate.wait();
    let empty = ClientReport {
        stats: ClientStats::default(),
        histogram: None,
        acks: AckCounts::default(),
    };
    if shared.aborted() {
        return Ok(empty);
    }

    let (payload, base_headers) = message_template(plan);
    let mut msg_headers = Vec::with_capacity(base_headers.len() + 64);
    let subject = plan.subject.as_bytes();
    let window = js.window.max(1);
    let mut slots = vec![Slot::default(); window];
    let limit = plan.msgs_for_publisher(index).unwrap_or(u64::MAX);
    let mut reply = Vec::with_capacity(inbox.len() + 24);
    let mut histogram = new_histogram();
    let mut acks = AckCounts::default();
    let start_ns = now_ns();
    let end_ns = match plan.limit {
        Limit::Duration(duration) => start_ns + duration.as_nanos() as u64,
        Limit::Msgs(_) => u64::MAX,
    };
    let mut stats = ClientStats {
        start_ns,
        ..ClientStats::default()
    };
    let mut next_seq = 0u64;
    let mut in_flight = 0usize;
    let mut last_progress = Instant::now();
    loop {
        if shared.aborted() {
            break;
        }
        let sending = next_seq < limit && now_ns() < end_ns;
        if !sending && in_flight == 0 {
            break;
        }
        if sending && in_flight < window {
            let was_idle = in_flight == 0;
            let mut written = 0;
            while in_flight < window && next_seq < limit && written < BURST_MSGS_MAX {
                let slot_index = (next_seq % window as u64) as usize;
                if slots[slot_index].busy {
                    break; // an older publish in this slot is still unacknowledged
                }
                reply_subject(&mut reply, &inbox, next_seq);
                let headers = if js.msg_id {
                    msg_id_headers(
                        &mut msg_headers,
                        &base_headers,
                        &shared.tag,
                        index,
                        next_seq,
                    );
                    &msg_headers
                } else {
                    &base_headers
                };
                slots[slot_index] = Slot {
                    seq: next_seq,
                    sent_ns: now_ns(),
                    busy: true,
                };
                connection
                    .writer
                    .publish(subject, Some(&reply), headers, &payload, None)
                    .map_err(io_err)?;
                next_seq += 1;
                in_flight += 1;
                written += 1;
            }
            connection.writer.flush().map_err(io_err)?;
            if was_idle {
                last_progress = Instant::now();
            }
        }
        let mut read_ns = 0;
        let mut answered = 0u64;
        connection
            .reader
            .read_some(|op| {
                let ServerOp::Msg(message) = op else { return };
                if message.sid != SID_INBOX {
                    return;
                }
                let Some(seq) = reply_seq(&message.subject) else {
                    return;
                };
                let slot = &mut slots[(seq % window as u64) as usize];
                if !slot.busy || slot.seq != seq {
                    return; // not a publish in flight (a stray or repeated answer)
                }
                slot.busy = false;
                if read_ns == 0 {
                    read_ns = now_ns();
                }
                histogram.saturating_record(read_ns.saturating_sub(slot.sent_ns));
                answered += 1;
                acks.count(classify_ack(message.headers(), message.payload()));
            })
            .map_err(err)?;
        if connection.writer.owes_pongs() {
            connection.writer.flush().map_err(io_err)?;
        }
        if answered > 0 {
            in_flight -= answered as usize;
            stats.end_ns = read_ns;
            last_progress = Instant::now();
            shared.sent.fetch_add(answered, Ordering::Relaxed);
        } else if in_flight > 0 && last_progress.elapsed() > ACK_TIMEOUT {
            return Err(format!(
                "{in_flight} publishes to {} got no ack within {ACK_TIMEOUT:?}",
                plan.subject
            ));
        }
    }
    stats.msgs = acks.acked;
    stats.bytes = acks.acked * plan.size_bytes as u64;
    Ok(ClientReport {
        stats,
        histogram: Some(histogram),
        acks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::client::header_block;
    use crate::bench::options::{Output, Scenario, ServerUrl};

    fn plan(subject: &str, storage: Option<Storage>, replicas: Option<usize>) -> Plan {
        Plan {
            scenario: Scenario::JsPub,
            server: ServerUrl {
                address: "127.0.0.1:4222".to_string(),
                user: None,
                password: None,
                token: None,
            },
            publishers: 1,
            subscribers: 0,
            size_bytes: 128,
            limit: Limit::Msgs(10),
            rate_msgs_per_sec: None,
            subject: subject.to_string(),
            queue: String::new(),
            headers: 0,
            output: Output::Table,
            histogram: None,
            progress: false,
            pin: false,
            jetstream: Some(JsPlan {
                stream: "benchstream".to_string(),
                storage,
                replicas,
                purge: false,
                create: true,
                msg_id: false,
                window: 1,
                asynchronous: false,
            }),
        }
    }

    #[test]
    fn acks_are_classified() {
        assert_eq!(
            classify_ack(None, br#"{"stream":"S","seq":42}"#),
            Ack::Stored
        );
        assert_eq!(
            classify_ack(None, br#"{"stream":"S", "seq":42}"#),
            Ack::Stored
        );
        assert_eq!(
            classify_ack(None, br#"{"stream":"S","seq":2,"duplicate": true}"#),
            Ack::Duplicate
        );
        assert_eq!(
            classify_ack(None, br#"{"stream":"S","seq":2,"duplicate":false}"#),
            Ack::Stored
        );
        assert_eq!(
            classify_ack(
                None,
                br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"S","seq":0}"#
            ),
            Ack::Error("maximum messages exceeded (err_code 10077)".to_string())
        );
        assert_eq!(
            classify_ack(Some(b"NATS/1.0 503\r\n\r\n"), b""),
            Ack::Error("no responders: no stream captures the subject".to_string())
        );
        assert_eq!(
            classify_ack(Some(b"NATS/1.0 408 Request Timeout\r\n\r\n"), b""),
            Ack::Error("status 408 Request Timeout".to_string())
        );
        assert!(
            matches!(classify_ack(None, b"+OK"), Ack::Error(text) if text.contains("not a PubAck"))
        );
        assert!(
            matches!(classify_ack(None, br#"{"error": oops"#), Ack::Error(text) if text.contains("oops"))
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"NATS/1.0 503\r\n\r\n"),
            Some((503, String::new()))
        );
        assert_eq!(
            status_of(b"NATS/1.0 404 No Messages\r\n\r\n"),
            Some((404, "No Messages".to_string()))
        );
        assert_eq!(status_of(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[test]
    fn ack_counts_add_up() {
        let mut one = AckCounts::default();
        one.count(Ack::Stored);
        one.count(Ack::Duplicate);
        one.count(Ack::Error("first".to_string()));
        one.count(Ack::Error("second".to_string()));
        assert_eq!((one.acked, one.duplicates, one.errors), (2, 1, 2));
        assert_eq!(one.first_error.as_deref(), Some("first"));
        let mut all = AckCounts::default();
        all.add(&AckCounts {
            acked: 5,
            ..AckCounts::default()
        });
        all.add(&one);
        assert_eq!((all.acked, all.errors, all.answered()), (7, 2, 9));
        assert_eq!(all.first_error.as_deref(), Some("first"));
    }

    #[test]
    fn api_errors() {
        let answer =
            json!({"error": {"code": 404, "err_code": 10059, "description": "stream not found"}});
        assert_eq!(
            api_error(&answer),
            Some((10059, "stream not found".to_string()))
        );
        assert_eq!(api_error(&json!({"config": {}})), None);
    }

    #[test]
    fn created_streams_capture_the_subject() {
        let p = plan("orders.new", Some(Storage::Memory), None);
        let config = stream_config(&p, p.jetstream.as_ref().unwrap());
        assert_eq!(config["name"], "benchstream");
        assert_eq!(config["subjects"], json!(["orders.new"]));
        assert_eq!(config["storage"], "memory");
        assert_eq!(config["num_replicas"], 1);
        let p = plan("orders.new", None, Some(3));
        let config = stream_config(&p, p.jetstream.as_ref().unwrap());
        assert_eq!(
            (config["storage"].as_str(), config["num_replicas"].as_u64()),
            (Some("file"), Some(3))
        );
    }

    #[test]
    fn existing_streams_must_fit() {
        let info = |subjects: Value| json!({"config": {"name": "benchstream", "subjects": subjects, "storage": "file", "num_replicas": 1}});
        let check = |p: &Plan, info: &Value| check_existing(p, p.jetstream.as_ref().unwrap(), info);
        let p = plan("orders.new", None, None);
        assert!(check(&p, &info(json!(["orders.new"]))).is_ok());
        assert!(check(&p, &info(json!(["x", "orders.*"]))).is_ok());
        assert!(check(&p, &info(json!([">"]))).is_ok());
        let error = check(&p, &info(json!(["orders.old"]))).unwrap_err();
        assert!(
            error.contains("does not capture subject orders.new"),
            "{error}"
        );
        let own_name = plan("benchstream", None, None);
        assert!(
            check(&own_name, &info(json!([]))).is_ok(),
            "no subjects: the stream's name"
        );
        let error = check(
            &plan("orders.new", Some(Storage::Memory), None),
            &info(json!([">"])),
        )
        .unwrap_err();
        assert!(
            error.contains("exists with file storage, not memory"),
            "{error}"
        );
        let error = check(&plan("orders.new", None, Some(3)), &info(json!([">"]))).unwrap_err();
        assert!(error.contains("exists with 1 replicas, not 3"), "{error}");
        assert!(check(
            &plan("orders.new", Some(Storage::File), Some(1)),
            &info(json!([">"]))
        )
        .is_ok());
    }

    #[test]
    fn message_ids_are_unique_headers() {
        let mut out = Vec::new();
        msg_id_headers(&mut out, b"", "a1b2", 3, 17);
        assert_eq!(out, b"NATS/1.0\r\nNats-Msg-Id: a1b2-3-17\r\n\r\n");
        msg_id_headers(&mut out, &header_block(1), "t", 0, 0);
        assert_eq!(
            out,
            b"NATS/1.0\r\nBench-Header-1: value-1\r\nNats-Msg-Id: t-0-0\r\n\r\n"
        );
    }
}
