//! Crash and corruption: a PubAck means the message survives `kill -9`, a torn tail is cut
//! off at restart, and a record whose checksum fails is never served.
//!
//! The crash loop also runs against the reference server (a process crash loses nothing
//! there either: the page cache survives the process); the corruption tests depend on
//! tern's file layout and skip there.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

const ROUNDS: usize = 5;
const PUBLISHERS: usize = 4;

fn start(store: &Path) -> TestServer {
    let store = store.display().to_string();
    ServerBuilder::new()
        .args(&["-js", "-sd", store.as_str()])
        .start()
}

async fn api(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    json_request(client, subject, body).await
}

/// Every message in the stream, by sequence: (seq, subject, payload).
async fn read_all(client: &async_nats::Client, stream: &str) -> Vec<(u64, String, String)> {
    let info = api(
        client,
        &format!("$JS.API.STREAM.INFO.{stream}"),
        Value::Null,
    )
    .await;
    let state = &info["state"];
    let first = state["first_seq"].as_u64().expect("first_seq");
    let last = state["last_seq"].as_u64().expect("last_seq");
    let mut out = Vec::new();
    for seq in first..=last {
        let answer = api(
            client,
            &format!("$JS.API.STREAM.MSG.GET.{stream}"),
            json!({ "seq": seq }),
        )
        .await;
        if answer.get("error").is_some() {
            continue;
        }
        let message = &answer["message"];
        let data = message["data"].as_str().unwrap_or("");
        let payload = String::from_utf8(base64_decode(data)).expect("utf8 payload");
        out.push((
            seq,
            message["subject"].as_str().unwrap_or("").to_string(),
            payload,
        ));
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64 payload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let store = tempfile::tempdir().unwrap();
    // id -> seq the server acknowledged.
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    for round in 0..ROUNDS {
        let mut server = start(store.path());
        let client = client(&server).await;
        if round == 0 {
            let created = api(
                &client,
                "$JS.API.STREAM.CREATE.CRASH",
                json!({"name": "CRASH", "subjects": ["crash.*"]}),
            )
            .await;
            assert!(created.get("error").is_none(), "{created}");
        } else {
            let acked_so_far = acked.lock().unwrap().clone();
            verify(&client, &acked_so_far).await;
        }

        let mut tasks = Vec::new();
        for p in 0..PUBLISHERS {
            let client = connect_with(&server, async_nats::ConnectOptions::new()).await;
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                let mut last_seq = 0;
                for i in 0.. {
                    let id = format!("r{round}-p{p}-{i}");
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", id.as_str());
                    let reply = tokio::time::timeout(
                        Duration::from_secs(2),
                        client.request_with_headers(
                            format!("crash.{p}"),
                            headers,
                            Bytes::from(id.clone()),
                        ),
                    )
                    .await;
                    let Ok(Ok(reply)) = reply else { return };
                    let Ok(ack) = serde_json::from_slice::<Value>(&reply.payload) else {
                        return;
                    };
                    let Some(seq) = ack["seq"].as_u64() else {
                        return;
                    };
                    assert!(ack.get("error").is_none(), "{ack}");
                    assert!(seq > last_seq, "acks out of order: {seq} after {last_seq}");
                    last_seq = seq;
                    acked.lock().unwrap().insert(id, seq);
                }
            }));
        }
        let run_ms = 150 + (round as u64 * 97) % 300;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        server.kill();
        for task in tasks {
            task.await.expect("publisher task");
        }
    }
    let server = start(store.path());
    let client = client(&server).await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few acks to mean anything: {}",
        acked.len()
    );
    verify(&client, &acked).await;
}

/// Every acknowledged id is stored at its acknowledged sequence; no id is stored twice.
async fn verify(client: &async_nats::Client, acked: &HashMap<String, u64>) {
    let stored = read_all(client, "CRASH").await;
    let mut seen = HashSet::new();
    let mut by_id = HashMap::new();
    for (seq, _, payload) in &stored {
        assert!(seen.insert(payload.clone()), "{payload} stored twice");
        by_id.insert(payload.clone(), *seq);
    }
    for (id, seq) in acked {
        assert_eq!(
            by_id.get(id),
            Some(seq),
            "acknowledged message {id} (seq {seq}) missing after restart"
        );
    }
}

