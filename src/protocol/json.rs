//! The JSON carried by INFO (server to client) and CONNECT (client to server).
//!
//! nats-server decodes with Go's `encoding/json` into a struct pre-filled with defaults,
//! so CONNECT decoding here follows Go rather than serde's defaults: keys match
//! case-insensitively, a repeated key overwrites the earlier one, `null` leaves the
//! default in place, unknown keys are ignored, a top-level `null` means "all defaults",
//! and any other non-object or mistyped value is an error that closes the connection.

use std::io;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::error::ProtocolError;

/// The `INFO` JSON, field for field as nats-server's `server.Info` serializes it (same key
/// order). Fields Go marks `omitempty` are `Option`s, bools or lists here, and are left out
/// when `None`, empty, false or zero, exactly as Go leaves them out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    /// Unique server id (an NKey public key in nats-server, `N...`).
    pub server_id: String,
    /// Configured name; nats-server uses the id when none is set.
    pub server_name: String,
    /// Semver; clients gate features on it.
    pub version: String,
    /// Protocol level, 1 for servers that send async INFO.
    pub proto: i32,
    /// Build commit.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub git_commit: Option<String>,
    /// Go version in nats-server; always present, clients ignore it.
    pub go: String,
    /// Client listen host.
    pub host: String,
    /// Client listen port.
    pub port: u16,
    /// HPUB/HMSG supported.
    pub headers: bool,
    /// The client must authenticate in CONNECT.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS must follow this INFO.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// A client certificate is required.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// TLS is optional.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Largest message (headers included) the server accepts (Go's `int32`).
    pub max_payload: i64,
    /// JetStream is enabled.
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// Server-side connection id (`cid`).
    #[serde(skip_serializing_if = "is_none_or_zero")]
    pub client_id: Option<u64>,
    /// Peer address as the server sees it.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub client_ip: Option<String>,
    /// Challenge to sign for NKey/JWT authentication.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub nonce: Option<String>,
    /// Cluster name.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub cluster: Option<String>,
    /// The cluster name was generated, not configured.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// JetStream domain.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub domain: Option<String>,
    /// `host:port` of cluster members, for reconnects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Websocket URLs of cluster members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    /// The server is in lame duck mode.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Set on the INFO that answers the first PING after CONNECT.
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    /// Account the client is bound to.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub remote_account: Option<String>,
    /// That account is the system account.
    #[serde(skip_serializing_if = "is_false")]
    pub acc_is_sys: bool,
    /// JetStream API level.
    #[serde(skip_serializing_if = "is_none_or_zero")]
    pub api_lvl: Option<u64>,
    /// Server x25519 public key (auth callout).
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub xkey: Option<String>,
}

impl ServerInfo {
    /// Appends `INFO {...} \r\n`. The space before CRLF is nats-server's own
    /// (`generateInfoJSON` joins "INFO", the JSON and CRLF with spaces).
    pub fn write_info(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        write_go_json(out, self);
        out.extend_from_slice(b" \r\n");
    }

    /// Decodes INFO JSON (the bench tool reads the server's; nats-server also decodes a
    /// client's, closing the connection if it does not parse). Unknown keys are ignored.
    pub fn from_json(json: &[u8]) -> Result<Self, ProtocolError> {
        serde_json::from_slice(json).map_err(|err| ProtocolError::InvalidInfoJson {
            reason: err.to_string(),
        })
    }
}

/// The `CONNECT` JSON (nats-server `ClientOpts`). Absent keys keep nats-server's
/// defaults: `verbose`, `pedantic` and `echo` true, everything else false, `None` or 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectOptions {
    /// Acknowledge every accepted op with `+OK`.
    pub verbose: bool,
    /// Check publish subjects (`-ERR 'Invalid Publish Subject'`).
    pub pedantic: bool,
    /// Informational.
    pub tls_required: bool,
    /// Token authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User/password authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// User/password authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// NKey public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Signature of the INFO nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// User JWT (operator mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Client name, shown in monitoring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client library language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Client library version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// 0 = original protocol, 1 = accepts async INFO; Go's `int`, so any i64 decodes and
    /// [`ConnectOptions::validate`] rejects the rest.
    pub protocol: i64,
    /// Deliver this connection's own publications to its own subscriptions.
    pub echo: bool,
    /// The client understands HPUB/HMSG.
    #[serde(skip_serializing_if = "is_false")]
    pub headers: bool,
    /// The client wants 503 status messages when a request has no responders.
    #[serde(skip_serializing_if = "is_false")]
    pub no_responders: bool,
    /// Legacy account designation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Legacy account creation request.
    #[serde(skip_serializing_if = "is_false")]
    pub new_account: bool,
}

