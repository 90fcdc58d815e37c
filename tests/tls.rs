//! TLS on the client listener: async-nats over TLS (server certificate, mutual TLS,
//! handshake first, certificate-mapped users), raw TCP for what plaintext clients get, the
//! handshake timeout, hostile handshakes and records, startup errors for bad files, and
//! /varz.
//!
//! The CA, server and client certificates are made in each test with rcgen. Tests that also
//! hold for nats-server 2.9.10 run against it with `TERN_TEST_SERVER=/usr/sbin/nats-server`;
//! the others say why they skip it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

// ---------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------

struct Ca {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca { key, cert }
    }

    /// Writes `<name>.pem` and `<name>-key.pem` into `dir`.
    fn sign(&self, dir: &Path, name: &str, params: CertificateParams) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, self.cert.pem()).unwrap();
        path
    }
}

/// A CA, a server certificate for 127.0.0.1/localhost, and client certificates.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    ca_file: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("tern test CA");
        let ca_file = ca.write(dir.path(), "ca");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (server_cert, server_key) = ca.sign(dir.path(), "server", params);
        Pki {
            dir,
            ca,
            ca_file,
            server_cert,
            server_key,
        }
    }

    /// A client certificate with subject `CN=<cn>,O=Acme,C=US` (and `email` as SAN).
    fn client(&self, cn: &str, email: Option<&str>) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(email) = email {
            params.subject_alt_names = vec![SanType::Rfc822Name(email.try_into().unwrap())];
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.ca.sign(self.dir.path(), cn, params)
    }

    /// The `tls { }` block with the server's files and `extra` settings.
    fn block(&self, extra: &str) -> String {
        format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  {extra}\n}}\n",
            self.server_cert.display().to_string(),
            self.server_key.display().to_string(),
            self.ca_file.display().to_string(),
        )
    }
}

fn tls_options(pki: &Pki) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(pki.ca_file.clone())
}

/// Tries to connect; the error text if it fails.
async fn try_connect(
    server: &TestServer,
    options: async_nats::ConnectOptions,
) -> Result<async_nats::Client, String> {
    let options = options
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(Some(0));
    match tokio::time::timeout(Duration::from_secs(10), options.connect(server.url())).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    }
}

/// Publishes and receives one message through `client`.
async fn round_trip(client: &async_nats::Client) {
    let mut sub = client.subscribe("tls.check").await.unwrap();
    client.flush().await.unwrap();
    client
        .publish("tls.check", bytes::Bytes::from_static(b"over tls"))
        .await
        .unwrap();
    let msg = recv(&mut sub).await;
    assert_eq!(&msg.payload[..], b"over tls");
}

// ---------------------------------------------------------------------------------------
// Working connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_client_publishes_and_receives() {
    let pki = Pki::new();
    let server = ServerBuilder::new().config(&pki.block("")).start();
    let client = connect_with(&server, tls_options(&pki)).await;
    round_trip(&client).await;
    // A large message crosses several TLS records both ways.
    let mut sub = client.subscribe("tls.big").await.unwrap();
    client.flush().await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    client.publish("tls.big", big.clone().into()).await.unwrap();
    let msg = recv(&mut sub).await;
    assert_eq!(msg.payload.len(), big.len());
    assert!(msg.payload[..] == big[..], "payload changed in transit");

    // INFO goes out in plaintext first, saying TLS is required (and no client certificate).
    let mut raw = RawClient::connect(server.addr());
    let info = raw.read_info();
    assert_eq!(info["tls_required"], true, "{info}");
    assert!(info.get("tls_verify").is_none(), "{info}");
}

