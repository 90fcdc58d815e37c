//! Power loss: tern's store on [`powerfs`], a FUSE filesystem that forgets every write
//! not made durable (fsync of the file, and of its directory for names) when the power
//! is cut, keeping a random fraction of unsynced pages on "torn" cuts.
//!
//! Each round: publishers with `Nats-Msg-Id`s and a pull consumer that double-acks run
//! against a file stream; at a random moment the power goes off (the filesystem fails
//! every call from then on and drops what was not durable), tern is killed, the
//! filesystem is "rebooted", and a fresh tern must show:
//! - the stream and the consumer (their creation was acknowledged);
//! - every acknowledged message at its acknowledged sequence, in order;
//! - no message twice, no message nobody published (phantom);
//! - the consumer's ack floor not behind any ack the server confirmed;
//! - no false "log ends before its last synced point" report (the synced point never
//!   claims more than what the cut left durable).
//!
//! Quick: `cargo test --test torture_power` (a few rounds). Long:
//! `TORTURE_ROUNDS=200 cargo test --release --test torture_power -- --nocapture`.

mod common;
mod powerfs;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const STREAM: &str = "POWER";
const CONSUMER: &str = "C";
const PUBLISHERS: usize = 6;
/// Rounds of the quick run (`TORTURE_ROUNDS` overrides).
const QUICK_ROUNDS: usize = 4;
/// Fraction of unsynced pages (and directories) that survive a torn cut.
const TORN_FRACTION: f64 = 0.3;
/// An armed cut comes within this many file writes...
const CUT_AFTER_WRITES_MAX: u64 = 1500;
/// ...or after this long, whichever is first.
const CUT_WAIT_MAX: Duration = Duration::from_secs(3);
/// Messages asked for at once when reading the whole stream back.
const READ_BATCH: u64 = 10_000;
/// Pull requests in a row answered with a status and no message before the read-back
/// gives up (the consumer stopped short of what it said was pending).
const EMPTY_ANSWERS_MAX: u32 = 100;
/// Status answers kept for the failure message.
const STATUSES_KEPT: usize = 5;
/// Bound on any one request while the power may go off under it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Default)]
struct Ledger {
    /// Payload id -> the sequence its PubAck named.
    acked: HashMap<String, u64>,
    /// Every id a publisher sent (a stored id outside this set is a phantom).
    attempted: HashSet<String>,
    /// Stream sequences whose ack the server confirmed (double ack answered).
    acks_confirmed: BTreeSet<u64>,
}

/// `sync_interval`: `None` fsyncs before every ack (the default); a duration acks from the
/// page cache and fsyncs on that period.
fn start(store: &Path, sync_interval: Option<&str>) -> TestServer {
    match sync_interval {
        None => {
            let store = store.display().to_string();
            ServerBuilder::new()
                .args(&["-js", "-sd", store.as_str()])
                .start()
        }
        Some(interval) => ServerBuilder::new()
            .config(&format!(
                "jetstream {{ store_dir: {:?}, sync_interval: {interval:?} }}",
                store.display().to_string()
            ))
            .start(),
    }
}

