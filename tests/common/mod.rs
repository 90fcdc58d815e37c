//! Black-box test harness: start a server process, talk to it over TCP.
//!
//! The server under test is tern (`CARGO_BIN_EXE_tern`, or `TERN_TEST_BINARY` when the
//! tests are built outside the tern package) unless `TERN_TEST_SERVER` names another
//! binary, normally the reference `nats-server`. Every test runs unchanged against both;
//! a test of a deliberate tern difference calls [`skip_on_reference`] and returns early.
//!
//! Every wait is bounded: a broken server fails a test, it never hangs one.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod jwt;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a server may take to log its Listening line.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped server may take to exit after SIGTERM before it gets SIGKILL.
pub const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound for any single expected reply on a raw connection.
pub const RAW_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound for any single receive through async-nats.
pub const CLIENT_RECV_TIMEOUT: Duration = Duration::from_secs(10);

const LISTENING: &str = "Listening for client connections on ";
const MONITOR: &str = "Starting http monitor on ";

// ---------------------------------------------------------------------------------------
// Which server
// ---------------------------------------------------------------------------------------

/// The binary under test and whether it is tern.
pub struct ServerBinary {
    pub path: PathBuf,
    pub is_tern: bool,
}

pub fn server_binary() -> ServerBinary {
    if let Some(path) = non_empty_env("TERN_TEST_SERVER") {
        let path = PathBuf::from(path);
        let is_tern = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("tern"));
        return ServerBinary { path, is_tern };
    }
    let tern = option_env!("CARGO_BIN_EXE_tern")
        .map(str::to_string)
        .or_else(|| non_empty_env("TERN_TEST_BINARY"))
        .expect("no server binary: build inside the tern package, or set TERN_TEST_BINARY=<tern> or TERN_TEST_SERVER=<nats-server>");
    ServerBinary {
        path: PathBuf::from(tern),
        is_tern: true,
    }
}

/// The reference nats-server, for tests that run it side by side with tern
/// (`NATS_SERVER_BIN`, else `nats-server` on the PATH or in /usr/sbin). `.ci/run` installs
/// Debian's package; a missing binary fails the test with the command that fixes it.
pub fn reference_binary() -> ServerBinary {
    let candidates = non_empty_env("NATS_SERVER_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("nats-server"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .chain([
            PathBuf::from("/usr/sbin/nats-server"),
            PathBuf::from("/usr/bin/nats-server"),
        ]);
    for path in candidates {
        if path.is_file() {
            return ServerBinary {
                path,
                is_tern: false,
            };
        }
    }
    panic!(
        "nats-server is not installed: `apt-get install -y nats-server` (or set NATS_SERVER_BIN)"
    )
}

/// `timeout` times `TERN_TEST_TIMEOUT_SCALE` (default 1): long torture runs at idle CPU
/// priority on a busy machine can be starved for longer than the usual bounds.
pub fn scaled(timeout: Duration) -> Duration {
    let scale = non_empty_env("TERN_TEST_TIMEOUT_SCALE")
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    timeout * scale
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// True when the tests run against the reference server instead of tern.
pub fn is_reference() -> bool {
    !server_binary().is_tern
}

/// For tests of deliberate tern differences: returns true (and says why) when running
/// against the reference server, so the test can return early.
pub fn skip_on_reference(reason: &str) -> bool {
    if is_reference() {
        eprintln!("SKIPPED against the reference server: {reason}");
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------------------

/// Captured stdout+stderr of a child process, with a condition variable so waiters need
/// not poll.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<(Mutex<LogState>, Condvar)>,
}

#[derive(Default)]
struct LogState {
    text: String,
    streams_opened: usize,
    streams_closed: usize,
}

impl Log {
    fn drain(&self, mut source: impl Read + Send + 'static) {
        self.inner.0.lock().unwrap().streams_opened += 1;
        let log = self.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match source.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let (lock, cvar) = &*log.inner;
                        lock.lock()
                            .unwrap()
                            .text
                            .push_str(&String::from_utf8_lossy(&chunk[..n]));
                        cvar.notify_all();
                    }
                }
            }
            let (lock, cvar) = &*log.inner;
            lock.lock().unwrap().streams_closed += 1;
            cvar.notify_all();
        });
    }

    pub fn text(&self) -> String {
        self.inner.0.lock().unwrap().text.clone()
    }

    /// Waits until `found` returns Some for the log text, or all streams closed, or timeout.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut found: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(value) = found(&state.text) {
                return Some(value);
            }
            let now = Instant::now();
            if now >= deadline || state.streams_closed == state.streams_opened {
                return None;
            }
            state = cvar.wait_timeout(state, deadline - now).unwrap().0;
        }
    }
}

