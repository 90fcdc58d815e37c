//! `tern kv` and `tern object` end to end: the real binary against a server (tern, or the
//! reference with `TERN_TEST_SERVER=/usr/sbin/nats-server`), checked through its output
//! and exit codes, and across clients (what the CLI writes, async-nats reads).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TERN: &str = env!("CARGO_BIN_EXE_tern");
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

fn js_server(extra: &[&str]) -> TestServer {
    let builder = ServerBuilder::new();
    let store = builder.dir().join("js").display().to_string();
    let mut args = vec!["-js", "-sd", store.as_str()];
    args.extend_from_slice(extra);
    builder.args(&args).start()
}

/// Runs `tern <args>` with `stdin`; (success, stdout, stderr).
fn tern(args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(TERN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tern");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        assert!(
            started.elapsed() < CLI_TIMEOUT,
            "tern {args:?} did not exit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = waiter.join().unwrap().expect("tern output");
    writer.join().unwrap();
    (
        output.status.success(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = tern(args, b"");
    assert!(success, "tern {args:?} failed: {err}");
    String::from_utf8(out).unwrap()
}

fn fails(args: &[&str]) -> String {
    let (success, out, err) = tern(args, b"");
    assert!(
        !success,
        "tern {args:?} succeeded: {}",
        String::from_utf8_lossy(&out)
    );
    err
}

#[test]
fn kv_commands() {
    let server = js_server(&[]);
    let url = server.url();
    let kv = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["kv".to_string(), "--server".to_string(), url.clone()];
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    };
    let run = |rest: &[&str]| ok(&kv(rest).iter().map(String::as_str).collect::<Vec<_>>());
    let fail = |rest: &[&str]| fails(&kv(rest).iter().map(String::as_str).collect::<Vec<_>>());

    let added = run(&["add", "cfg", "--history", "3", "--ttl", "1h"]);
    assert!(added.contains("History Kept: 3"), "{added}");
    assert!(added.contains("Maximum Age: 1h0m0s"), "{added}");
    run(&["put", "cfg", "a", "one"]);
    run(&["put", "cfg", "a", "two"]);
    run(&["put", "cfg", "b", "bee"]);
    // From standard input.
    let (success, _, err) = tern(
        &kv(&["put", "cfg", "c"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        b"from stdin",
    );
    assert!(success, "{err}");
    assert_eq!(run(&["get", "cfg", "a", "--raw"]), "two");
    assert_eq!(run(&["get", "cfg", "c", "--raw"]), "from stdin");
    let shown = run(&["get", "cfg", "a"]);
    assert!(
        shown.starts_with("cfg > a revision: 2 created @ "),
        "{shown}"
    );
    assert_eq!(run(&["get", "cfg", "a", "--revision", "1", "--raw"]), "one");

    let history = run(&["history", "cfg", "a"]);
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(
        rows[0].trim_start().starts_with("1  PUT") && rows[0].ends_with("one"),
        "{history}"
    );

    // Compare-and-set.
    assert!(fail(&["create", "cfg", "a", "x"]).contains("exists"));
    assert!(fail(&["update", "cfg", "a", "x", "1"]).contains("wrong last sequence: 2"));
    assert_eq!(run(&["update", "cfg", "a", "three", "2"]).trim(), "5");

    run(&["del", "cfg", "b"]);
    assert!(fail(&["get", "cfg", "b"]).contains("key not found"));
    assert!(run(&["create", "cfg", "b", "again"])
        .trim()
        .parse::<u64>()
        .is_ok());
    run(&["purge", "cfg", "c"]);
    assert_eq!(run(&["ls", "cfg"]), "a\nb\n");
    assert_eq!(run(&["ls"]), "cfg\n");

    let watched = run(&["watch", "cfg", "--count", "2"]);
    assert!(watched.contains("PUT cfg > a: three"), "{watched}");
    assert!(watched.contains("PUT cfg > b: again"), "{watched}");

    let status = run(&["status", "cfg"]);
    assert!(status.contains("Backing Stream: KV_cfg"), "{status}");
    assert!(fail(&["get", "nope", "a"]).contains("bucket nope not found"));
    assert!(fail(&["put", "cfg", ".bad", "x"]).contains("invalid key"));
    run(&["rm", "cfg"]);
    assert_eq!(run(&["ls"]), "");
}

#[test]
fn object_commands() {
    let server = js_server(&[]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let input = input.display().to_string();
    let output = dir.path().join("out.bin").display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["object".to_string(), "--server".to_string(), url.clone()];
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    };
    let run = |rest: &[&str]| ok(&args(rest).iter().map(String::as_str).collect::<Vec<_>>());
    let fail = |rest: &[&str]| fails(&args(rest).iter().map(String::as_str).collect::<Vec<_>>());

    run(&["add", "files"]);
    let put = run(&["put", "files", &input, "--name", "data.bin"]);
    assert!(put.contains("Size: 1000003"), "{put}");
    assert!(put.contains("Chunks: 8"), "{put}");
    run(&["get", "files", "data.bin", "-O", &output]);
    assert!(std::fs::read(&output).unwrap() == data, "object differs");
    // Replacing an object keeps one copy of its chunks.
    run(&["put", "files", &input, "--name", "data.bin"]);
    let (success, _, err) = tern(
        &args(&["put", "files", "-", "--name", "small"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        b"tiny",
    );
    assert!(success, "{err}");
    let (success, out, err) = tern(
        &args(&["get", "files", "small"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        b"",
    );
    assert!(success, "{err}");
    assert_eq!(out, b"tiny");
    let listed = run(&["ls", "files"]);
    let names: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["data.bin", "small"], "{listed}");
    let info = run(&["info", "files", "data.bin"]);
    assert!(info.contains("Digest: SHA-256="), "{info}");
    run(&["del", "files", "small"]);
    assert!(fail(&["get", "files", "small"]).contains("object not found"));
    assert!(fail(&["get", "nope", "x"]).contains("bucket nope not found"));
    run(&["rm", "files"]);
}

/// What the CLI stores, the official client reads (and the other way round).
#[tokio::test]
async fn cli_and_async_nats_share_buckets() {
    if skip_on_reference("async-nats 0.51 can not parse 2.9.10's KV stream-create answer") {
        return;
    }
    use tokio::io::AsyncReadExt;
    let server = js_server(&[]);
    let url = server.url();
    let context = async_nats::jetstream::new(client(&server).await);
    let cli = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let args = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["--server".to_string(), url.clone()];
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    };
    let with = |kind: &str, rest: &[&str]| {
        let mut all = vec![kind.to_string()];
        all.extend(args(rest));
        all
    };
    cli(with("kv", &["add", "shared", "--history", "2"]))
        .await
        .unwrap();
    cli(with("kv", &["put", "shared", "k", "from-cli"]))
        .await
        .unwrap();
    let kv = context.get_key_value("shared").await.unwrap();
    assert_eq!(kv.get("k").await.unwrap(), Some("from-cli".into()));
    kv.put("j", "from-async-nats".into()).await.unwrap();
    let read = cli(with("kv", &["get", "shared", "j", "--raw"]))
        .await
        .unwrap();
    assert_eq!(read, "from-async-nats");

    cli(with("object", &["add", "objs"])).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 13) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let path = path.display().to_string();
    cli(with("object", &["put", "objs", &path, "--name", "f"]))
        .await
        .unwrap();
    let bucket = context.get_object_store("objs").await.unwrap();
    let mut object = bucket
        .get("f")
        .await
        .expect("async-nats reads the CLI's object");
    let mut read = Vec::new();
    object.read_to_end(&mut read).await.unwrap();
    assert!(read == data);
    bucket
        .put("g", &mut b"from async-nats".as_slice())
        .await
        .unwrap();
    let got = cli(with("object", &["get", "objs", "g"])).await.unwrap();
    assert_eq!(got, "from async-nats");
}

#[test]
fn credentials_are_used() {
    let server = js_server(&["--user", "u", "--pass", "p"]);
    let url = server.url();
    let err = fails(&["kv", "--server", &url, "ls"]);
    assert!(err.to_lowercase().contains("authorization"), "{err}");
    ok(&[
        "kv",
        "--server",
        &url,
        "--user",
        "u",
        "--password",
        "p",
        "ls",
    ]);
    let with_url = url.replace("nats://", "nats://u:p@");
    ok(&["kv", "--server", &with_url, "ls"]);
}

/// `tern bench kv put|get` against a server: both report successful operations.
#[test]
fn bench_kv_puts_and_gets() {
    let server = js_server(&[]);
    let url = server.url();
    for op in ["put", "get"] {
        let out = ok(&[
            "bench",
            "kv",
            op,
            "--server",
            &url,
            "--duration",
            "300ms",
            "--keys",
            "20",
            "--clients",
            "2",
            "--json",
        ]);
        let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
        assert!(report["ops"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["errors"], 0, "{report}");
        assert_eq!(report["op"], op);
    }
    let err = fails(&["bench", "kv", "put", "--server", &url, "--clients", "0"]);
    assert!(err.contains("--clients must be"), "{err}");
}
