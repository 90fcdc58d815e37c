//! The command line, config file, signals, monitoring and runtime files, as nats-server has
//! them.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{
    http_get, http_json, poll_until, run_binary, server_binary, Frame, RawClient, ServerBuilder,
    TestServer,
};

/// A port that was free a moment ago (the listener is closed again before it is used).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn has_semver(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|word| {
            word.split('.')
                .filter(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
                .count()
                >= 3
        })
}

#[test]
fn version_flag_prints_a_version_and_exits_zero() {
    let (status, stdout, stderr) = run_binary(&["-v"], Duration::from_secs(5));
    assert!(status.success(), "exit {status:?}; {stdout}{stderr}");
    assert!(
        has_semver(&format!("{stdout}{stderr}")),
        "no version in {stdout:?} {stderr:?}"
    );
}

#[test]
fn random_port_lets_two_servers_run_at_once() {
    let first = TestServer::start(&[]);
    let second = TestServer::start(&[]);
    assert_ne!(first.addr().port(), second.addr().port());
    for server in [&first, &second] {
        let (mut client, info) = RawClient::handshake(server.addr(), common::CONNECT_QUIET);
        assert_eq!(info["port"], server.addr().port());
        client.send("PING\r\n");
        client.expect("PONG\r\n");
    }
}

#[test]
fn monitoring_port_serves_healthz_and_varz() {
    let http_port = free_port();
    let server = TestServer::start(&["-m", &http_port.to_string()]);
    let monitor = server.monitor_addr().expect("monitor line in the log");
    assert_eq!(monitor.port(), http_port);

    let (status, body) = http_get(monitor, "/healthz");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("healthz JSON");
    assert_eq!(health, serde_json::json!({"status": "ok"}));

    let (client, info) = RawClient::handshake(server.addr(), common::CONNECT_QUIET);
    let varz = http_json(monitor, "/varz");
    assert_eq!(varz["server_id"], info["server_id"], "{varz}");
    assert_eq!(varz["port"], server.addr().port(), "{varz}");
    assert_eq!(varz["connections"], 1, "{varz}");
    drop(client);
    let closed = poll_until(Duration::from_secs(5), || {
        (http_json(monitor, "/varz")["connections"] == 0).then_some(())
    });
    assert!(closed.is_some(), "/varz connections did not drop back to 0");

    let (status, _) = http_get(monitor, "/no-such-endpoint");
    assert_eq!(status, 404);
}

#[test]
fn command_line_port_overrides_config_file_port() {
    let config_port = free_port();
    let flag_port = free_port();
    let server = TestServer::start_with_config(
        &format!("port: {config_port}\n"),
        &["-p", &flag_port.to_string()],
    );
    assert_eq!(server.addr().port(), flag_port, "log:\n{}", server.log());
}

#[test]
fn config_error_exits_non_zero_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.conf");
    // A number expected, a word found; the key is on line 2, column 3.
    std::fs::write(&path, "port: 4222\n  max_payload: abc\n").unwrap();
    let path = path.display().to_string();
    let (status, stdout, stderr) = run_binary(&["-c", &path], Duration::from_secs(5));
    assert!(
        !status.success(),
        "a bad config must fail; output {stdout}{stderr}"
    );
    let output = format!("{stdout}{stderr}");
    // nats-server (conf parser token position) points at the key, not at the value.
    assert!(
        output.contains(&format!("{path}:2:3:")),
        "want {path}:2:3: (the key's line and column, as nats-server) in {output:?}"
    );
}

