//! Corruption of a stopped server's files: random bit flips, zeroed ranges, garbage and
//! truncation in segment files, and damage to `meta.json` and consumer state. On restart
//! the damage must be detected (logged, and the lost sequences listed in STREAM.INFO
//! `state.lost` and `/jsz`), a cut or damaged tail included, every intact record stays
//! readable, no damaged record is served, no acknowledged sequence is handed out again,
//! and the server stays up.
//!
//! Quick: `cargo test --test torture_corruption`. Long:
//! `TORTURE_TRIALS=500 cargo test --release --test torture_corruption -- --nocapture`.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const MESSAGES: u64 = 60;
/// Trials of the quick run (`TORTURE_TRIALS` overrides).
const QUICK_TRIALS: usize = 8;

fn start(store: &Path) -> TestServer {
    let store = store.display().to_string();
    ServerBuilder::new()
        .args(&["-js", "-sd", store.as_str(), "-m", "-1"])
        .start()
}

async fn api(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    json_request(client, subject, body).await
}

fn payload(trial: usize, seq: u64) -> String {
    // Varied lengths, so damage lands in headers, lengths and bodies alike.
    format!(
        "trial-{trial}-seq-{seq:04}-{}",
        "x".repeat((seq as usize * 7) % 90)
    )
}

fn stream_dir(store: &Path, stream: &str) -> PathBuf {
    store
        .join("jetstream")
        .join("$G")
        .join("streams")
        .join(stream)
}