impl Default for ConnectOptions {
    /// nats-server's `defaultOpts`, also used when a client never sends CONNECT.
    fn default() -> Self {
        Self {
            verbose: true,
            pedantic: true,
            tls_required: false,
            auth_token: None,
            user: None,
            pass: None,
            nkey: None,
            sig: None,
            jwt: None,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            echo: true,
            headers: false,
            no_responders: false,
            account: None,
            new_account: false,
        }
    }
}

impl ConnectOptions {
    /// Decodes the argument of CONNECT. An error closes the connection without `-ERR`.
    pub fn from_json(json: &[u8]) -> Result<Self, ProtocolError> {
        let decoded: Option<Self> =
            serde_json::from_slice(json).map_err(|err| ProtocolError::InvalidConnectJson {
                reason: err.to_string(),
            })?;
        Ok(decoded.unwrap_or_default())
    }

    /// nats-server's post-authentication checks of a client CONNECT, in its order.
    /// `server_supports_headers` is the server's own `headers` setting: headers count only
    /// when both sides support them.
    pub fn validate(&self, server_supports_headers: bool) -> Result<(), ProtocolError> {
        if !(0..=1).contains(&self.protocol) {
            return Err(ProtocolError::InvalidClientProtocol {
                protocol: self.protocol,
            });
        }
        if self.no_responders && !(self.headers && server_supports_headers) {
            return Err(ProtocolError::NoRespondersRequiresHeaders);
        }
        Ok(())
    }

    /// Appends `CONNECT {...}\r\n` as a client sends it.
    pub fn write_connect(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CONNECT ");
        write_go_json(out, self);
        out.extend_from_slice(b"\r\n");
    }
}

impl<'de> Deserialize<'de> for ConnectOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ConnectVisitor)
    }
}

struct ConnectVisitor;

impl<'de> Visitor<'de> for ConnectVisitor {
    type Value = ConnectOptions;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a CONNECT options object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConnectOptions, A::Error> {
        let mut options = ConnectOptions::default();
        while let Some(key) = map.next_key::<String>()? {
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "verbose" => keep_or_set(&mut options.verbose, map.next_value()?),
                "pedantic" => keep_or_set(&mut options.pedantic, map.next_value()?),
                "tls_required" => keep_or_set(&mut options.tls_required, map.next_value()?),
                "auth_token" => set_some(&mut options.auth_token, map.next_value()?),
                "user" => set_some(&mut options.user, map.next_value()?),
                "pass" => set_some(&mut options.pass, map.next_value()?),
                "nkey" => set_some(&mut options.nkey, map.next_value()?),
                "sig" => set_some(&mut options.sig, map.next_value()?),
                "jwt" => set_some(&mut options.jwt, map.next_value()?),
                "name" => set_some(&mut options.name, map.next_value()?),
                "lang" => set_some(&mut options.lang, map.next_value()?),
                "version" => set_some(&mut options.version, map.next_value()?),
                "protocol" => keep_or_set(&mut options.protocol, map.next_value()?),
                "echo" => keep_or_set(&mut options.echo, map.next_value()?),
                "headers" => keep_or_set(&mut options.headers, map.next_value()?),
                "no_responders" => keep_or_set(&mut options.no_responders, map.next_value()?),
                "account" => set_some(&mut options.account, map.next_value()?),
                "new_account" => keep_or_set(&mut options.new_account, map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(options)
    }
}

/// Go leaves a field untouched when the JSON value is `null`.
fn keep_or_set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn set_some<T>(field: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *field = value;
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_none_or_empty(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

fn is_none_or_zero(value: &Option<u64>) -> bool {
    value.is_none_or(|value| value == 0)
}

/// Serializes `value` as Go's `json.Marshal` would (see [`GoEscapes`]).
fn write_go_json<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, GoEscapes);
    // Invariant: only ServerInfo and ConnectOptions come here; their fields are strings,
    // bools, integers and string lists, which always serialize, and a Vec<u8> writer
    // cannot fail.
    value
        .serialize(&mut serializer)
        .expect("plain structs serialize into a Vec without error");
}

/// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings (to be safe
/// in HTML and JavaScript); serde_json does not. Clients do not care, but INFO bytes are
/// meant to match nats-server's.
struct GoEscapes;

impl serde_json::ser::Formatter for GoEscapes {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut rest = fragment;
        while let Some(index) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}']) {
            let (plain, tail) = rest.split_at(index);
            writer.write_all(plain.as_bytes())?;
            let mut chars = tail.chars();
            if let Some(special) = chars.next() {
                write!(writer, "\\u{:04x}", u32::from(special))?;
            }
            rest = chars.as_str();
        }
        writer.write_all(rest.as_bytes())
    }
}