#[test]
fn lame_duck_signal_sends_ldm_info_to_protocol_1_clients() {
    let builder = ServerBuilder::new();
    let pid_file = builder.dir().join("server.pid");
    let mut server = builder
        .args(&["-P", &pid_file.display().to_string()])
        .start();
    let pid_written = poll_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|t| !t.is_empty())
    });
    assert_eq!(
        pid_written.as_deref().map(str::trim),
        Some(server.pid().to_string().as_str())
    );

    let (mut modern, _) = RawClient::handshake(server.addr(), r#"{"verbose":false,"protocol":1}"#);
    let (mut original, _) =
        RawClient::handshake(server.addr(), r#"{"verbose":false,"protocol":0}"#);

    let signal = format!("ldm={}", pid_file.display());
    let (status, stdout, stderr) = run_binary(&["--signal", &signal], Duration::from_secs(5));
    assert!(
        status.success(),
        "--signal {signal} failed: {stdout}{stderr}"
    );

    let info = loop {
        match modern.read_frame() {
            Frame::Info(info) if info["ldm"] == true => break info,
            Frame::Info(_) => {}
            Frame::Ping => modern.send("PONG\r\n"),
            other => panic!("expected INFO with ldm, got {other:?}"),
        }
    };
    assert!(info["server_id"].is_string(), "{info}");
    // Protocol-0 clients never get asynchronous INFO.
    let frames = original.sync();
    assert!(
        !frames.iter().any(|f| matches!(f, Frame::Info(_))),
        "protocol 0 client got {frames:?}"
    );
    // Lame duck mode waits a grace period before shutting down; no need to wait here.
    server.kill();
}

#[test]
fn sigterm_exits_promptly_and_removes_runtime_files() {
    let builder = ServerBuilder::new();
    let pid_file = builder.dir().join("server.pid");
    let ports_dir = builder.dir().join("ports");
    std::fs::create_dir(&ports_dir).unwrap();
    let mut server = builder
        .args(&[
            "-P",
            &pid_file.display().to_string(),
            "--ports_file_dir",
            &ports_dir.display().to_string(),
        ])
        .start();
    let _client = RawClient::connected(server.addr());
    assert!(
        poll_until(Duration::from_secs(5), || pid_file.exists().then_some(())).is_some(),
        "no pid file"
    );
    let ports_file = poll_until(Duration::from_secs(5), || ports_files(&ports_dir).pop())
        .expect("no ports file");

    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(4))
        .unwrap_or_else(|| panic!("still running 4 s after SIGTERM; log:\n{}", server.log()));
    // It exits by itself (not killed by the signal). The code is not checked: nats-server
    // 2.9.10 exits 1 on SIGTERM (0 on SIGINT).
    assert!(
        status.code().is_some(),
        "exit status {status:?}; log:\n{}",
        server.log()
    );
    assert!(
        !ports_file.exists(),
        "ports file {} left behind",
        ports_file.display()
    );
    if !common::skip_on_reference("nats-server 2.9.10 leaves its pid file; tern removes it on exit")
    {
        assert!(
            !pid_file.exists(),
            "pid file {} left behind",
            pid_file.display()
        );
    }
}

fn ports_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "ports"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ports_file_dir_gets_a_ports_file_with_the_client_url() {
    let builder = ServerBuilder::new();
    let ports_dir = builder.dir().to_path_buf();
    let server = builder
        .args(&[
            "-m",
            "-1",
            "--ports_file_dir",
            &ports_dir.display().to_string(),
        ])
        .start();
    let exe = server_binary()
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let expected = ports_dir.join(format!("{exe}_{}.ports", server.pid()));
    let text = poll_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&expected)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .unwrap_or_else(|| {
        panic!(
            "no {}; found {:?}",
            expected.display(),
            ports_files(&ports_dir)
        )
    });
    let ports: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ports file not JSON ({e}): {text}"));
    assert_eq!(ports["nats"], serde_json::json!([server.url()]), "{ports}");
    let monitor = server.monitor_addr().expect("monitor address");
    assert_eq!(
        ports["monitoring"],
        serde_json::json!([format!("http://{monitor}")]),
        "{ports}"
    );
}

/// `--log_format json` (tern's own): every line is a JSON object with nats-server's level
/// tags, and the Listening line's address is in its message.
#[test]
fn json_log_lines() {
    if common::skip_on_reference("--log_format is tern's own flag") {
        return;
    }
    use std::io::BufRead;
    let binary = common::server_binary();
    let mut child = std::process::Command::new(&binary.path)
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "--cores",
            "1",
            "--log_format",
            "json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tern");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut listening = None;
    let deadline = std::time::Instant::now() + common::SERVER_START_TIMEOUT;
    while listening.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(value["level"], "INF", "{line}");
        assert!(value["pid"].as_u64().is_some(), "{line}");
        assert!(
            value["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        let message = value["msg"].as_str().unwrap_or_default().to_string();
        if let Some(addr) = message.strip_prefix("Listening for client connections on ") {
            listening = Some(addr.to_string());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let addr = listening.expect("a Listening line");
    assert!(addr.parse::<std::net::SocketAddr>().is_ok(), "{addr}");
}