/// Starts a server: `ServerBuilder::new().config("...").args(&[...]).start()`.
pub struct ServerBuilder {
    dir: tempfile::TempDir,
    config: Option<String>,
    args: Vec<String>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    pub fn new() -> ServerBuilder {
        ServerBuilder {
            dir: tempfile::tempdir().expect("create temp dir"),
            config: None,
            args: Vec::new(),
        }
    }

    /// A scratch directory that lives as long as the server (for pid files, ports files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Config file text, written to `<dir>/server.conf` and passed with `-c`.
    pub fn config(mut self, text: &str) -> ServerBuilder {
        self.config = Some(text.to_string());
        self
    }

    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> ServerBuilder {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// The full command line (without the program): defaults first, then the test's own
    /// arguments. A default is left out when the test gives that flag itself, so no flag
    /// appears twice.
    pub fn command_line(&self, binary: &ServerBinary) -> Vec<String> {
        let given = |names: &[&str]| self.args.iter().any(|a| names.contains(&a.as_str()));
        let mut line = Vec::new();
        if !given(&["-a", "--addr", "-addr", "--net", "-net"]) {
            line.extend(["-a".to_string(), "127.0.0.1".to_string()]);
        }
        if !given(&["-p", "--port", "-port"]) {
            line.extend(["-p".to_string(), "-1".to_string()]);
        }
        if binary.is_tern && !given(&["--cores", "-cores"]) {
            line.extend(["--cores".to_string(), "2".to_string()]);
        }
        if let Some(text) = &self.config {
            let path = self.dir.path().join("server.conf");
            std::fs::write(&path, text).expect("write config file");
            line.extend(["-c".to_string(), path.display().to_string()]);
        }
        line.extend(self.args.iter().cloned());
        line
    }

    /// Starts the server and waits for its Listening line; panics with the log if it does
    /// not come within [`SERVER_START_TIMEOUT`].
    pub fn start(self) -> TestServer {
        match self.try_start() {
            Ok(server) => server,
            Err(message) => panic!("{message}"),
        }
    }

    pub fn try_start(self) -> Result<TestServer, String> {
        self.try_start_binary(server_binary())
    }

    /// Starts the reference nats-server (see [`reference_binary`]) with these arguments.
    pub fn start_reference(self) -> TestServer {
        match self.try_start_binary(reference_binary()) {
            Ok(server) => server,
            Err(message) => panic!("{message}"),
        }
    }

    fn try_start_binary(self, binary: ServerBinary) -> Result<TestServer, String> {
        let line = self.command_line(&binary);
        let mut child = Command::new(&binary.path)
            .args(&line)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("can not start {}: {e}", binary.path.display()))?;
        let log = Log::default();
        log.drain(child.stdout.take().expect("piped stdout"));
        log.drain(child.stderr.take().expect("piped stderr"));
        let mut server = TestServer {
            child: Some(child),
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
            is_tern: binary.is_tern,
            dir: self.dir,
        };
        let addr = server.log.wait_for(scaled(SERVER_START_TIMEOUT), |text| {
            address_after(text, LISTENING)
        });
        match addr {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => {
                let status = server.stop();
                Err(format!(
                    "server {} {:?} did not log {LISTENING:?} within {SERVER_START_TIMEOUT:?} (exit: {status:?}); log:\n{}",
                    binary.path.display(),
                    line,
                    server.log()
                ))
            }
        }
    }
}

/// Finds `marker` followed by `host:port` in a log.
fn address_after(text: &str, marker: &str) -> Option<SocketAddr> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find(|c: char| c.is_whitespace())?; // the whole line must have arrived
    rest[..end].parse().ok()
}

/// A running server process on a random port, killed on drop.
pub struct TestServer {
    child: Option<Child>,
    addr: SocketAddr,
    log: Log,
    is_tern: bool,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// `-a 127.0.0.1 -p -1` (+ `--cores 2` for tern) and `extra_args`.
    pub fn start(extra_args: &[&str]) -> TestServer {
        ServerBuilder::new().args(extra_args).start()
    }