#[tokio::test]
async fn tls_flags_configure_the_listener() {
    let pki = Pki::new();
    let cert = pki.server_cert.display().to_string();
    let key = pki.server_key.display().to_string();
    let server = TestServer::start(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let client = connect_with(&server, tls_options(&pki)).await;
    round_trip(&client).await;
}

#[tokio::test]
async fn handshake_first_skips_the_plaintext_info() {
    if skip_on_reference("handshake_first came in nats-server 2.10") {
        return;
    }
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block("handshake_first: true"))
        .args(&["-m", "-1"])
        .start();
    let client = connect_with(&server, tls_options(&pki).tls_first()).await;
    round_trip(&client).await;
    let connz = http_json(server.monitor_addr().unwrap(), "/connz");
    assert_eq!(connz["connections"][0]["tls_first"], true, "{connz}");

    // No INFO before the handshake: a plaintext client gets nothing at all.
    let mut raw = RawClient::connect(server.addr());
    raw.send("CONNECT {}\r\nPING\r\n");
    let received = raw.expect_closed();
    assert!(received.is_empty(), "got {:?}", show(&received));
}

#[tokio::test]
async fn handshake_first_auto_serves_both_kinds_of_client() {
    if skip_on_reference("handshake_first came in nats-server 2.10") {
        return;
    }
    let pki = Pki::new();
    let server = ServerBuilder::new()
        // Long enough that a loaded machine does not make the TLS-first client look slow.
        .config(&pki.block("handshake_first: \"500ms\""))
        .start();
    // A TLS-first client starts the handshake at once...
    let first = connect_with(&server, tls_options(&pki).tls_first()).await;
    round_trip(&first).await;
    // ...one that waits for INFO gets it after the fallback delay.
    let classic = connect_with(&server, tls_options(&pki)).await;
    round_trip(&classic).await;
}

// ---------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------

#[test]
fn plaintext_client_gets_info_then_the_connection_closes() {
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block(""))
        .args(&["-D"])
        .start();
    let mut raw = RawClient::connect(server.addr());
    let info = raw.read_info();
    assert_eq!(info["tls_required"], true, "{info}");
    raw.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
    // nats-server 2.9.10 answers nothing: no -ERR, no PONG, just the close.
    let received = raw.expect_closed();
    assert!(received.is_empty(), "got {:?}", show(&received));
    assert!(
        server.wait_for_log(
            "TLS handshake error: tls: first record does not look like a TLS handshake",
            RAW_READ_TIMEOUT
        ),
        "{}",
        server.log()
    );
}

