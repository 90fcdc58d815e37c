//! TLS for client connections: rustls, driven sans-IO on the connection's own core.
//!
//! rustls is synchronous and does no I/O of its own: the connection's tasks read
//! ciphertext from the socket, hand it to `ServerConnection::read_tls` and
//! `process_new_packets`, and write what `write_tls` produces. The handshake and record
//! processing run inline on the core that owns the connection, like everything else
//! about it, and no other runtime is involved.
//!
//! - [`TlsServer`]: the server-wide configuration built once at startup from
//!   [`TlsOptions`] (certificates loaded, cipher suites and groups chosen). Its errors are
//!   startup errors.
//! - [`session`]: the per-connection driver: the handshake (with nats-server's INFO-first
//!   or handshake-first order and its timeout), then reader and writer halves that the
//!   connection's reader and writer tasks use in place of the plain socket halves.
//! - [`identity`]: the names of a verified client certificate, for `verify_and_map`.
//!
//! Defaults are safe: TLS 1.2 and 1.3 only, rustls' default cipher suites and groups.

pub mod identity;
pub mod session;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};

use crate::config::options::{TlsOptions, TlsVersion};
pub use identity::TlsIdentity;

/// What every core needs to run TLS on its client connections.
pub struct TlsServer {
    pub config: Arc<ServerConfig>,
    /// Client certificates are required and verified (`verify` or `verify_and_map`).
    pub verify: bool,
    /// The client certificate names the user (`verify_and_map`).
    pub verify_and_map: bool,
    /// How long a client has to complete the handshake.
    pub timeout: Duration,
    /// The handshake comes before INFO (`handshake_first`).
    pub handshake_first: bool,
    /// With `handshake_first: auto` or a duration: how long to wait for the client's first
    /// bytes before falling back to the INFO-first order.
    pub handshake_first_fallback: Option<Duration>,
}

impl TlsServer {
    /// Loads certificates and keys and builds the rustls configuration. Errors name the file
    /// and what is wrong with it, for the startup error.
    pub fn from_options(options: &TlsOptions) -> Result<TlsServer, String> {
        let provider = Arc::new(provider(options)?);
        let certs = load_certs(&options.cert_file)
            .map_err(|reason| format!("error parsing X509 certificate/key pair: {reason}"))?;
        let key = PrivateKeyDer::from_pem_file(&options.key_file).map_err(|e| {
            format!(
                "error parsing X509 certificate/key pair: {}",
                pem_error(&options.key_file, "private key", e)
            )
        })?;
        let versions: &[&'static rustls::SupportedProtocolVersion] = match options.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| format!("error in tls config: {e}"))?;
        let builder = if options.verify {
            let roots = match &options.ca_file {
                Some(path) => load_roots(path)?,
                None => system_roots()?,
            };
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("error in tls config: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            // nats-server reads ca_file without verify too: a bad file is still an error.
            if let Some(path) = &options.ca_file {
                load_roots(path)?;
            }
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
        // NATS clients resume nothing and negotiate no ALPN; tickets would only cost a
        // round of record writes after each handshake.
        config.send_tls13_tickets = 0;
        Ok(TlsServer {
            config: Arc::new(config),
            verify: options.verify,
            verify_and_map: options.verify_and_map,
            timeout: Duration::from_millis(options.timeout_ms),
            handshake_first: options.handshake_first,
            handshake_first_fallback: options
                .handshake_first_fallback_ms
                .map(Duration::from_millis),
        })
    }

    /// `tls_timeout` in /varz: seconds.
    pub fn timeout_seconds(&self) -> f64 {
        self.timeout.as_secs_f64()
    }
}

/// rustls' ring provider, narrowed to the configured cipher suites and groups.
fn provider(options: &TlsOptions) -> Result<CryptoProvider, String> {
    let mut provider = ring::default_provider();
    if !options.cipher_suites.is_empty() {
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        for name in &options.cipher_suites {
            let suite =
                cipher_suite_by_name(name).ok_or_else(|| unsupported_cipher_suite_message(name))?;
            if !chosen.iter().any(|s| s.suite() == suite.suite()) {
                chosen.push(suite);
            }
        }
        // As in Go, cipher_suites configures TLS 1.2; TLS 1.3's suites stay on unless some
        // are named too.
        let names_tls13 = chosen.iter().any(|s| s.tls13().is_some());
        provider.cipher_suites.retain(|s| {
            let listed = chosen.iter().any(|c| c.suite() == s.suite());
            listed || (s.tls13().is_some() && !names_tls13)
        });
        if options.min_version == TlsVersion::Tls12
            && !provider.cipher_suites.iter().any(|s| s.tls13().is_none())
        {
            return Err("error in tls config: cipher_suites leaves no TLS 1.2 cipher suite".into());
        }
    }
    if !options.curve_preferences.is_empty() {
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for name in &options.curve_preferences {
            groups.push(kx_group_by_name(name).ok_or_else(|| unsupported_curve_message(name))?);
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

/// Go's cipher suite names, as nats-server takes them, for the suites rustls offers.
/// TLS 1.3 suites are named as in Go (`TLS_AES_128_GCM_SHA256`) or as in rustls
/// (`TLS13_AES_128_GCM_SHA256`).
pub fn cipher_suite_by_name(name: &str) -> Option<SupportedCipherSuite> {
    let wanted = go_cipher_alias(name);
    ring::ALL_CIPHER_SUITES.iter().copied().find(|suite| {
        suite.suite().as_str().is_some_and(|rustls_name| {
            rustls_name == wanted || rustls_name.replacen("TLS13_", "TLS_", 1) == wanted
        })
    })
}

/// Go's legacy aliases for the ChaCha20 suites.
fn go_cipher_alias(name: &str) -> &str {
    match name {
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        other => other,
    }
}

/// The suite names [`cipher_suite_by_name`] accepts, Go's spelling.
pub fn cipher_suite_names() -> Vec<String> {
    ring::ALL_CIPHER_SUITES
        .iter()
        .filter_map(|s| s.suite().as_str())
        .map(|n| n.replacen("TLS13_", "TLS_", 1))
        .collect()
}

pub fn unsupported_cipher_suite_message(name: &str) -> String {
    format!(
        "unrecognized cipher {name} (tern supports {})",
        cipher_suite_names().join(", ")
    )
}

/// Go's curve names (nats-server's `curve_preferences`) for the groups rustls has.
pub fn kx_group_by_name(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    match name {
        "X25519" => Some(ring::kx_group::X25519),
        "CurveP256" => Some(ring::kx_group::SECP256R1),
        "CurveP384" => Some(ring::kx_group::SECP384R1),
        _ => None,
    }
}

pub fn unsupported_curve_message(name: &str) -> String {
    format!("unrecognized curve preference {name} (tern supports X25519, CurveP256, CurveP384)")
}

fn pem_error(path: &Path, what: &str, error: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(e) => format!("open {}: {}", path.display(), io_text(&e)),
        Error::NoItemsFound => format!("no {what} found in {}", path.display()),
        other => format!("{}: {other:?}", path.display()),
    }
}

/// Go's wording of the common file errors ("no such file or directory").
fn io_text(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter =
        CertificateDer::pem_file_iter(path).map_err(|e| pem_error(path, "certificate", e))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificate", e))?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate PEM data found in {}",
            path.display()
        ));
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let certs = load_certs(path).map_err(|reason| format!("error parsing ca_file: {reason}"))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("error parsing ca_file: {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// `verify` without `ca_file` trusts the system's roots, as nats-server does.
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(
            "tls verify is set without ca_file and no system root certificates were found"
                .to_string(),
        );
    }
    Ok(roots)
}
