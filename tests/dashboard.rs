//! The live dashboard at `/`, opened in headless Chromium (Debian's `chromium` package, or
//! the binary named by `TERN_CHROMIUM`): the page's script must have filled in live values
//! from `/varz` and `/coresz`, and a screenshot is kept under the target directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{RawClient, TestServer};

/// How long one Chromium run may take (it normally needs 3-5 s).
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

fn chromium() -> PathBuf {
    let named = std::env::var_os("TERN_CHROMIUM").map(PathBuf::from);
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")]);
    named
        .into_iter()
        .chain([PathBuf::from("/usr/bin/chromium")])
        .chain(on_path)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed for the dashboard test and was not found \
                 (looked at $TERN_CHROMIUM, /usr/bin/chromium, chromium and chromium-browser on \
                 PATH). Install it with: apt-get install -y chromium"
            )
        })
}

/// Runs Chromium headless on `url` with `mode` (`--dump-dom` or `--screenshot=...`) and a
/// fresh profile; returns its stdout.
fn run_chromium(url: &str, mode: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = tempfile::NamedTempFile::new().expect("stdout file");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1200,900",
            // Virtual time runs the page's 1 s refresh several times without waiting for it.
            "--virtual-time-budget=5000",
            mode,
            url,
        ])
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("stdout file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {mode} {url} did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium {mode} exited with {status}");
    std::fs::read_to_string(out.path()).expect("chromium output")
}

/// The text of the element with this id in a serialized DOM (no nested tags expected).
fn element_text<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let open_end = at + dom[at..].find('>')? + 1;
    let close = open_end + dom[open_end..].find('<')?;
    Some(&dom[open_end..close])
}

#[test]
fn dashboard_shows_live_figures_in_headless_chromium() {
    if common::skip_on_reference("the dashboard is tern's own") {
        return;
    }
    let server = TestServer::start(&["-m", "-1"]);
    let monitor = server.monitor_addr().expect("monitor address");
    let url = format!("http://{monitor}/");

    // Two connections and a little traffic while the page watches.
    let mut subscriber = RawClient::connected(server.addr());
    subscriber.send("SUB dash 1\r\n");
    subscriber.sync();
    let mut publisher = RawClient::connected(server.addr());
    publisher.sync();
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                publisher.send("PUB dash 5\r\nhello\r\n".repeat(50));
                std::thread::sleep(Duration::from_millis(20));
            }
            publisher
        })
    };
    let draining = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            subscriber
                .stream()
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                let _ = std::io::Read::read(&mut subscriber.stream(), &mut buf);
            }
            subscriber
        })
    };

    let dom = run_chromium(&url, "--dump-dom");
    assert_eq!(
        element_text(&dom, "connections"),
        Some("2"),
        "the page's script did not fill in the connection count; DOM:\n{dom}"
    );
    assert_eq!(element_text(&dom, "status"), Some("live"), "DOM:\n{dom}");
    let updates: u32 = element_text(&dom, "updates")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    assert!(
        updates >= 2,
        "the page refreshed {updates} times; DOM:\n{dom}"
    );
    assert_eq!(element_text(&dom, "subscriptions"), Some("1"));
    assert!(
        dom.contains("data-core=\"0\"") && dom.contains("data-core=\"1\""),
        "one row per core; DOM:\n{dom}"
    );
    assert!(
        !dom.contains("src=\"http") && !dom.contains("<link"),
        "the page loads nothing from elsewhere"
    );

    let shot_dir = tempfile::tempdir().expect("screenshot dir");
    let shot = shot_dir.path().join("dashboard.png");
    run_chromium(&url, &format!("--screenshot={}", shot.display()));
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a {} byte screenshot is blank",
        png.len()
    );
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::copy(&shot, &kept).expect("keep the screenshot");
    println!("dashboard screenshot: {}", kept.display());
    eprintln!("dashboard screenshot: {}", kept.display());

    stop.store(true, Ordering::Relaxed);
    drop(publishing.join());
    drop(draining.join());
}
/// Sends one request on `client` (subscribed to `_INBOX.dash.*`) and returns the answer.
fn request(client: &mut RawClient, id: u32, subject: &str, body: &str) -> serde_json::Value {
    let reply = format!("_INBOX.dash.{id}");
    client.send(format!(
        "PUB {subject} {reply} {}\r\n{body}\r\n",
        body.len()
    ));
    loop {
        match client.read_frame() {
            common::Frame::Msg(msg) if msg.subject == reply => {
                return serde_json::from_slice(&msg.payload).expect("JSON answer")
            }
            common::Frame::Ping => client.send("PONG\r\n"),
            other => panic!("{subject}: expected the answer, got {other:?}"),
        }
    }
}

#[test]
fn dashboard_lists_jetstream_streams() {
    if common::skip_on_reference("the dashboard is tern's own") {
        return;
    }
    let store = tempfile::tempdir().expect("store dir");
    let server = TestServer::start(&[
        "-m",
        "-1",
        "-js",
        "-sd",
        &store.path().display().to_string(),
    ]);
    let monitor = server.monitor_addr().expect("monitor address");
    let mut client = RawClient::connected(server.addr());
    client.send("SUB _INBOX.dash.* 1\r\n");
    client.sync();
    let created = request(
        &mut client,
        1,
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"],"storage":"file"}"#,
    );
    assert!(created.get("error").is_none(), "{created}");
    for id in 2..5 {
        let ack = request(&mut client, id, "orders.new", "an order");
        assert_eq!(ack["stream"], "ORDERS", "{ack}");
    }

    let dom = run_chromium(&format!("http://{monitor}/"), "--dump-dom");
    assert_eq!(
        element_text(&dom, "stream-count"),
        Some("1"),
        "the page did not count the stream; DOM:\n{dom}"
    );
    assert!(
        dom.contains("<td>ORDERS</td><td>$G</td><td>3</td>"),
        "the streams table has no row for ORDERS with its 3 messages; DOM:\n{dom}"
    );
    assert_eq!(element_text(&dom, "status"), Some("live"), "DOM:\n{dom}");
}