#[test]
fn stalled_handshake_times_out() {
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block("timeout: 0.5"))
        .start();
    // Silence after INFO, and a ClientHello that never finishes: both are cut off.
    // (Timed from before the connects, so the server's clock started after ours.)
    let started = Instant::now();
    let mut silent = RawClient::connect(server.addr());
    silent.read_info();
    let mut partial = RawClient::connect(server.addr());
    partial.read_info();
    partial.send([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]);
    assert!(silent
        .expect_closed_within(Duration::from_secs(5))
        .is_empty());
    assert!(partial
        .expect_closed_within(Duration::from_secs(5))
        .is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "closed before the timeout"
    );
    assert!(
        server.wait_for_log("TLS handshake error: read tcp ", RAW_READ_TIMEOUT)
            && server.log().contains(": i/o timeout"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn mutual_tls_requires_a_certificate_from_the_ca() {
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block("verify: true"))
        .start();
    let mut raw = RawClient::connect(server.addr());
    let info = raw.read_info();
    assert_eq!(info["tls_verify"], true, "{info}");

    let (cert, key) = pki.client("alice", None);
    let client = connect_with(&server, tls_options(&pki).add_client_certificate(cert, key)).await;
    round_trip(&client).await;

    // No client certificate.
    assert!(try_connect(&server, tls_options(&pki)).await.is_err());
    // A certificate from another CA.
    let other = Ca::new("other CA");
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "mallory");
    let (cert, key) = other.sign(pki.dir.path(), "mallory", params);
    let refused = try_connect(&server, tls_options(&pki).add_client_certificate(cert, key)).await;
    assert!(refused.is_err());
    assert!(
        server.wait_for_log("TLS handshake error: ", RAW_READ_TIMEOUT),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn verify_and_map_takes_the_user_from_the_certificate() {
    if skip_on_reference(
        "until the users list lands, tern maps certificates to the single authorization user",
    ) {
        return;
    }
    let pki = Pki::new();
    let config = format!(
        "{}authorization {{ user: \"CN=alice,O=Acme,C=US\" }}\n",
        pki.block("verify_and_map: true")
    );
    let server = ServerBuilder::new().config(&config).start();
    let mut raw = RawClient::connect(server.addr());
    let info = raw.read_info();
    assert_eq!(info["tls_verify"], true, "{info}");
    assert_eq!(info["auth_required"], true, "{info}");

    let (cert, key) = pki.client("alice", Some("alice@example.com"));
    let alice = connect_with(&server, tls_options(&pki).add_client_certificate(cert, key)).await;
    round_trip(&alice).await;

    // A valid certificate from the same CA that names no configured user.
    let (cert, key) = pki.client("bob", None);
    let bob = try_connect(&server, tls_options(&pki).add_client_certificate(cert, key)).await;
    let Err(error) = bob else {
        panic!("bob must be refused");
    };
    assert!(error.to_lowercase().contains("authorization"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------

/// A rustls client for raw record games, trusting the test CA.
fn rustls_client(
    pki: &Pki,
    addr: std::net::SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&pki.ca_file).unwrap();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(RAW_READ_TIMEOUT)).unwrap();
    // Skip the plaintext INFO line.
    let mut byte = [0u8; 1];
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        sock.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    rustls::StreamOwned::new(conn, sock)
}

/// Reads until EOF or reset; panics if the connection stays open.
fn expect_eof(sock: &mut TcpStream) {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("connection still open")
            }
            Err(_) => return,
        }
    }
}

#[tokio::test]
async fn hostile_handshakes_and_records_are_cut_off() {
    let pki = Pki::new();
    // One core, so the stalled handshakes below share it with the good client.
    let cores: &[&str] = if is_reference() {
        &[]
    } else {
        &["--cores", "1"]
    };
    let server = ServerBuilder::new()
        .config(&pki.block("timeout: 1"))
        .args(cores)
        .start();
    let addr = server.addr();

    // Garbage shaped like a handshake record, and a record header claiming 64 KiB.
    for attack in [
        [&[22u8, 3, 1, 0, 60][..], &[0xa5; 60][..]].concat(),
        [&[22u8, 3, 3, 0xff, 0xff][..], &vec![0u8; 70_000][..]].concat(),
    ] {
        let mut raw = RawClient::connect(addr);
        raw.read_info();
        let _ = raw.try_send(&attack);
        raw.expect_closed();
    }

    // A record larger than TLS allows after a completed handshake.
    let mut tls = rustls_client(&pki, addr);
    tls.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    tls.flush().unwrap();
    let mut pong = [0u8; 6];
    tls.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"PONG\r\n");
    let sock = tls.get_mut();
    let _ = sock.write_all(&[[23u8, 3, 3, 0xff, 0xff].as_slice(), &vec![7u8; 70_000]].concat());
    expect_eof(sock);

    // Many stalled handshakes on the one core do not hold up a good client.
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(&[22, 3, 1, 0, 200]);
            s
        })
        .collect();
    let client = connect_with(&server, tls_options(&pki)).await;
    round_trip(&client).await;
    drop(stalled);
}

// ---------------------------------------------------------------------------------------
// Startup errors and monitoring
// ---------------------------------------------------------------------------------------

fn startup_error(args: &[&str]) -> String {
    let (status, stdout, stderr) = run_binary(args, Duration::from_secs(20));
    assert!(!status.success(), "started with {args:?}: {stdout}{stderr}");
    format!("{stdout}{stderr}")
}

