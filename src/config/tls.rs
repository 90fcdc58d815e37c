//! The `tls { }` block for client connections (server/opts.go `parseTLS`), and the
//! `--tls*` flags (opts.go `overrideTLS`).
//!
//! Certificates and keys are read when the server starts (`crate::tls::TlsServer`), so
//! their errors are startup errors; everything that can be checked without reading them
//! is checked here and reported at the key's position.

use std::path::PathBuf;

use super::{Apply, Spanned, Value};
use crate::config::duration::parse_go_duration;

/// nats-server's TLS_TIMEOUT: how long a client has to complete the handshake.
pub const TLS_TIMEOUT_MS_DEFAULT: u64 = 2_000;
/// nats-server's DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY (`handshake_first: auto`).
pub const TLS_HANDSHAKE_FIRST_FALLBACK_MS_DEFAULT: u64 = 50;

/// The lowest TLS version accepted. TLS 1.0 and 1.1 are refused, as in nats-server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TlsOptions {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// Client certificates are required and verified against `ca_file`.
    pub verify: bool,
    /// `verify`, and the certificate names the user.
    pub verify_and_map: bool,
    pub timeout_ms: u64,
    pub handshake_first: bool,
    /// `handshake_first: auto` or a duration: fall back to INFO first after this long
    /// without bytes from the client.
    pub handshake_first_fallback_ms: Option<u64>,
    pub min_version: TlsVersion,
    /// Go names; empty = rustls' defaults.
    pub cipher_suites: Vec<String>,
    /// Go names; empty = rustls' defaults.
    pub curve_preferences: Vec<String>,
}

/// Keys nats-server accepts in a client `tls` block that tern does not act on.
const UNSUPPORTED_TLS_KEYS: &[&str] = &[
    "insecure",
    "allow_insecure_cipher_suites",
    "connection_rate_limit",
    "pinned_certs",
    "cert_store",
    "cert_match_by",
    "cert_match",
    "ca_certs_match",
    "cert_match_skip_invalid",
    "ocsp_peer",
    "certs",
    "certificates",
    "verify_cert_and_check_known_urls",
];

