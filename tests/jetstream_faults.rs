//! A full disk: publishers get errors (never an ack for data not on disk), core NATS keeps
//! working, and the stream recovers by itself once space is back.
//!
//! The store lives on a small tmpfs mounted for the test (needs root, as CI runs; the
//! test says so and fails otherwise).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

const TMPFS_BYTES: usize = 2 * 1024 * 1024;
const FILLER_BYTES: usize = 1024 * 1024;
const MESSAGE_BYTES: usize = 4096;

/// A tmpfs mounted at a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when a tmpfs cannot be mounted here (not root, no mount namespace rights).
    fn try_mount(bytes: usize) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    fn mount(bytes: usize) -> SmallDisk {
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed ({status}): this test needs root (CI runs as root)"
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn api(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    json_request(client, subject, body).await
}

#[tokio::test]
async fn a_full_disk_refuses_publishes_and_recovers_when_space_returns() {
    if skip_on_reference("tern's behaviour on a full disk is what is specified here") {
        return;
    }
    let disk = SmallDisk::mount(TMPFS_BYTES);
    let filler: PathBuf = disk.path().join("filler");
    std::fs::write(&filler, vec![7u8; FILLER_BYTES]).expect("filler file");
    let store = disk.path().join("store");
    // A storage limit far above the disk's size, so the disk runs out first (by default
    // tern, like nats-server, caps storage at 75% of the free space it finds at start).
    let config = format!(
        "jetstream {{ store_dir: {:?}, max_file_store: 1G }}",
        store.display().to_string()
    );
    let server = ServerBuilder::new().config(&config).start();
    let client = client(&server).await;
    let created = api(
        &client,
        "$JS.API.STREAM.CREATE.FULL",
        json!({"name": "FULL", "subjects": ["full"]}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");

    // Publish until the disk is full: every answer is an ack or an error, never silence.
    let payload = Bytes::from(vec![b'x'; MESSAGE_BYTES]);
    let mut acked = Vec::new();
    let mut refused = None;
    for _ in 0..(TMPFS_BYTES / MESSAGE_BYTES) * 2 {
        let reply = tokio::time::timeout(
            CLIENT_RECV_TIMEOUT,
            client.request("full".to_string(), payload.clone()),
        )
        .await
        .expect("an answer, not silence")
        .expect("request");
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        match ack["seq"].as_u64() {
            Some(seq) if ack.get("error").is_none() => acked.push(seq),
            _ => {
                refused = Some(ack);
                break;
            }
        }
    }
    let refused = refused.expect("the disk never filled up");
    assert_eq!(refused["error"]["err_code"], 10077, "{refused}");
    assert!(
        !acked.is_empty(),
        "nothing was stored before the disk filled"
    );

    // Core NATS is unaffected.
    let mut sub = client.subscribe("core.still.works").await.unwrap();
    client
        .publish("core.still.works", Bytes::from("yes"))
        .await
        .unwrap();
    let message = recv(&mut sub).await;
    assert_eq!(message.payload, Bytes::from("yes"));

    // Space comes back: publishes succeed again without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let seq = loop {
        let reply = client
            .request("full".to_string(), Bytes::from("after"))
            .await
            .expect("request");
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        if ack.get("error").is_none() {
            break ack["seq"].as_u64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "still refused after space returned: {ack}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(seq > *acked.last().unwrap());

    // Every acknowledged message is still there.
    for seq in &acked {
        let answer = api(
            &client,
            "$JS.API.STREAM.MSG.GET.FULL",
            json!({ "seq": seq }),
        )
        .await;
        assert_eq!(
            answer["message"]["seq"], *seq,
            "acked seq {seq} lost: {answer}"
        );
    }
    assert!(
        server.log().contains("write failed"),
        "the failure was not logged:\n{}",
        server.log()
    );
}

/// One publisher's outcome: what was acknowledged (stream seq, payload id) and how many
/// publishes were refused with a JetStream error.
#[derive(Default)]
struct Published {
    acked: Vec<(u64, String)>,
    refused: usize,
}

/// Publishes 4 KiB messages with unique ids to `subject` until `refusals` of them were
/// refused. Every publish gets an answer, an ack or a JetStream error, never silence.
async fn publish_until_refused(
    client: async_nats::Client,
    subject: String,
    refusals: usize,
) -> Published {
    let mut out = Published::default();
    let filler = "x".repeat(MESSAGE_BYTES);
    for n in 0..10_000 {
        let id = format!("{subject}-{n}");
        let reply = tokio::time::timeout(
            scaled(CLIENT_RECV_TIMEOUT),
            client.request(subject.clone(), Bytes::from(format!("{id} {filler}"))),
        )
        .await
        .expect("an answer, not silence")
        .expect("request");
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        match ack["seq"].as_u64() {
            Some(seq) if ack.get("error").is_none() => out.acked.push((seq, id)),
            _ => {
                assert_eq!(ack["error"]["err_code"], 10077, "{ack}");
                out.refused += 1;
                if out.refused >= refusals {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    out
}

/// The id at the start of a stored payload.
fn id_of(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    text.split(' ').next().unwrap_or_default().to_string()
}

/// Beyond the single publisher above: two file streams, four concurrent publishers and a
/// durable consumer fill the disk; core NATS keeps carrying a steady stream of messages
/// meanwhile; tern is restarted while the disk is still full (recovery on a full disk);
/// when space returns every stream takes publishes again by itself, every acknowledged
/// message is stored at its acknowledged sequence, and the consumer delivers all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_concurrent_load_loses_nothing_acknowledged_across_a_restart() {
    if skip_on_reference("tern's behaviour on a full disk is what is specified here") {
        return;
    }
    let Some(disk) = SmallDisk::try_mount(TMPFS_BYTES) else {
        eprintln!("SKIPPED: can not mount a tmpfs here (needs root)");
        return;
    };
    let filler: PathBuf = disk.path().join("filler");
    std::fs::write(&filler, vec![7u8; FILLER_BYTES]).expect("filler file");
    let store = disk.path().join("store");
    let config = format!(
        "jetstream {{ store_dir: {:?}, max_file_store: 1G }}",
        store.display().to_string()
    );
    let mut server = ServerBuilder::new().config(&config).start();
    let nats = client(&server).await;
    for name in ["FA", "FB"] {
        let created = api(
            &nats,
            &format!("$JS.API.STREAM.CREATE.{name}"),
            json!({"name": name, "subjects": [format!("{name}.*")]}),
        )
        .await;
        assert!(created.get("error").is_none(), "{created}");
    }
    let consumer = api(
        &nats,
        "$JS.API.CONSUMER.CREATE.FA.C",
        json!({"stream_name": "FA", "config": {"durable_name": "C", "ack_policy": "explicit"}}),
    )
    .await;
    assert!(consumer.get("error").is_none(), "{consumer}");

    // Core traffic all along: a subscriber counts what a publisher sends meanwhile.
    let mut core_sub = nats.subscribe("core.during").await.unwrap();
    let core_nats = nats.clone();
    let core = tokio::spawn(async move {
        let mut sent = 0u64;
        for _ in 0..200 {
            core_nats
                .publish("core.during", Bytes::from_static(b"c"))
                .await
                .unwrap();
            sent += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sent
    });
    let publishers: Vec<_> = ["FA.1", "FA.2", "FB.1", "FB.2"]
        .into_iter()
        .map(|subject| tokio::spawn(publish_until_refused(nats.clone(), subject.to_string(), 3)))
        .collect();
    let mut outcomes = Vec::new();
    for publisher in publishers {
        outcomes.push(publisher.await.unwrap());
    }
    let sent = core.await.unwrap();
    for n in 0..sent {
        let message = recv(&mut core_sub).await;
        assert_eq!(
            message.payload,
            Bytes::from_static(b"c"),
            "core message {n}"
        );
    }
    let acked_total: usize = outcomes.iter().map(|o| o.acked.len()).sum();
    assert!(acked_total > 0, "nothing stored before the disk filled");
    assert!(outcomes.iter().all(|o| o.refused >= 3));

    // A restart while the disk is still full: recovery must not need space it lacks.
    drop(nats);
    server.stop();
    let mut server = ServerBuilder::new().config(&config).start();
    let nats = client(&server).await;
    for name in ["FA", "FB"] {
        let info = api(&nats, &format!("$JS.API.STREAM.INFO.{name}"), Value::Null).await;
        assert!(info.get("error").is_none(), "{name} after restart: {info}");
    }

    // Space returns: every stream takes publishes again by itself.
    std::fs::remove_file(&filler).unwrap();
    for subject in ["FA.after", "FB.after"] {
        let deadline = Instant::now() + scaled(Duration::from_secs(15));
        loop {
            let reply = nats
                .request(subject.to_string(), Bytes::from("after after"))
                .await
                .expect("request");
            let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
            if ack.get("error").is_none() {
                break;
            }
            assert!(Instant::now() < deadline, "{subject} still refused: {ack}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Every acknowledged message at its acknowledged sequence.
    let subjects = ["FA.1", "FA.2", "FB.1", "FB.2"];
    for (subject, outcome) in subjects.iter().zip(&outcomes) {
        let stream = &subject[..2];
        for (seq, id) in &outcome.acked {
            let answer = api(
                &nats,
                &format!("$JS.API.STREAM.MSG.GET.{stream}"),
                json!({ "seq": seq }),
            )
            .await;
            let data = answer["message"]["data"]
                .as_str()
                .unwrap_or_else(|| panic!("acked {id} at {stream} seq {seq} lost: {answer}"));
            use base64::Engine;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            assert_eq!(&id_of(&payload), id, "{stream} seq {seq}");
        }
    }

    // The consumer delivers every acknowledged message of FA, in order.
    let mut want: Vec<u64> = outcomes[..2]
        .iter()
        .flat_map(|o| o.acked.iter().map(|(seq, _)| *seq))
        .collect();
    want.sort_unstable();
    let inbox = nats.new_inbox();
    let mut pulled = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply(
        "$JS.API.CONSUMER.MSG.NEXT.FA.C",
        inbox,
        Bytes::from(json!({"batch": want.len() + 10, "no_wait": true}).to_string()),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    loop {
        let message = recv(&mut pulled).await;
        let Some(reply) = message.reply.as_ref() else {
            break; // the status that ends a no_wait batch
        };
        // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>....
        let seq: u64 = reply.split('.').nth(5).unwrap().parse().unwrap();
        got.push(seq);
    }
    let got_acked: Vec<u64> = got.iter().copied().filter(|s| want.contains(s)).collect();
    assert_eq!(got_acked, want, "consumer delivered {got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
    eprintln!(
        "disk full: {acked_total} acknowledged, {} refused, {sent} core messages through, \
         {} delivered by the consumer after a restart on the full disk",
        outcomes.iter().map(|o| o.refused).sum::<usize>(),
        got.len()
    );
    server.stop();
}