#[test]
fn bad_tls_files_and_settings_stop_the_server_with_a_clear_error() {
    if skip_on_reference("tern's own wording for what Go and rustls word differently") {
        return;
    }
    let pki = Pki::new();
    let dir = pki.dir.path();
    let cert = pki.server_cert.display().to_string();
    let key = pki.server_key.display().to_string();

    let out = startup_error(&[
        "-p",
        "-1",
        "--tls",
        "--tlscert",
        "/nonexistent.pem",
        "--tlskey",
        &key,
    ]);
    assert!(
        out.contains("error parsing X509 certificate/key pair: open /nonexistent.pem: no such file or directory"),
        "{out}"
    );
    // Certificate and key swapped.
    let out = startup_error(&["-p", "-1", "--tls", "--tlscert", &key, "--tlskey", &cert]);
    assert!(
        out.contains("error parsing X509 certificate/key pair"),
        "{out}"
    );
    // A key that is not the certificate's.
    let (_, other_key) = pki.client("someone", None);
    let out = startup_error(&[
        "-p",
        "-1",
        "--tls",
        "--tlscert",
        &cert,
        "--tlskey",
        &other_key.display().to_string(),
    ]);
    assert!(
        out.contains("error parsing X509 certificate/key pair"),
        "{out}"
    );
    let out = startup_error(&["-p", "-1", "--tls"]);
    assert!(
        out.contains("TLS Server certificate must be present and valid"),
        "{out}"
    );

    let check = |name: &str, extra: &str, want: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pki.block(extra)).unwrap();
        let out = startup_error(&["-p", "-1", "-c", &path.display().to_string()]);
        assert!(out.contains(want), "{extra}: {out}");
    };
    check(
        "ciphers.conf",
        "cipher_suites: [\"FOO\"]",
        "unrecognized cipher FOO",
    );
    check(
        "rsa_cipher.conf",
        "cipher_suites: [\"TLS_RSA_WITH_AES_128_CBC_SHA\"]",
        "unrecognized cipher TLS_RSA_WITH_AES_128_CBC_SHA",
    );
    check(
        "curves.conf",
        "curve_preferences: [\"CurveP521\"]",
        "unrecognized curve preference CurveP521",
    );
    check(
        "version.conf",
        "min_version: \"1.1\"",
        "unsupported TLS version",
    );
    check(
        "unknown.conf",
        "bogus: 1",
        "error parsing tls config, unknown field [\"bogus\"]",
    );
    std::fs::write(dir.join("garbage.pem"), "not a certificate").unwrap();
    let garbage = dir.join("garbage.pem").display().to_string();
    let out = startup_error(&[
        "-p",
        "-1",
        "--tlsverify",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "--tlscacert",
        &garbage,
    ]);
    assert!(out.contains("error parsing ca_file"), "{out}");

    // -t reads the files too.
    let path = dir.join("missing.conf");
    std::fs::write(
        &path,
        "tls { cert_file: \"/nonexistent.pem\", key_file: \"/nonexistent-key.pem\" }\n",
    )
    .unwrap();
    let out = startup_error(&["-t", "-c", &path.display().to_string()]);
    assert!(out.contains("open /nonexistent.pem"), "{out}");

    // Settings rustls has are accepted.
    let path = dir.join("good.conf");
    std::fs::write(
        &path,
        pki.block(
            "cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305\"]\n  curve_preferences: [\"X25519\", \"CurveP256\"]\n  min_version: \"1.2\"",
        ),
    )
    .unwrap();
    let (status, stdout, stderr) = run_binary(
        &["-t", "-c", &path.display().to_string()],
        Duration::from_secs(20),
    );
    assert!(status.success(), "{stdout}{stderr}");
}

#[tokio::test]
async fn restricted_cipher_suites_still_serve_clients() {
    if skip_on_reference("min_version came in nats-server 2.11") {
        return;
    }
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block(
            "cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\"]\n  curve_preferences: [\"CurveP384\"]\n  min_version: \"1.3\"",
        ))
        .start();
    let client = connect_with(&server, tls_options(&pki)).await;
    round_trip(&client).await;
}