    /// As [`TestServer::start`], with `config` written to a file and passed with `-c`.
    pub fn start_with_config(config: &str, extra_args: &[&str]) -> TestServer {
        ServerBuilder::new().config(config).args(extra_args).start()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    pub fn is_tern(&self) -> bool {
        self.is_tern
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.log
            .wait_for(timeout, |text| text.contains(needle).then_some(()))
            .is_some()
    }

    /// The scratch directory given to the builder (lives as long as the server).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The monitoring address from the `Starting http monitor on` line, if any (an
    /// unspecified listen address is dialled on loopback). The line comes before the
    /// Listening line, so there is no waiting.
    pub fn monitor_addr(&self) -> Option<SocketAddr> {
        let mut addr = address_after(&self.log(), MONITOR)?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Some(addr)
    }

    /// SIGKILL at once (for a server in a state where a graceful stop takes long).
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe { libc::kill(pid, signal) };
    }

    /// Exit status if the process has exited (reaps it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait up to [`SERVER_STOP_TIMEOUT`], then SIGKILL. Returns the exit status
    /// and whether it exited on SIGTERM alone.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        self.signal(libc::SIGTERM);
        if let Some(status) = self.wait_exit(SERVER_STOP_TIMEOUT) {
            return Some(status);
        }
        let child = self.child.as_mut()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        self.child = None;
    }
}

/// Runs the server binary with `args` only (no defaults) to completion, with a timeout.
/// Returns (exit status, stdout, stderr).
pub fn run_binary(args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    let binary = server_binary();
    let mut child = Command::new(&binary.path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server binary");
    let out = Log::default();
    let err = Log::default();
    out.drain(child.stdout.take().unwrap());
    err.drain(child.stderr.take().unwrap());
    // Returns once the stream closed (at exit) or after the timeout.
    let drained = |log: &Log| log.wait_for(Duration::from_secs(2), |_| None::<()>);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} did not exit within {timeout:?}; output:\n{}{}",
                binary.path.display(),
                out.text(),
                err.text()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drained(&out);
    drained(&err);
    (status, out.text(), err.text())
}

// ---------------------------------------------------------------------------------------
// Raw protocol client
// ---------------------------------------------------------------------------------------

/// The CONNECT most raw tests use: quiet, not pedantic, headers on, protocol 0 (so no
/// asynchronous INFO interleaves with the replies a test expects).
pub const CONNECT_QUIET: &str = r#"{"verbose":false,"pedantic":false,"headers":true,"name":"raw"}"#;

/// One server → client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Info(Value),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    Err(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: String,
    pub reply: Option<String>,
    /// The header block (HMSG only), including the blank line that ends it.
    pub headers: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// A protocol client over a blocking `TcpStream`, reading with deadlines. Server PINGs