fn segments(store: &Path, stream: &str) -> Vec<PathBuf> {
    let dir = store
        .join("jetstream")
        .join("$G")
        .join("streams")
        .join(stream)
        .join("msgs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

async fn fill(server: &TestServer, stream: &str, count: usize) -> async_nats::Client {
    let client = client(server).await;
    let created = api(
        &client,
        &format!("$JS.API.STREAM.CREATE.{stream}"),
        json!({"name": stream, "subjects": [format!("{stream}.*")]}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    for i in 1..=count {
        let reply = client
            .request(
                format!("{stream}.s"),
                Bytes::from(format!("payload-{i:03}")),
            )
            .await
            .expect("ack");
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(ack["seq"], i as u64);
    }
    client
}

#[tokio::test]
async fn a_flipped_byte_is_detected_and_never_served() {
    if skip_on_reference("tern's segment layout") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    {
        let mut server = start(store.path());
        fill(&server, "FLIP", 10).await;
        server.stop();
    }
    let segment = segments(store.path(), "FLIP").pop().expect("a segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = find(&bytes, b"payload-005").expect("payload 5 on disk");
    bytes[at + 8] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();

    let server = start(store.path());
    let client = client(&server).await;
    let answer = api(&client, "$JS.API.STREAM.MSG.GET.FLIP", json!({"seq": 5})).await;
    assert!(
        answer.get("error").is_some(),
        "corrupt record served: {answer}"
    );
    for seq in [4, 6, 10] {
        let answer = api(&client, "$JS.API.STREAM.MSG.GET.FLIP", json!({"seq": seq})).await;
        assert_eq!(answer["message"]["seq"], seq, "{answer}");
    }
    let info = api(&client, "$JS.API.STREAM.INFO.FLIP", Value::Null).await;
    assert_eq!(info["state"]["messages"], 9, "{info}");
    assert_eq!(info["state"]["lost"]["msgs"], json!([5]), "{info}");
    assert!(
        server.log().contains("corrupt"),
        "corruption not logged:\n{}",
        server.log()
    );
    // The stream goes on.
    let reply = client
        .request("FLIP.s".to_string(), Bytes::from("more"))
        .await
        .unwrap();
    let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(ack["seq"], 11);
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_at_restart() {
    if skip_on_reference("tern's segment layout") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    {
        let mut server = start(store.path());
        fill(&server, "TORN", 10).await;
        server.stop();
    }
    let segment = segments(store.path(), "TORN").pop().expect("a segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let intact_len = bytes.len();
    // Half of a record appended past the end, as a crash during the write of a message
    // that was never acknowledged leaves it. (Cutting an acknowledged record instead is a
    // loss, reported as such: see torture_corruption.)
    // The segment opens with a record frame; its first 12 bytes (magic, checksum, kind,
    // length and a little more) are the start of a frame whose rest never arrived.
    let half = bytes[..12].to_vec();
    bytes.extend_from_slice(&half);
    std::fs::write(&segment, &bytes).unwrap();

    let server = start(store.path());
    let client = client(&server).await;
    let info = api(&client, "$JS.API.STREAM.INFO.TORN", Value::Null).await;
    assert_eq!(info["state"]["messages"], 10, "{info}");
    assert_eq!(info["state"]["last_seq"], 10, "{info}");
    assert!(info["state"].get("lost").is_none(), "{info}");
    assert!(server.log().contains("torn write"), "{}", server.log());
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        intact_len as u64,
        "torn tail not cut off"
    );
    let reply = client
        .request("TORN.s".to_string(), Bytes::from("again"))
        .await
        .unwrap();
    let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(ack["seq"], 11);
    let answer = api(&client, "$JS.API.STREAM.MSG.GET.TORN", json!({"seq": 11})).await;
    assert_eq!(answer["message"]["data"], "YWdhaW4=");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn deleted_messages_are_erased_from_disk_unless_no_erase() {
    if skip_on_reference("tern's segment layout") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    {
        let mut server = start(store.path());
        let client = client(&server).await;
        let created = api(
            &client,
            "$JS.API.STREAM.CREATE.ERASE",
            json!({"name": "ERASE", "subjects": ["erase"]}),
        )
        .await;
        assert!(created.get("error").is_none(), "{created}");
        for payload in ["keep-me-1", "top-secret-42", "left-in-place-7", "keep-me-2"] {
            client
                .request("erase".to_string(), Bytes::from(payload))
                .await
                .unwrap();
        }
        let erased = api(
            &client,
            "$JS.API.STREAM.MSG.DELETE.ERASE",
            json!({"seq": 2}),
        )
        .await;
        assert_eq!(erased["success"], true, "{erased}");
        let removed = api(
            &client,
            "$JS.API.STREAM.MSG.DELETE.ERASE",
            json!({"seq": 3, "no_erase": true}),
        )
        .await;
        assert_eq!(removed["success"], true, "{removed}");
        // One more write so the erase (made after the tombstone's sync) is flushed too.
        client
            .request("erase".to_string(), Bytes::from("keep-me-3"))
            .await
            .unwrap();
        server.stop();
    }
    let on_disk: Vec<u8> = segments(store.path(), "ERASE")
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(
        find(&on_disk, b"top-secret-42").is_none(),
        "erased payload still on disk"
    );
    assert!(
        find(&on_disk, b"left-in-place-7").is_some(),
        "no_erase should only unlink"
    );
    assert!(find(&on_disk, b"keep-me-2").is_some());

    let server = start(store.path());
    let client = client(&server).await;
    let info = api(&client, "$JS.API.STREAM.INFO.ERASE", Value::Null).await;
    assert_eq!(info["state"]["messages"], 3, "{info}");
    assert!(info["state"].get("lost").is_none(), "{info}");
    let gone = api(&client, "$JS.API.STREAM.MSG.GET.ERASE", json!({"seq": 2})).await;
    assert_eq!(gone["error"]["err_code"], 10037, "{gone}");
}