#[test]
fn varz_reports_tls_settings() {
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block("verify: true\n  timeout: 0.75"))
        .args(&["-m", "-1"])
        .start();
    let monitor = server.monitor_addr().expect("monitor address");
    let varz = http_json(monitor, "/varz");
    assert_eq!(varz["tls_required"], true, "{varz}");
    assert_eq!(varz["tls_verify"], true, "{varz}");
    assert_eq!(varz["tls_timeout"], 0.75, "{varz}");

    let plain = ServerBuilder::new().args(&["-m", "-1"]).start();
    let varz = http_json(plain.monitor_addr().unwrap(), "/varz");
    assert!(varz.get("tls_required").is_none(), "{varz}");
    assert_eq!(varz["tls_timeout"], 2.0, "{varz}");
}

#[tokio::test]
async fn subscriptions_over_tls_see_many_messages() {
    // Many small messages, coalesced into records on the way out.
    let pki = Pki::new();
    let server = ServerBuilder::new().config(&pki.block("")).start();
    let publisher = connect_with(&server, tls_options(&pki)).await;
    let subscriber = connect_with(&server, tls_options(&pki)).await;
    let mut sub = subscriber.subscribe("tls.many").await.unwrap();
    subscriber.flush().await.unwrap();
    // The subscription is on another connection: wait for it to be seen.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        publisher.publish("tls.many", "probe".into()).await.unwrap();
        publisher.flush().await.unwrap();
        if tokio::time::timeout(Duration::from_millis(100), sub.next())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscription never became visible"
        );
    }
    while tokio::time::timeout(Duration::from_millis(50), sub.next())
        .await
        .is_ok()
    {}
    for i in 0..5_000u32 {
        publisher
            .publish("tls.many", i.to_string().into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    for i in 0..5_000u32 {
        let msg = recv(&mut sub).await;
        assert_eq!(msg.payload, i.to_string().as_bytes());
    }
}

#[test]
fn connections_over_the_limit_get_the_error_in_plaintext() {
    let pki = Pki::new();
    let config = format!("max_connections: 1\n{}", pki.block("timeout: 3"));
    let server = ServerBuilder::new().config(&config).start();
    // A handshake in progress holds the one slot...
    let mut first = RawClient::connect(server.addr());
    first.read_info();
    // ...so the next client gets INFO and the -ERR in plaintext, with no handshake.
    let mut second = RawClient::connect(server.addr());
    let info = second.read_info();
    assert_eq!(info["tls_required"], true, "{info}");
    second.expect_err_then_close("maximum connections exceeded");
    // The slot comes back when the first connection ends.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !tls_ping(&pki, server.addr()) {
        assert!(Instant::now() < deadline, "slot never released");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CONNECT and PING over TLS with a rustls client; whether PONG came back.
fn tls_ping(pki: &Pki, addr: std::net::SocketAddr) -> bool {
    let mut tls = rustls_client(pki, addr);
    let mut pong = [0u8; 6];
    tls.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .and_then(|()| tls.flush())
        .and_then(|()| tls.read_exact(&mut pong))
        .is_ok()
        && &pong == b"PONG\r\n"
}

#[tokio::test]
async fn connz_shows_each_connections_tls() {
    let pki = Pki::new();
    let server = ServerBuilder::new()
        .config(&pki.block(""))
        .args(&["-m", "-1"])
        .start();
    let monitor = server.monitor_addr().expect("monitor address");
    let client = connect_with(&server, tls_options(&pki)).await;
    round_trip(&client).await;
    let connz = http_json(monitor, "/connz");
    let conn = &connz["connections"][0];
    assert_eq!(conn["tls_version"], "1.3", "{connz}");
    let suite = conn["tls_cipher_suite"].as_str().unwrap_or_default();
    assert!(suite.starts_with("TLS_"), "{connz}");
    assert!(conn.get("tls_first").is_none(), "{connz}");
}
