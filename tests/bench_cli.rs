//! `tern bench` end to end: a real tern server, the real binary's `bench` subcommand,
//! and its JSON checked for shape and counts.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const TERN: &str = env!("CARGO_BIN_EXE_tern");
const LISTENING: &str = "Listening for client connections on ";
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A tern server on a free loopback port, killed on drop.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(TERN)
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tern");
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            // Keeps draining stderr after the line, so the server never blocks on it.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find(LISTENING) {
                    if let Some(found) = found.take() {
                        let _ = found.send(line[at + LISTENING.len()..].trim().to_string());
                    }
                }
            }
        });
        let address = match address.recv_timeout(START_TIMEOUT) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!("tern did not log its listening address within {START_TIMEOUT:?}");
            }
        };
        Server { child, address }
    }

    fn bench(&self, args: &[&str]) -> Output {
        bench(&format!("nats://{}", self.address), args)
    }

    fn bench_json(&self, args: &[&str]) -> Value {
        bench_json(&format!("nats://{}", self.address), args)
    }
}

/// `tern bench <args> --server <url>`.
fn bench(url: &str, args: &[&str]) -> Output {
    Command::new(TERN)
        .arg("bench")
        .args(args)
        .args(["--server", url])
        .output()
        .expect("run tern bench")
}