/// that arrive where a test expects something else are answered and skipped (nats-server
/// sends its first PING a second or two after the connection opens).
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, RAW_READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Connects, reads INFO, sends CONNECT `connect_json` + PING and waits for PONG.
    /// Returns the INFO.
    ///
    /// A protocol-1 client may get an asynchronous INFO (`connect_info`) right after its
    /// first PONG; a second PING/PONG consumes it, so tests start from a quiet stream.
    pub fn handshake(addr: SocketAddr, connect_json: &str) -> (RawClient, Value) {
        let mut client = RawClient::connect(addr);
        let info = client.read_info();
        client.send(format!("CONNECT {connect_json}\r\nPING\r\n"));
        client.expect_pong_skipping_info();
        client.send("PING\r\n");
        client.expect_pong_skipping_info();
        (client, info)
    }

    /// Handshake with [`CONNECT_QUIET`].
    pub fn connected(addr: SocketAddr) -> RawClient {
        RawClient::handshake(addr, CONNECT_QUIET).0
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.try_send(bytes).unwrap_or_else(|e| panic!("send: {e}"));
    }

    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        self.stream.write_all(bytes.as_ref())
    }

    /// Reads once into the buffer, waiting at most until `deadline`. Ok(false) on timeout.
    fn fill(&mut self, deadline: Instant) -> std::io::Result<bool> {
        if self.eof {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed",
                ))
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Answers and drops a server PING at the front of the buffer.
    fn skip_server_ping(&mut self) -> bool {
        if self.buf.starts_with(b"PING\r\n") {
            self.buf.drain(..6);
            let _ = self.stream.write_all(b"PONG\r\n");
            true
        } else {
            false
        }
    }

    /// Reads until exactly `want` arrived, else panics showing what came instead.
    pub fn expect(&mut self, want: impl AsRef<[u8]>) {
        self.expect_within(want, RAW_READ_TIMEOUT)
    }

    pub fn expect_within(&mut self, want: impl AsRef<[u8]>, timeout: Duration) {
        let want = want.as_ref();
        let deadline = Instant::now() + timeout;
        loop {
            if !want.starts_with(b"PING\r\n") {
                while self.skip_server_ping() {}
            }
            let have = self.buf.len().min(want.len());
            if self.buf[..have] != want[..have] {
                panic!("expected {:?}\n     got {:?}", show(want), show(&self.buf));
            }
            if have == want.len() {
                self.buf.drain(..want.len());
                return;
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => panic!(
                    "timed out after {timeout:?} expecting {:?}\n got only {:?}",
                    show(want),
                    show(&self.buf)
                ),
                Err(e) => panic!(
                    "{e} while expecting {:?}\n got only {:?}",
                    show(want),
                    show(&self.buf)
                ),
            }
        }
    }

    /// Expects `-ERR '<text>'\r\n`.
    pub fn expect_err(&mut self, text: &str) {
        self.expect(format!("-ERR '{text}'\r\n"));
    }

    /// Expects `-ERR '<text>'\r\n` and then the connection closing.
    pub fn expect_err_then_close(&mut self, text: &str) {
        self.expect_err(text);
        let rest = self.expect_closed();
        assert!(
            rest.is_empty(),
            "after -ERR '{text}' expected the close, got {:?}",
            show(&rest)
        );
    }

    /// Reads one control line (without its line end), within the default timeout.
    pub fn read_line(&mut self) -> String {
        let deadline = Instant::now() + RAW_READ_TIMEOUT;
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return line;
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => panic!("timed out reading a line; got {:?}", show(&self.buf)),
                Err(e) => panic!("{e} while reading a line; got {:?}", show(&self.buf)),
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + RAW_READ_TIMEOUT;
        while self.buf.len() < n {
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => panic!("timed out reading {n} bytes; got {:?}", show(&self.buf)),
                Err(e) => panic!("{e} while reading {n} bytes; got {:?}", show(&self.buf)),
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Reads the `INFO {json}` line and returns the JSON.
    pub fn read_info(&mut self) -> Value {
        let line = self.read_line();
        let json = line
            .strip_prefix("INFO ")
            .unwrap_or_else(|| panic!("expected INFO, got {line:?}"));
        serde_json::from_str(json.trim())
            .unwrap_or_else(|e| panic!("INFO is not JSON ({e}): {json:?}"))
    }

    /// Reads one frame (server PINGs are returned, not answered).
    pub fn read_frame(&mut self) -> Frame {
        let line = self.read_line();
        let (op, args) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], line[i + 1..].trim()),
            None => (line.as_str(), ""),
        };
        match op.to_ascii_uppercase().as_str() {
            "PING" => Frame::Ping,
            "PONG" => Frame::Pong,
            "+OK" => Frame::Ok,
            "-ERR" => Frame::Err(args.trim_matches('\'').to_string()),
            "INFO" => Frame::Info(
                serde_json::from_str(args).unwrap_or_else(|e| panic!("bad INFO ({e}): {line:?}")),
            ),
            "MSG" | "HMSG" => {
                let parts: Vec<&str> = args.split_whitespace().collect();
                let with_headers = op.eq_ignore_ascii_case("HMSG");
                let sizes = if with_headers { 2 } else { 1 };
                assert!(
                    parts.len() == 2 + sizes || parts.len() == 3 + sizes,
                    "bad {op} line {line:?}"
                );
                let reply = (parts.len() == 3 + sizes).then(|| parts[2].to_string());
                let total: usize = parts[parts.len() - 1]
                    .parse()
                    .unwrap_or_else(|_| panic!("bad size in {line:?}"));
                let header_len: usize = if with_headers {
                    parts[parts.len() - 2]
                        .parse()
                        .unwrap_or_else(|_| panic!("bad header size in {line:?}"))
                } else {
                    0
                };
                let mut body = self.read_exact_bytes(total + 2);
                assert_eq!(
                    &body[total..],
                    b"\r\n",
                    "payload of {line:?} not followed by CRLF"
                );
                body.truncate(total);
                let payload = body.split_off(header_len);
                Frame::Msg(Msg {
                    subject: parts[0].to_string(),
                    sid: parts[1].to_string(),
                    reply,
                    headers: with_headers.then_some(body),
                    payload,
                })
            }
            _ => panic!("unexpected line from server: {line:?}"),
        }
    }

    /// Sends PING and returns every frame that arrived before the PONG (server PINGs are
    /// answered and left out). Since the server handles a connection's input in order,
    /// everything caused by what was sent before is in the result.
    pub fn sync(&mut self) -> Vec<Frame> {
        self.send("PING\r\n");
        let mut frames = Vec::new();
        loop {
            match self.read_frame() {
                Frame::Pong => return frames,
                Frame::Ping => self.send("PONG\r\n"),
                frame => frames.push(frame),
            }
        }
    }

    /// Like [`RawClient::sync`] but expects only messages, and returns them.
    pub fn sync_msgs(&mut self) -> Vec<Msg> {
        self.sync()
            .into_iter()
            .map(|frame| match frame {
                Frame::Msg(msg) => msg,
                other => panic!("expected only messages, got {other:?}"),
            })
            .collect()
    }

    /// Waits for a PONG, skipping INFO lines (the asynchronous INFO a protocol-1 client
    /// may get after its first PONG) and +OK (verbose CONNECT), answering server PINGs.
    pub fn expect_pong_skipping_info(&mut self) {
        loop {
            match self.read_frame() {
                Frame::Pong => return,
                Frame::Info(_) | Frame::Ok => {}
                Frame::Ping => self.send("PONG\r\n"),
                other => panic!("expected PONG, got {other:?}"),
            }
        }
    }

    /// Expects the server to close the connection (EOF or reset) within the default
    /// timeout. Returns whatever arrived before the close (server PINGs removed).
    pub fn expect_closed(&mut self) -> Vec<u8> {
        self.expect_closed_within(RAW_READ_TIMEOUT)
    }

    pub fn expect_closed_within(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut received = Vec::new();
        loop {
            while self.skip_server_ping() {}
            // Keep memory bounded when draining a flood; keep the head for diagnostics.
            if received.len() < 4096 {
                received.extend_from_slice(&self.buf);
            }
            self.buf.clear();
            if self.eof {
                return received;
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => panic!(
                    "connection still open after {timeout:?}; received {:?}",
                    show(&received)
                ),
                Err(_) => return received, // EOF or reset
            }
        }
    }
}