impl Apply<'_> {
    pub(super) fn tls(&mut self, key: &str, value: &Spanned) {
        let Some(map) = value.as_map() else {
            self.type_error(key, value, "a map");
            return;
        };
        let outer_key_pos = self.key_pos.clone();
        let errors_before = self.errors.len();
        let (mut cert_file, mut key_file, mut ca_file) = (None, None, None);
        let mut tls = TlsOptions {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            ca_file: None,
            verify: false,
            verify_and_map: false,
            timeout_ms: TLS_TIMEOUT_MS_DEFAULT,
            handshake_first: false,
            handshake_first_fallback_ms: None,
            min_version: TlsVersion::Tls12,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
        };
        for entry in map {
            self.key_pos = Some(entry.key_pos.clone());
            let inner = entry.key.as_str();
            let value = &entry.value;
            let lower = inner.to_ascii_lowercase();
            let expected =
                |what: &str| format!("error parsing tls config, expected '{inner}' to be {what}");
            match lower.as_str() {
                "cert_file" | "key_file" | "ca_file" => match value.as_str() {
                    Some(path) => {
                        let path = (!path.is_empty()).then(|| PathBuf::from(path));
                        match lower.as_str() {
                            "cert_file" => cert_file = path,
                            "key_file" => key_file = path,
                            _ => ca_file = path,
                        }
                    }
                    None => self.invalid(&value.pos, expected("filename")),
                },
                "verify" | "verify_and_map" => match value.as_bool() {
                    Some(on) if lower == "verify" => tls.verify = on,
                    Some(on) => {
                        tls.verify_and_map = on;
                        tls.verify |= on;
                    }
                    None => self.invalid(&value.pos, expected("a boolean")),
                },
                "timeout" => {
                    let seconds = match &value.value {
                        Value::Int(n) => Some(*n as f64),
                        Value::Float(x) => Some(*x),
                        Value::String(text) => match parse_go_duration(text) {
                            Ok(nanos) => Some(nanos as f64 / 1e9),
                            Err(reason) => {
                                self.invalid(
                                    &value.pos,
                                    format!("error parsing tls config, 'timeout' {reason}"),
                                );
                                None
                            }
                        },
                        _ => {
                            self.invalid(
                                &value.pos,
                                "error parsing tls config, 'timeout' wrong type".to_string(),
                            );
                            None
                        }
                    };
                    match seconds {
                        Some(s) if s < 0.0 || !s.is_finite() => self.invalid(
                            &value.pos,
                            "error parsing tls config, 'timeout' can not be negative".to_string(),
                        ),
                        // 0 keeps nats-server's default, as it does.
                        Some(0.0) => tls.timeout_ms = TLS_TIMEOUT_MS_DEFAULT,
                        Some(s) => tls.timeout_ms = ((s * 1000.0).ceil() as u64).max(1),
                        None => {}
                    }
                }
                "handshake_first" | "first" | "immediate" => match &value.value {
                    Value::Bool(on) => tls.handshake_first = *on,
                    Value::String(text) => match text.to_ascii_lowercase().as_str() {
                        "true" | "on" => tls.handshake_first = true,
                        "false" | "off" => tls.handshake_first = false,
                        "auto" | "auto_fallback" => {
                            tls.handshake_first = true;
                            tls.handshake_first_fallback_ms =
                                Some(TLS_HANDSHAKE_FIRST_FALLBACK_MS_DEFAULT);
                        }
                        _ => match parse_go_duration(text) {
                            Ok(nanos) if nanos >= 0 => {
                                tls.handshake_first = true;
                                tls.handshake_first_fallback_ms =
                                    Some((nanos as u64).div_ceil(1_000_000));
                            }
                            _ => self.invalid(
                                &value.pos,
                                format!("field {inner:?}'s value {text:?} is invalid"),
                            ),
                        },
                    },
                    other => self.invalid(
                        &value.pos,
                        format!(
                            "field {inner:?} should be a boolean or a string, got {}",
                            other.type_name()
                        ),
                    ),
                },
                "min_version" => match value.as_str() {
                    Some("1.2") => tls.min_version = TlsVersion::Tls12,
                    Some("1.3") => tls.min_version = TlsVersion::Tls13,
                    Some(v @ ("1.0" | "1.1")) => self.invalid(
                        &value.pos,
                        format!("error parsing tls config: unsupported TLS version: TLS {v}"),
                    ),
                    Some(v) => self.invalid(
                        &value.pos,
                        format!("error parsing tls config: unknown version: {v}"),
                    ),
                    None => self.invalid(
                        &value.pos,
                        format!(
                            "error parsing tls config: 'min_version' wrong type: {}",
                            value.value.type_name()
                        ),
                    ),
                },
                "cipher_suites" | "curve_preferences" => {
                    let curves = lower == "curve_preferences";
                    let Some(items) = value.as_array() else {
                        self.type_error(inner, value, "an array of names");
                        continue;
                    };
                    if items.is_empty() {
                        self.invalid(
                            &value.pos,
                            format!("error parsing tls config, '{lower}' cannot be empty"),
                        );
                        continue;
                    }
                    for item in items {
                        let Some(name) = item.as_str() else {
                            self.type_error(inner, item, "names (strings)");
                            continue;
                        };
                        let known = if curves {
                            crate::tls::kx_group_by_name(name).is_some()
                        } else {
                            crate::tls::cipher_suite_by_name(name).is_some()
                        };
                        if !known {
                            // Positioned at the name, as nats-server does.
                            self.key_pos = None;
                            let message = if curves {
                                crate::tls::unsupported_curve_message(name)
                            } else {
                                crate::tls::unsupported_cipher_suite_message(name)
                            };
                            self.invalid(&item.pos, message);
                            self.key_pos = Some(entry.key_pos.clone());
                            continue;
                        }
                        let list = if curves {
                            &mut tls.curve_preferences
                        } else {
                            &mut tls.cipher_suites
                        };
                        list.push(name.to_string());
                    }
                }
                _ if UNSUPPORTED_TLS_KEYS.contains(&lower.as_str()) => {
                    self.unsupported(entry, &format!("{key}.{inner}"))
                }
                _ => self.invalid(
                    &value.pos,
                    format!("error parsing tls config, unknown field [{inner:?}]"),
                ),
            }
        }
        self.key_pos = outer_key_pos;
        if self.errors.len() > errors_before {
            return;
        }
        match (cert_file, key_file) {
            (Some(cert), Some(key)) => {
                tls.cert_file = cert;
                tls.key_file = key;
                tls.ca_file = ca_file;
                self.options.tls = Some(tls);
            }
            (None, _) => self.invalid(
                &value.pos,
                "missing 'cert_file' in TLS configuration".to_string(),
            ),
            (_, None) => self.invalid(
                &value.pos,
                "missing 'key_file' in TLS configuration".to_string(),
            ),
        }
    }
}

/// The `--tls*` flags as given; `None` = not given.
#[derive(Debug, Default)]
pub(in crate::config) struct TlsFlags {
    pub tls: Option<bool>,
    pub verify: Option<bool>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub ca_cert: Option<String>,
}

/// nats-server's `overrideTLS`: any `--tls*` flag replaces the file's `tls` block with one
/// built from the flags alone (keeping the file's timeout); `--tls=false` turns TLS off.
pub(in crate::config) fn apply_tls_flags(
    options: &mut super::Options,
    flags: &TlsFlags,
) -> Result<(), crate::config::ConfigError> {
    if flags.tls == Some(false) {
        options.tls = None;
        return Ok(());
    }
    let given = flags.tls.is_some()
        || flags.verify.is_some()
        || flags.cert.is_some()
        || flags.key.is_some()
        || flags.ca_cert.is_some();
    if !given {
        return Ok(());
    }
    let non_empty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(PathBuf::from);
    let Some(cert_file) = non_empty(&flags.cert) else {
        return Err(crate::config::ConfigError::Options(
            "TLS Server certificate must be present and valid".to_string(),
        ));
    };
    let Some(key_file) = non_empty(&flags.key) else {
        return Err(crate::config::ConfigError::Options(
            "TLS Server private key must be present and valid".to_string(),
        ));
    };
    let timeout_ms = options
        .tls
        .as_ref()
        .map_or(TLS_TIMEOUT_MS_DEFAULT, |t| t.timeout_ms);
    options.tls = Some(TlsOptions {
        cert_file,
        key_file,
        ca_file: non_empty(&flags.ca_cert),
        verify: flags.verify == Some(true),
        verify_and_map: false,
        timeout_ms,
        handshake_first: false,
        handshake_first_fallback_ms: None,
        min_version: TlsVersion::Tls12,
        cipher_suites: Vec::new(),
        curve_preferences: Vec::new(),
    });
    Ok(())
}