fn segments(store: &Path, stream: &str) -> Vec<PathBuf> {
    let dir = stream_dir(store, stream).join("msgs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

/// Creates stream `name` with a durable consumer and `MESSAGES` messages, then stops.
async fn prepare(store: &Path, name: &str, trial: usize) {
    let mut server = start(store);
    let client = client(&server).await;
    let created = api(
        &client,
        &format!("$JS.API.STREAM.CREATE.{name}"),
        json!({"name": name, "subjects": [format!("{name}.>")]}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let consumer = api(
        &client,
        &format!("$JS.API.CONSUMER.CREATE.{name}.C"),
        json!({"stream_name": name, "config": {"durable_name": "C", "ack_policy": "explicit"}}),
    )
    .await;
    assert!(consumer.get("error").is_none(), "{consumer}");
    for seq in 1..=MESSAGES {
        let reply = client
            .request(
                format!("{name}.s{}", seq % 3),
                Bytes::from(payload(trial, seq)),
            )
            .await
            .expect("ack");
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(ack["seq"], seq, "{ack}");
    }
    server.stop();
}

#[derive(Debug)]
enum Damage {
    FlipBits(Vec<(usize, u8)>),
    Zero(usize, usize),
    Garbage(usize, usize),
    Truncate(usize),
}

fn damage(bytes: &mut Vec<u8>, rng: &mut impl Rng) -> Damage {
    let len = bytes.len();
    let d = match rng.gen_range(0..4) {
        0 => Damage::FlipBits(
            (0..rng.gen_range(1..=4))
                .map(|_| (rng.gen_range(0..len), 1u8 << rng.gen_range(0..8)))
                .collect(),
        ),
        1 => {
            let at = rng.gen_range(0..len);
            Damage::Zero(at, rng.gen_range(1..=200).min(len - at))
        }
        2 => {
            let at = rng.gen_range(0..len);
            Damage::Garbage(at, rng.gen_range(1..=64).min(len - at))
        }
        _ => Damage::Truncate(rng.gen_range(0..len)),
    };
    match &d {
        Damage::FlipBits(flips) => {
            for (at, bit) in flips {
                bytes[*at] ^= bit;
            }
        }
        Damage::Zero(at, n) => bytes[*at..at + n].fill(0),
        Damage::Garbage(at, n) => rng.fill(&mut bytes[*at..at + n]),
        Damage::Truncate(at) => bytes.truncate(*at),
    }
    d
}

fn seed() -> u64 {
    let seed = std::env::var("TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("TORTURE_SEED={seed}");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_damage_is_detected_and_never_served() {
    if skip_on_reference("tern's segment layout") {
        return;
    }
    let trials = std::env::var("TORTURE_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(QUICK_TRIALS);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed());
    let (mut detected, mut tail_cuts) = (0, 0);
    for trial in 0..trials {
        let store = tempfile::tempdir().unwrap();
        prepare(store.path(), "DMG", trial).await;
        let segment = segments(store.path(), "DMG").pop().expect("a segment");
        let mut bytes = std::fs::read(&segment).unwrap();
        let what = damage(&mut bytes, &mut rng);
        std::fs::write(&segment, &bytes).unwrap();
        eprintln!("trial {trial}: {what:?}");

        let server = start(store.path());
        let client = client(&server).await;
        let info = api(&client, "$JS.API.STREAM.INFO.DMG", Value::Null).await;
        assert!(
            info.get("error").is_none(),
            "trial {trial} {what:?}: {info}"
        );
        let state = &info["state"];
        let last = state["last_seq"].as_u64().unwrap();
        let lost: HashSet<u64> = state["lost"]["msgs"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let mut served = 0;
        for seq in 1..=MESSAGES {
            let answer = api(&client, "$JS.API.STREAM.MSG.GET.DMG", json!({"seq": seq})).await;
            if answer.get("error").is_some() {
                continue;
            }
            let message = &answer["message"];
            let data = base64_decode(message["data"].as_str().unwrap_or(""));
            assert_eq!(
                String::from_utf8_lossy(&data),
                payload(trial, seq),
                "trial {trial} {what:?}: seq {seq} served damaged: {answer}"
            );
            assert_eq!(message["subject"], format!("DMG.s{}", seq % 3), "{answer}");
            served += 1;
        }
        let missing = MESSAGES - served;
        if missing > 0 {
            // Every loss is reported, a cut at the very end included: the synced point
            // recorded at the stop tells it from a torn write.
            let reported = !lost.is_empty() || server.log().contains("corrupt");
            assert!(
                reported,
                "trial {trial} {what:?}: {missing} messages gone, nothing reported: {info}\n{}",
                server.log()
            );
            detected += 1;
            if server.log().contains("ends before its last synced point") {
                tail_cuts += 1;
            }
        }
        // Every acknowledged sequence stays used, whatever was cut.
        assert!(
            last >= MESSAGES,
            "trial {trial} {what:?}: last sequence {last} below the acknowledged {MESSAGES}: {info}"
        );
        // The stream goes on, and never reuses a sequence that was lost or served.
        let reply = client
            .request("DMG.more".to_string(), Bytes::from("after"))
            .await
            .unwrap();
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        let seq = ack["seq"].as_u64().unwrap_or(0);
        assert!(
            seq > last,
            "trial {trial} {what:?}: new seq {seq} <= last {last}: {ack}"
        );
        assert!(
            lost.iter().all(|l| seq > *l),
            "trial {trial}: sequence reused: {ack} lost {lost:?}"
        );
        if !lost.is_empty() {
            let jsz = http_json(server.monitor_addr().unwrap(), "/jsz?streams=true");
            assert_eq!(
                find_lost(&jsz),
                state["lost"].to_string(),
                "trial {trial}: /jsz does not report the loss: {jsz}"
            );
        }
        eprintln!("trial {trial}: served {served}, lost {lost:?}, last {last}");
    }
    eprintln!(
        "segment damage: {trials} trials, {detected} detected and reported \
         ({tail_cuts} of them cuts at the tail), 0 silent, 0 damaged records served"
    );
}

/// The deterministic case of the random one above: the last record cut in half after a
/// clean stop. The loss is logged, listed in `state.lost` and `/jsz`, the acknowledged
/// last sequence is never handed out again, and all of that still holds after a second
/// restart. A store without the synced-point file (older tern) still loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_tail_is_reported_and_its_sequences_never_reused() {
    if skip_on_reference("tern's segment layout") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    prepare(store.path(), "CUT", 0).await;
    let synced = stream_dir(store.path(), "CUT").join("synced");
    assert_eq!(
        std::fs::metadata(&synced).map(|m| m.len()).unwrap_or(0),
        36,
        "synced point recorded at the stop"
    );
    let segment = segments(store.path(), "CUT").pop().expect("a segment");
    let len = std::fs::metadata(&segment).unwrap().len();
    // The last message's payload is at least 20 bytes: cutting 10 lands inside it.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 10)
        .unwrap();

    for round in 0..2 {
        let server = start(store.path());
        let client = client(&server).await;
        let info = api(&client, "$JS.API.STREAM.INFO.CUT", Value::Null).await;
        let state = &info["state"];
        // Round 1 also holds the message published after round 0.
        assert_eq!(
            state["messages"],
            MESSAGES - 1 + round,
            "round {round}: {info}"
        );
        assert!(state["last_seq"].as_u64().unwrap() >= MESSAGES, "{info}");
        assert_eq!(
            state["lost"]["msgs"],
            json!([MESSAGES]),
            "round {round}: {info}"
        );
        if round == 0 {
            assert!(state["lost"]["bytes"].as_u64() > Some(0), "{info}");
            assert!(
                server.log().contains("ends before its last synced point"),
                "{}",
                server.log()
            );
        }
        let jsz = http_json(server.monitor_addr().unwrap(), "/jsz?streams=true");
        assert_eq!(find_lost(&jsz), state["lost"].to_string(), "{jsz}");
        let reply = client
            .request("CUT.more".to_string(), Bytes::from("after"))
            .await
            .unwrap();
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(ack["seq"], MESSAGES + 1 + round, "round {round}: {ack}");
    }

    // Legacy: no synced-point file at all. The stream loads and serves what it has.
    let legacy = tempfile::tempdir().unwrap();
    prepare(legacy.path(), "OLD", 0).await;
    std::fs::remove_file(stream_dir(legacy.path(), "OLD").join("synced")).unwrap();
    let server = start(legacy.path());
    let client = client(&server).await;
    let info = api(&client, "$JS.API.STREAM.INFO.OLD", Value::Null).await;
    assert_eq!(info["state"]["messages"], MESSAGES, "{info}");
    assert!(info["state"].get("lost").is_none(), "{info}");
}

/// The `lost` object of the stream in /jsz, if any.
fn find_lost(jsz: &Value) -> String {
    let mut found = String::from("(none)");
    fn walk(v: &Value, found: &mut String) {
        match v {
            Value::Object(map) => {
                if let Some(lost) = map.get("lost") {
                    *found = lost.to_string();
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    walk(jsz, &mut found);
    found
}

/// Damage that appears while the server runs, after recovery verified the log: the read
/// back catches it, the message is counted as lost (log, `state.lost`), and consumers
/// and gets move past it instead of stalling on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_found_while_serving_is_skipped_and_reported() {
    if skip_on_reference("tern's segment files") {
        return;
    }
    // More than a stream's body cache (32 MiB), so the oldest bodies are read from disk.
    const COUNT: u64 = 40;
    const SIZE_BYTES: usize = 1_000_000;
    const DAMAGED: u64 = 2;
    let marker = |seq: u64| format!("live-{seq:03}-");
    let store = tempfile::tempdir().unwrap();
    {
        let server = start(store.path());
        let client = client(&server).await;
        let created = create_stream(&client, json!({"name": "LIVE", "subjects": ["live"]})).await;
        assert!(created.get("error").is_none(), "{created}");
        for seq in 1..=COUNT {
            let mut payload = marker(seq).into_bytes();
            payload.resize(SIZE_BYTES, b'a' + (seq % 26) as u8);
            let ack = client
                .request("live", Bytes::from(payload))
                .await
                .expect("PubAck");
            assert!(!ack.payload.starts_with(b"{\"error"), "{ack:?}");
        }
    }
    // Recovery verifies every record, so the damage comes after the restart.
    let server = start(store.path());
    let client = client(&server).await;
    let needle = marker(DAMAGED).into_bytes();
    let damaged_file = segments(store.path(), "LIVE").into_iter().find_map(|path| {
        let bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(needle.len()).position(|w| w == needle)?;
        Some((path, at))
    });
    let (path, at) = damaged_file.expect("the message's record in a segment");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start((at + 1000) as u64)).unwrap();
        file.write_all(b"Z").unwrap();
        file.sync_all().unwrap();
    }

    let created = api(
        &client,
        "$JS.API.CONSUMER.CREATE.LIVE",
        json!({"stream_name": "LIVE", "config": {"ack_policy": "none"}}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let name = created["name"].as_str().unwrap().to_string();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(
            format!("$JS.API.CONSUMER.MSG.NEXT.LIVE.{name}"),
            inbox,
            Bytes::from(json!({"batch": COUNT, "no_wait": true}).to_string()),
        )
        .await
        .unwrap();
    let mut served = Vec::new();
    loop {
        let message = recv(&mut replies).await;
        if message.status.is_some() {
            break;
        }
        let seq: u64 = std::str::from_utf8(&message.payload[5..8])
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            message.payload[marker(seq).len()..]
                .iter()
                .all(|&b| b == b'a' + (seq % 26) as u8),
            "damaged message {seq} served"
        );
        served.push(seq);
    }
    let expected: Vec<u64> = (1..=COUNT).filter(|&seq| seq != DAMAGED).collect();
    assert_eq!(served, expected);

    let info = api(&client, "$JS.API.STREAM.INFO.LIVE", Value::Null).await;
    assert_eq!(info["state"]["messages"], COUNT - 1, "{info}");
    assert_eq!(info["state"]["lost"]["msgs"], json!([DAMAGED]), "{info}");
    let get = api(
        &client,
        "$JS.API.STREAM.MSG.GET.LIVE",
        json!({ "seq": DAMAGED }),
    )
    .await;
    assert_eq!(get["error"]["err_code"], 10037, "{get}");
    assert!(
        server
            .log()
            .contains(&format!("corrupt record for seq {DAMAGED}")),
        "damage not logged:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn damaged_consumer_state_is_detected_and_the_consumer_stays() {
    if skip_on_reference("tern's consumer state file") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    prepare(store.path(), "CST", 0).await;
    let state = stream_dir(store.path(), "CST").join("consumers/C/state");
    let original = std::fs::read(&state).expect("consumer state written at stop");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed());
    // Damage that changes something (zeroing zeros is no damage).
    let (what, bytes) = loop {
        let mut bytes = original.clone();
        let what = damage(&mut bytes, &mut rng);
        if bytes != original {
            break (what, bytes);
        }
    };
    std::fs::write(&state, &bytes).unwrap();

    let server = start(store.path());
    let client = client(&server).await;
    let info = api(&client, "$JS.API.CONSUMER.INFO.CST.C", Value::Null).await;
    assert!(info.get("error").is_none(), "{what:?}: {info}");
    assert!(
        server.log().contains("saved state unreadable"),
        "{what:?}: damage not reported:\n{}",
        server.log()
    );
    assert_eq!(info["num_pending"], MESSAGES, "{info}");
}

#[tokio::test]
async fn damaged_stream_meta_is_reported_and_the_other_streams_stay() {
    if skip_on_reference("tern's meta.json") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    prepare(store.path(), "BAD", 0).await;
    prepare(store.path(), "FLIP", 1).await;
    prepare(store.path(), "GOOD", 2).await;
    prepare(store.path(), "OLD", 3).await;
    let meta_of = |stream: &str| stream_dir(store.path(), stream).join("meta.json");
    // Truncation: not even JSON any more.
    let bytes = std::fs::read(meta_of("BAD")).unwrap();
    std::fs::write(meta_of("BAD"), &bytes[..bytes.len() / 2]).unwrap();
    // One changed letter inside a string: still JSON, a different config (the subject
    // `FLIP.>` becomes `FLIQ.>`); only the checksum catches it.
    let text = std::fs::read_to_string(meta_of("FLIP")).unwrap();
    assert!(text.contains("\"FLIP.>\""), "{text}");
    std::fs::write(meta_of("FLIP"), text.replace("\"FLIP.>\"", "\"FLIQ.>\"")).unwrap();
    // A meta.json from before the checksum (plain JSON) still loads.
    let sealed: Value = serde_json::from_slice(&std::fs::read(meta_of("OLD")).unwrap()).unwrap();
    std::fs::write(meta_of("OLD"), sealed["meta"].to_string()).unwrap();
    // A consumer's meta.json with a changed value inside a string.
    let consumer_meta = stream_dir(store.path(), "GOOD").join("consumers/C/meta.json");
    let text = std::fs::read_to_string(&consumer_meta).unwrap();
    assert!(text.contains("\"explicit\""), "{text}");
    std::fs::write(&consumer_meta, text.replace("\"explicit\"", "\"explicjt\"")).unwrap();

    let server = start(store.path());
    let client = client(&server).await;
    let log = server.log();
    assert!(
        log.contains("BAD: corrupt meta.json"),
        "truncation not reported:\n{log}"
    );
    assert!(
        log.contains("FLIP: corrupt meta.json: checksum mismatch"),
        "changed string not reported:\n{log}"
    );
    assert!(
        log.contains("corrupt meta.json: checksum mismatch") && log.contains("consumers/C"),
        "consumer meta damage not reported:\n{log}"
    );
    for stream in ["BAD", "FLIP"] {
        let info = api(
            &client,
            &format!("$JS.API.STREAM.INFO.{stream}"),
            Value::Null,
        )
        .await;
        assert_eq!(info["error"]["err_code"], 10059, "{info}");
    }
    let names = api(&client, "$JS.API.STREAM.NAMES", Value::Null).await;
    assert!(
        !names.to_string().contains("FLIQ"),
        "garbled config loaded: {names}"
    );
    for stream in ["GOOD", "OLD"] {
        let info = api(
            &client,
            &format!("$JS.API.STREAM.INFO.{stream}"),
            Value::Null,
        )
        .await;
        assert_eq!(info["state"]["messages"], MESSAGES, "{info}");
    }
    // The damaged consumer was not loaded; OLD's (untouched) was.
    let bad = api(&client, "$JS.API.CONSUMER.INFO.GOOD.C", Value::Null).await;
    assert_eq!(bad["error"]["err_code"], 10014, "{bad}");
    let old = api(&client, "$JS.API.CONSUMER.INFO.OLD.C", Value::Null).await;
    assert_eq!(old["config"]["ack_policy"], "explicit", "{old}");
}

/// Pulls `count` messages from consumer C of `stream` and acks each.
async fn pull_and_ack(client: &async_nats::Client, stream: &str, count: usize) {
    use futures::StreamExt;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.C"),
            inbox,
            Bytes::from(json!({"batch": count, "expires": 5_000_000_000u64}).to_string()),
        )
        .await
        .unwrap();
    let mut acked = 0;
    while acked < count {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
            .await
            .expect("a message within 10 s")
            .expect("subscription open");
        let Some(reply) = message.reply else { continue };
        // A double ack: answered once the ack is durable.
        client
            .request(reply.to_string(), Bytes::from_static(b"+ACK"))
            .await
            .expect("ack confirmed");
        acked += 1;
    }
}

/// A damaged consumer state falls back to the previous saved one (its progress since is
/// delivered again) instead of restarting the consumer from nothing; with no previous
/// state either, it restarts from its config. Both are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_consumer_state_falls_back_to_the_previous_one() {
    if skip_on_reference("tern's consumer state file") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    prepare(store.path(), "PRV", 0).await;
    let dir = stream_dir(store.path(), "PRV").join("consumers/C");
    let mut server = start(store.path());
    let nats = client(&server).await;
    pull_and_ack(&nats, "PRV", 10).await;
    drop(nats);
    server.stop();
    let mut server = start(store.path());
    let nats = client(&server).await;
    pull_and_ack(&nats, "PRV", 10).await;
    drop(nats);
    server.stop();
    assert!(dir.join("state.prev").exists(), "previous state kept");

    let mut state = std::fs::read(dir.join("state")).unwrap();
    let at = state.len() / 2;
    state[at] ^= 0x10;
    std::fs::write(dir.join("state"), &state).unwrap();
    let mut server = start(store.path());
    let nats = client(&server).await;
    let info = api(&nats, "$JS.API.CONSUMER.INFO.PRV.C", Value::Null).await;
    let log = server.log();
    assert!(log.contains("saved state unreadable"), "{log}");
    assert!(
        log.contains("restored from its previous saved state"),
        "{log}"
    );
    let floor = info["ack_floor"]["stream_seq"].as_u64().unwrap_or(0);
    assert!(
        (10..20).contains(&floor),
        "ack floor {floor}: not the previous state's: {info}"
    );
    // Everything above the restored floor is delivered (again) or still to come.
    let outstanding =
        info["num_pending"].as_u64().unwrap() + info["num_ack_pending"].as_u64().unwrap();
    assert_eq!(outstanding, MESSAGES - floor, "{info}");
    drop(nats);
    server.stop();

    // Both damaged: from the config, reported.
    for file in ["state", "state.prev"] {
        std::fs::write(dir.join(file), b"TCST garbage").unwrap();
    }
    let server = start(store.path());
    let nats = client(&server).await;
    let info = api(&nats, "$JS.API.CONSUMER.INFO.PRV.C", Value::Null).await;
    assert!(
        server.log().contains("previous saved state unreadable too"),
        "{}",
        server.log()
    );
    assert_eq!(info["num_pending"], MESSAGES, "{info}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64 payload")
}