/// Bytes as text for assertion messages (CR/LF visible, long runs cut).
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{text}... ({} bytes)", bytes.len())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------
// HTTP (monitoring) without extra crates
// ---------------------------------------------------------------------------------------

/// `GET path` over a fresh connection; returns (status, body). Handles chunked bodies.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, RAW_READ_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(RAW_READ_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("GET {path}: {e}; got {:?}", show(&raw)));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", show(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    if head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    }) {
        body = dechunk(&body);
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        data = &data[end + 2..];
        if size == 0 || data.len() < size {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
}

/// `GET path` and parse the body as JSON.
pub fn http_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http_get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {body}"))
}

// ---------------------------------------------------------------------------------------
// async-nats
// ---------------------------------------------------------------------------------------

/// A connected async-nats client (bounded wait).
pub async fn client(server: &TestServer) -> async_nats::Client {
    connect_with(server, async_nats::ConnectOptions::new()).await
}

pub async fn connect_with(
    server: &TestServer,
    options: async_nats::ConnectOptions,
) -> async_nats::Client {
    let options = options
        .connection_timeout(scaled(Duration::from_secs(5)))
        // async-nats' default request timeout, scaled.
        .request_timeout(Some(scaled(Duration::from_secs(10))))
        .max_reconnects(Some(0));
    let bound = scaled(Duration::from_secs(10));
    match tokio::time::timeout(bound, options.connect(server.url())).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!(
            "connect to {}: {e}\nserver log:\n{}",
            server.url(),
            server.log()
        ),
        Err(_) => panic!(
            "connect to {} timed out\nserver log:\n{}",
            server.url(),
            server.log()
        ),
    }
}