async fn api(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    json_request(client, subject, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_and_acks_survive_power_loss() {
    power_rounds(None).await;
}

/// With `sync_interval` set, acks come from the page cache: a cut drops or tears many
/// unsynced pages, so this exercises recovery from torn tails (zeros and stale pages
/// between kept ones) far harder. Acknowledged messages may be lost here by design; what
/// must hold: no damaged record served, no phantom, no duplicate, order, and no false
/// "ends before its last synced point" report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tails_with_a_sync_interval_never_serve_damage() {
    power_rounds(Some("50ms")).await;
}

async fn power_rounds(sync_interval: Option<&str>) {
    if skip_on_reference("powerfs runs the store of the server under test in this process") {
        return;
    }
    if let Some(why) = powerfs::PowerFs::unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let rounds = std::env::var("TORTURE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(QUICK_ROUNDS);
    let seed = std::env::var("TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!(
        "torture_power: {rounds} rounds, sync_interval {sync_interval:?}, TORTURE_SEED={seed}"
    );
    // Only with an fsync before every ack is every acknowledged message durable.
    let strict = sync_interval.is_none();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut fs = powerfs::PowerFs::mount(&mnt).expect("mount powerfs");
    let store = mnt.join("store");
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let mut created = false;
    let mut totals = powerfs::CutReport::default();

    for round in 0..rounds {
        let mut server = start(&store, sync_interval);
        let client = client(&server).await;
        // The synced point never claims more than the power cut left durable.
        assert!(
            !server.log().contains("ends before its last synced point"),
            "round {round}: false tail-loss report:\n{}",
            server.log()
        );
        if created {
            let snapshot = ledger.lock().unwrap().clone();
            verify(&client, &server, &snapshot, round, strict).await;
        } else {
            let answer = api(
                &client,
                &format!("$JS.API.STREAM.CREATE.{STREAM}"),
                json!({"name": STREAM, "subjects": ["power.*"], "storage": "file"}),
            )
            .await;
            assert!(answer.get("error").is_none(), "{answer}");
            let answer = api(
                &client,
                &format!("$JS.API.CONSUMER.CREATE.{STREAM}.{CONSUMER}"),
                json!({"stream_name": STREAM, "config": {
                    "durable_name": CONSUMER, "ack_policy": "explicit", "ack_wait": 30_000_000_000u64
                }}),
            )
            .await;
            assert!(answer.get("error").is_none(), "{answer}");
            created = true;
        }

        let mut tasks = Vec::new();
        for p in 0..PUBLISHERS {
            let client = client.clone();
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(publish(client, ledger, round, p)));
        }
        tasks.push(tokio::spawn(consume(client.clone(), ledger.clone())));

        // Half the cuts land at a random time, half right after a random write (before
        // its fsync).
        let when = if rng.gen_bool(0.5) {
            let run_ms = rng.gen_range(50..600);
            tokio::time::sleep(Duration::from_millis(run_ms)).await;
            format!("after {run_ms} ms")
        } else {
            let writes = rng.gen_range(10..CUT_AFTER_WRITES_MAX);
            fs.cut_power_after(writes);
            let deadline = tokio::time::Instant::now() + CUT_WAIT_MAX;
            while !fs.is_dead() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            format!("after {writes} writes")
        };
        fs.cut_power();
        server.kill();
        for task in tasks {
            task.await.expect("client task");
        }
        drop(client);
        let torn = if round % 2 == 1 { TORN_FRACTION } else { 0.0 };
        let report = fs.reboot(torn, &mut rng).expect("remount powerfs");
        {
            let ledger = ledger.lock().unwrap();
            eprintln!(
                "round {round}: cut {when} (torn {torn}): {report:?}; so far {} acked, {} acks confirmed",
                ledger.acked.len(),
                ledger.acks_confirmed.len()
            );
        }
        totals.pages_dropped += report.pages_dropped;
        totals.pages_torn_kept += report.pages_torn_kept;
        totals.dirs_reverted += report.dirs_reverted;
    }

    let server = start(&store, sync_interval);
    assert!(
        !server.log().contains("ends before its last synced point"),
        "false tail-loss report:\n{}",
        server.log()
    );
    let client = client(&server).await;
    let ledger = ledger.lock().unwrap().clone();
    let lost = verify(&client, &server, &ledger, rounds, strict).await;
    eprintln!(
        "torture_power: {rounds} rounds, sync_interval {sync_interval:?}, {} messages acknowledged, \
         {} acks confirmed, {lost} acknowledged messages lost; \
         cuts dropped {} pages, kept {} torn pages, reverted {} directories; {} fsyncs",
        ledger.acked.len(),
        ledger.acks_confirmed.len(),
        totals.pages_dropped,
        totals.pages_torn_kept,
        totals.dirs_reverted,
        fs.fsyncs(),
    );
    assert!(
        ledger.acked.len() >= rounds * 10,
        "too few acknowledged messages to mean anything: {}",
        ledger.acked.len()
    );
}

/// Publishes with unique ids until the server stops answering.
async fn publish(client: async_nats::Client, ledger: Arc<Mutex<Ledger>>, round: usize, p: usize) {
    for i in 0.. {
        let id = format!("r{round}-p{p}-{i}");
        ledger.lock().unwrap().attempted.insert(id.clone());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        let reply = tokio::time::timeout(
            REQUEST_TIMEOUT,
            client.request_with_headers(format!("power.{p}"), headers, Bytes::from(id.clone())),
        )
        .await;
        let Ok(Ok(reply)) = reply else { return };
        let Ok(ack) = serde_json::from_slice::<Value>(&reply.payload) else {
            return;
        };
        // An error (the disk died under the server) ends this publisher.
        let Some(seq) = ack["seq"].as_u64().filter(|_| ack.get("error").is_none()) else {
            return;
        };
        ledger.lock().unwrap().acked.insert(id, seq);
    }
}

/// Pulls batches and double-acks every message; an answered ack is a confirmed one.
async fn consume(client: async_nats::Client, ledger: Arc<Mutex<Ledger>>) {
    let inbox = client.new_inbox();
    let Ok(mut messages) = client.subscribe(inbox.clone()).await else {
        return;
    };
    loop {
        let request = json!({"batch": 50, "expires": 200_000_000u64}).to_string();
        let next = format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{CONSUMER}");
        if client
            .publish_with_reply(next, inbox.clone(), Bytes::from(request))
            .await
            .is_err()
        {
            return;
        }
        let mut got = 0;
        loop {
            let Ok(Some(message)) = tokio::time::timeout(REQUEST_TIMEOUT, messages.next()).await
            else {
                return;
            };
            let Some(reply) = message.reply.as_ref().filter(|r| r.starts_with("$JS.ACK.")) else {
                // A status (timeout, no messages): ask again.
                break;
            };
            let sseq: u64 = reply
                .split('.')
                .nth(5)
                .and_then(|s| s.parse().ok())
                .expect("stream sequence in the ack subject");
            let answer = tokio::time::timeout(
                REQUEST_TIMEOUT,
                client.request(reply.to_string(), Bytes::from_static(b"+ACK")),
            )
            .await;
            if !matches!(answer, Ok(Ok(_))) {
                return;
            }
            ledger.lock().unwrap().acks_confirmed.insert(sseq);
            got += 1;
            if got == 50 {
                break;
            }
        }
    }
}

/// Everything acknowledged is there, nothing else is, and the consumer kept its acks.
/// `strict`: every acknowledged message and confirmed ack must have survived (fsync per
/// ack); otherwise only what was stored is checked (no phantom, duplicate or disorder).
/// Returns how many acknowledged messages are missing (always 0 when strict).
async fn verify(
    client: &async_nats::Client,
    server: &TestServer,
    ledger: &Ledger,
    round: usize,
    strict: bool,
) -> usize {
    let info = api(
        client,
        &format!("$JS.API.STREAM.INFO.{STREAM}"),
        Value::Null,
    )
    .await;
    assert!(
        info.get("error").is_none(),
        "round {round}: the stream is gone after power loss: {info}"
    );
    assert_eq!(info["config"]["subjects"], json!(["power.*"]), "{info}");
    let first = info["state"]["first_seq"].as_u64().expect("first_seq");
    let last = info["state"]["last_seq"].as_u64().expect("last_seq");

    let mut stored_ids: HashMap<String, u64> = HashMap::new();
    let mut stored_seqs = Vec::new();
    for (seq, id) in read_all(client, server, first, last).await {
        assert!(
            ledger.attempted.contains(&id),
            "round {round}: phantom message {id:?} at seq {seq}"
        );
        if let Some(earlier) = stored_ids.insert(id.clone(), seq) {
            panic!("round {round}: {id} stored twice, at {earlier} and {seq}");
        }
        if let Some(previous) = stored_seqs.last() {
            assert!(seq > *previous, "round {round}: seq {seq} after {previous}");
        }
        stored_seqs.push(seq);
    }
    if !strict {
        // Stored messages that were acknowledged sit at their acknowledged sequence.
        for (id, seq) in &stored_ids {
            if let Some(acked) = ledger.acked.get(id) {
                assert_eq!(
                    acked, seq,
                    "round {round}: {id} stored at {seq}, acked at {acked}"
                );
            }
        }
        return ledger
            .acked
            .keys()
            .filter(|id| !stored_ids.contains_key(*id))
            .count();
    }
    for (id, seq) in &ledger.acked {
        assert_eq!(
            stored_ids.get(id),
            Some(seq),
            "round {round}: acknowledged message {id} (seq {seq}) lost after power loss"
        );
    }

    let consumer = api(
        client,
        &format!("$JS.API.CONSUMER.INFO.{STREAM}.{CONSUMER}"),
        Value::Null,
    )
    .await;
    assert!(
        consumer.get("error").is_none(),
        "round {round}: the consumer is gone after power loss: {consumer}"
    );
    assert_eq!(consumer["config"]["ack_policy"], "explicit", "{consumer}");
    // The floor must cover the longest run of stored messages whose acks were confirmed.
    let mut required = 0;
    for seq in &stored_seqs {
        if ledger.acks_confirmed.contains(seq) {
            required = *seq;
        } else {
            break;
        }
    }
    let floor = consumer["ack_floor"]["stream_seq"].as_u64().unwrap_or(0);
    assert!(
        floor >= required,
        "round {round}: consumer ack floor {floor} is behind confirmed acks up to {required}: {consumer}"
    );
    0
}

/// Every stored message as (stream seq, payload), pulled through an ephemeral consumer in
/// batches of at most [`READ_BATCH`]: a push consumer would deliver a long run's hundreds of
/// thousands of messages faster than this client reads them, and async-nats drops what
/// overflows its subscription buffer (65 536 messages), which reads as a lost message.
async fn read_all(
    client: &async_nats::Client,
    server: &TestServer,
    first: u64,
    last: u64,
) -> Vec<(u64, String)> {
    let created = api(
        client,
        &format!("$JS.API.CONSUMER.CREATE.{STREAM}"),
        json!({"stream_name": STREAM, "config": {
            "ack_policy": "none", "deliver_policy": "all"
        }}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let name = created["name"].as_str().expect("consumer name").to_string();
    let expected = created["num_pending"].as_u64().expect("num_pending");
    let inbox = client.new_inbox();
    let mut messages = client.subscribe(inbox.clone()).await.expect("subscribe");
    let next = format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{name}");
    let mut out = Vec::new();
    let mut empty_answers = 0;
    let mut statuses: std::collections::VecDeque<String> = Default::default();
    while (out.len() as u64) < expected {
        if empty_answers >= EMPTY_ANSWERS_MAX {
            let info = api(
                client,
                &format!("$JS.API.CONSUMER.INFO.{STREAM}.{name}"),
                Value::Null,
            )
            .await;
            let log = server.log();
            let notable: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("[ERR]") || l.contains("[WRN]"))
                .collect();
            panic!(
                "the consumer stopped short: {} of {expected} messages (last seq {:?}); \
                 last answers {:?}; consumer {info}; server warnings and errors:\n{}",
                out.len(),
                out.last().map(|(seq, _)| *seq),
                statuses,
                notable.join("\n")
            );
        }
        let batch = (expected - out.len() as u64).min(READ_BATCH);
        let request = json!({"batch": batch, "no_wait": true}).to_string();
        client
            .publish_with_reply(next.clone(), inbox.clone(), Bytes::from(request))
            .await
            .expect("pull request");
        let mut got = 0;
        while got < batch {
            let message = recv(&mut messages).await;
            let Some(reply) = message
                .reply
                .as_deref()
                .filter(|r| r.starts_with("$JS.ACK."))
            else {
                // A status (no messages right now): ask again.
                if statuses.len() == STATUSES_KEPT {
                    statuses.pop_front();
                }
                statuses.push_back(format!(
                    "{:?} {:?} after {got}",
                    message.status, message.description
                ));
                break;
            };
            let seq: u64 = reply
                .split('.')
                .nth(5)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no stream sequence in {reply:?}"));
            assert!(
                (first..=last).contains(&seq),
                "seq {seq} outside {first}..={last}"
            );
            let id = String::from_utf8(message.payload.to_vec()).expect("utf8 payload");
            out.push((seq, id));
            got += 1;
        }
        // Only answers without any message in a row count towards giving up.
        empty_answers = if got == 0 { empty_answers + 1 } else { 0 };
    }
    out
}
