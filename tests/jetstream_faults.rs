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