/// Next message of a subscription, or panic after [`CLIENT_RECV_TIMEOUT`].
/// One JSON request (the JetStream API): `body` null sends an empty payload. Panics with
/// the subject if no answer comes or it is not JSON.
/// A JetStream server storing in `store`. Each test passes its own directory: tern's
/// default store (`/tmp/nats/jetstream`) would mix the streams of tests running at once.
pub fn js_server_in(store: &Path) -> TestServer {
    let store = store.display().to_string();
    ServerBuilder::new()
        .args(&["-js", "-sd", store.as_str()])
        .start()
}

/// Creates the stream `config` describes through raw `$JS.API` (so the config is exactly
/// the test's, not what a client library fills in) and returns a client with its
/// JetStream context.
pub async fn setup_stream(
    server: &TestServer,
    config: Value,
) -> (async_nats::Client, async_nats::jetstream::Context) {
    let client = client(server).await;
    let name = config["name"].as_str().unwrap().to_string();
    let created = json_request(&client, &format!("$JS.API.STREAM.CREATE.{name}"), config).await;
    assert!(created.get("error").is_none(), "{created}");
    (client.clone(), async_nats::jetstream::new(client))
}

/// `$JS.API.STREAM.CREATE` for `config` (named by its `name`), the answer as JSON.
pub async fn create_stream(client: &async_nats::Client, config: Value) -> Value {
    let name = config["name"]
        .as_str()
        .expect("config has a name")
        .to_string();
    json_request(client, &format!("$JS.API.STREAM.CREATE.{name}"), config).await
}

/// Publishes as a request and returns the PubAck (or the error) as JSON.
pub async fn publish_for_ack(client: &async_nats::Client, subject: &str, payload: &str) -> Value {
    let reply = tokio::time::timeout(
        scaled(CLIENT_RECV_TIMEOUT),
        client.request(subject.to_string(), bytes::Bytes::from(payload.to_string())),
    )
    .await
    .unwrap_or_else(|_| panic!("no PubAck for {subject} in time"))
    .unwrap_or_else(|e| panic!("publish to {subject} failed: {e}"));
    serde_json::from_slice(&reply.payload).expect("PubAck is JSON")
}

pub async fn json_request(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    let payload = if body.is_null() {
        bytes::Bytes::new()
    } else {
        bytes::Bytes::from(body.to_string())
    };
    let reply = tokio::time::timeout(
        scaled(CLIENT_RECV_TIMEOUT),
        client.request(subject.to_string(), payload),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to {subject}"))
    .unwrap_or_else(|e| panic!("request {subject} failed: {e}"));
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("answer to {subject} is not JSON ({e}): {:?}", reply.payload))
}

pub async fn recv(subscriber: &mut async_nats::Subscriber) -> async_nats::Message {
    recv_within(subscriber, scaled(CLIENT_RECV_TIMEOUT)).await
}

pub async fn recv_within(
    subscriber: &mut async_nats::Subscriber,
    timeout: Duration,
) -> async_nats::Message {
    use futures::StreamExt;
    match tokio::time::timeout(timeout, subscriber.next()).await {
        Ok(Some(message)) => message,
        Ok(None) => panic!("subscription ended"),
        Err(_) => panic!("no message within {timeout:?}"),
    }
}

/// Flush with a bound.
pub async fn flush(client: &async_nats::Client) {
    tokio::time::timeout(CLIENT_RECV_TIMEOUT, client.flush())
        .await
        .expect("flush timed out")
        .expect("flush failed");
}

/// Polls `check` every 10 ms until it returns Some or `timeout` passes.
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Connections per core from tern's `/varz` (`tern_cores[].connections`); None on a server
/// without per-core figures (the reference server).
pub fn core_connections(monitor: SocketAddr) -> Option<Vec<u64>> {
    let varz = http_json(monitor, "/varz");
    let cores = varz.get("tern_cores")?.as_array()?.clone();
    Some(
        cores
            .iter()
            .map(|core| {
                core["connections"]
                    .as_u64()
                    .expect("tern_cores[].connections")
            })
            .collect(),
    )
}