/// [`bench`], which must succeed; its JSON.
fn bench_json(url: &str, args: &[&str]) -> Value {
    let output = bench(url, args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tern bench {args:?} failed: {stdout}\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_group(value: &Value, role: &str, clients: u64, msgs: u64) {
    let group = &value[role];
    assert_eq!(group["role"], role, "{value:#}");
    assert_eq!(group["clients"], clients, "{value:#}");
    assert_eq!(group["msgs"], msgs, "{value:#}");
    assert!(
        group["msgs_per_sec"]
            .as_f64()
            .is_some_and(|rate| rate > 0.0),
        "{value:#}"
    );
    assert!(group["mb_per_sec"].as_f64().is_some(), "{value:#}");
    for key in ["min", "avg", "max", "stddev"] {
        assert!(
            group["per_client_msgs_per_sec"][key].as_f64().is_some(),
            "{key} in {value:#}"
        );
    }
}

fn assert_latency(value: &Value, role: &str, samples: u64) {
    assert_eq!(value["latency_role"], role, "{value:#}");
    let latency = &value["latency"];
    assert_eq!(latency["samples"], samples, "{value:#}");
    let percentiles: Vec<f64> = [
        "p50_us",
        "p90_us",
        "p99_us",
        "p99_9_us",
        "p99_99_us",
        "max_us",
    ]
    .iter()
    .map(|key| {
        latency[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {value:#}"))
    })
    .collect();
    assert!(percentiles[0] > 0.0, "{value:#}");
    assert!(percentiles.windows(2).all(|w| w[0] <= w[1]), "{value:#}");
}

#[test]
fn pub_pubsub_and_req_against_tern() {
    let server = Server::start();

    let value = server.bench_json(&["pub", "--msgs", "2000", "--json"]);
    assert_eq!(value["scenario"], "pub");
    assert_eq!(value["msgs"], 2000);
    assert_group(&value, "publishers", 1, 2000);
    assert!(value["subscribers"].is_null());
    assert!(value["latency"].is_null());
    assert_eq!(value["errors"], serde_json::json!([]));

    let value = server.bench_json(&[
        "pubsub", "--msgs", "2000", "--pubs", "2", "--subs", "2", "--json",
    ]);
    assert_group(&value, "publishers", 2, 2000);
    assert_group(&value, "subscribers", 2, 4000);
    assert_eq!(value["subscribers"]["expected_msgs"], 4000, "{value:#}");
    assert_eq!(
        value["subscribers"]["lost_msgs"], 0,
        "every message arrives: {value:#}"
    );
    assert_latency(&value, "subscribers", 4000);

    let value = server.bench_json(&["req", "--msgs", "2000", "--clients", "2", "--json"]);
    assert_group(&value, "requesters", 2, 2000);
    assert_group(&value, "responders", 1, 2000);
    assert_latency(&value, "requesters", 2000);
}

#[test]
fn csv_queue_and_jetstream_errors() {
    let server = Server::start();
    let output = server.bench(&["queue", "--msgs", "1000", "--subs", "3", "--csv"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let members: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(header.len(), members.len());
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(members[column("role")], "subscribers");
    assert_eq!(members[column("clients")], "3");
    assert_eq!(
        members[column("msgs")],
        "1000",
        "the group shares the messages: {stdout}"
    );
    assert_eq!(members[column("lost_msgs")], "0");

    let output = server.bench(&["js", "consume", "--msgs", "10"]);
    assert!(!output.status.success(), "no -js: {output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("has no JetStream"),
        "{output:?}"
    );
    let output = server.bench(&["js", "pub", "--msgs", "10"]);
    assert!(!output.status.success(), "no -js: {output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("has no JetStream"),
        "{output:?}"
    );
}

/// Messages in `stream`, from a raw `$JS.API.STREAM.INFO` request.
fn stream_messages(server: &common::TestServer, stream: &str) -> u64 {
    let mut raw = common::RawClient::connected(server.addr());
    raw.send(format!(
        "SUB _INBOX.bench-cli.info 1\r\nPUB $JS.API.STREAM.INFO.{stream} _INBOX.bench-cli.info 0\r\n\r\n"
    ));
    loop {
        match raw.read_frame() {
            common::Frame::Msg(msg) => {
                let info: Value = serde_json::from_slice(&msg.payload).expect("STREAM.INFO JSON");
                return info["state"]["messages"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no state.messages in {info}"));
            }
            common::Frame::Ping => raw.send("PONG\r\n"),
            other => panic!("unexpected {other:?} while waiting for STREAM.INFO"),
        }
    }
}

fn assert_js_pub(value: &Value, publishers: u64, msgs: u64, mode: &str) {
    assert_eq!(value["scenario"], "js pub", "{value:#}");
    assert_eq!(value["msgs"], msgs, "{value:#}");
    assert_group(value, "publishers", publishers, msgs);
    assert_latency(value, "publishers", msgs);
    assert_eq!(value["errors"], serde_json::json!([]), "{value:#}");
    let js = &value["jetstream"];
    assert_eq!(js["mode"], mode, "{value:#}");
    assert_eq!(js["acked"], msgs, "{value:#}");
    assert_eq!(js["ack_errors"], 0, "{value:#}");
    assert_eq!(js["duplicates"], 0, "{value:#}");
    assert!(js["first_error"].is_null(), "{value:#}");
}

#[test]
fn js_pub_sync_and_async_against_a_jetstream_server() {
    let store = tempfile::tempdir().expect("store dir");
    let store_path = store.path().display().to_string();
    let server = common::ServerBuilder::new()
        .args(&["-js", "-sd", store_path.as_str()])
        .start();
    let url = server.url();

    let value = bench_json(&url, &["js", "pub", "--msgs", "300", "--json"]);
    assert_js_pub(&value, 1, 300, "sync");
    assert_eq!(value["jetstream"]["window"], 1);
    let stream = &value["jetstream"]["stream_info"];
    assert_eq!(stream["name"], "benchstream", "{value:#}");
    assert_eq!(stream["storage"], "file", "{value:#}");
    assert_eq!(stream["created"], true, "{value:#}");
    assert_eq!(stream["msgs_after"], 300, "{value:#}");
    assert_eq!(stream_messages(&server, "benchstream"), 300);

    // The stream exists now: it is reused, and purged first.
    let value = bench_json(
        &url,
        &[
            "js", "pub", "--async", "--window", "16", "--pubs", "2", "--msgs", "500", "--size",
            "1k", "--msg-id", "--purge", "--json",
        ],
    );
    assert_js_pub(&value, 2, 500, "async");
    assert_eq!(value["jetstream"]["window"], 16);
    let stream = &value["jetstream"]["stream_info"];
    assert_eq!(stream["created"], false, "{value:#}");
    assert_eq!(stream["purged_msgs"], 300, "{value:#}");
    assert_eq!(stream["msgs_before"], 0, "{value:#}");
    assert_eq!(stream_messages(&server, "benchstream"), 500);

    // A memory stream of its own, on another subject.
    let value = bench_json(
        &url,
        &[
            "js",
            "pub",
            "--stream",
            "MEM",
            "--storage",
            "memory",
            "--subject",
            "bench.mem",
            "--async",
            "--msgs",
            "200",
            "--json",
        ],
    );
    assert_js_pub(&value, 1, 200, "async");
    assert_eq!(value["jetstream"]["stream_info"]["storage"], "memory");
    assert_eq!(stream_messages(&server, "MEM"), 200);
    assert_eq!(stream_messages(&server, "benchstream"), 500);
}

#[test]
fn js_consume_reads_everything_in_each_mode() {
    let store = tempfile::tempdir().expect("store dir");
    let store_path = store.path().display().to_string();
    let server = common::ServerBuilder::new()
        .args(&["-js", "-sd", store_path.as_str()])
        .start();
    let url = server.url();
    for (mode, ack) in [
        ("fetch", "explicit"),
        ("fetch", "none"),
        ("push", "explicit"),
        ("push", "none"),
        ("ordered", "none"),
    ] {
        // 3000 messages of 1 KiB: past the push flow-control window (2 MiB).
        let value = bench_json(
            &url,
            &[
                "js", "consume", "--mode", mode, "--ack", ack, "--msgs", "3000", "--size", "1k",
                "--batch", "256", "--json",
            ],
        );
        assert_eq!(value["msgs"], 3000, "{mode} {ack}: {value:#}");
        assert_eq!(value["mode"], mode);
        assert_eq!(value["ack"], ack);
        assert!(value["msgs_per_sec"].as_f64().unwrap() > 0.0, "{value:#}");
        if mode == "fetch" {
            assert!(
                value["requests"].as_u64().unwrap() >= 3000 / 256,
                "{value:#}"
            );
        } else {
            assert!(
                value["flow_control_replies"].as_u64().unwrap() >= 1,
                "3 MiB through a push consumer asks for flow control: {value:#}"
            );
        }
    }
}
