//! NATS JWTs (nats-io/jwt v2): decoding, signature and validity checks, and the claims
//! operator mode reads.
//!
//! A JWT is `base64url(header).base64url(claims).base64url(signature)` (raw URL alphabet,
//! no padding). The header must say `{"typ":"JWT","alg":"ed25519-nkey"}`; the signature is
//! the issuer NKey's Ed25519 signature over the ASCII text `<header>.<claims>`. Key decoding
//! and Ed25519 are the `nkeys` crate's; this module only splits, decodes and checks fields.
//!
//! Every input is bounded ([`JWT_BYTES_MAX`]) before anything is decoded, so a hostile
//! CONNECT or resolver file costs at most that much work and memory.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
pub use nkeys::KeyPairType;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::limits::JWT_BYTES_MAX;

/// nats-io/jwt's `jwt.All`: a revocation for every user (or importer).
pub const REVOKE_ALL: &str = "*";
/// nats-io/jwt's `NoLimit`.
pub const NO_LIMIT: i64 = -1;
/// The claims version nats-io/jwt v2 writes; v1 tokens are signed differently and refused.
const CLAIMS_VERSION: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token size {0} exceeds maximum of {JWT_BYTES_MAX} bytes")]
    TooLarge(usize),
    #[error("expected 3 chunks")]
    Chunks,
    #[error("{0} is not valid base64url")]
    Base64(&'static str),
    #[error("invalid header: {0}")]
    Header(String),
    #[error("invalid claims: {0}")]
    Claims(String),
    #[error("unsupported claims version {0}")]
    Version(i64),
    #[error("expected {expected} claims, got {got:?}")]
    Type { expected: &'static str, got: String },
    #[error("issuer {0:?} is not a valid {1} key")]
    Issuer(String, &'static str),
    #[error("subject {0:?} is not a valid {1} key")]
    Subject(String, &'static str),
    #[error("claim failed V2 signature verification")]
    Signature,
    #[error("claim is expired")]
    Expired,
    #[error("claim is not yet valid")]
    NotYetValid,
    #[error("{0}")]
    Invalid(String),
}

/// The claim types operator mode reads, with the keys each must be issued by and about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimType {
    Operator,
    Account,
    User,
    Activation,
    /// Any type and version, issued by and about an operator key (nats-io/jwt's
    /// `DecodeGeneric`, as the resolver's delete request uses it).
    OperatorGeneric,
}

impl ClaimType {
    fn name(self) -> &'static str {
        match self {
            ClaimType::Operator => "operator",
            ClaimType::Account => "account",
            ClaimType::User => "user",
            ClaimType::Activation => "activation",
            ClaimType::OperatorGeneric => "generic",
        }
    }

    /// nats-io/jwt's `ExpectedPrefixes`: operators sign themselves and accounts (directly
    /// or through a signing key, which is also an operator key); accounts sign users and
    /// activations.
    fn issuer_type(self) -> (KeyPairType, &'static str) {
        match self {
            ClaimType::Operator | ClaimType::Account | ClaimType::OperatorGeneric => {
                (KeyPairType::Operator, "operator")
            }
            ClaimType::User | ClaimType::Activation => (KeyPairType::Account, "account"),
        }
    }

    /// What `sub` must be. An activation's subject is the importing account (or `*`, not
    /// accepted here: tern matches activations to one importer).
    fn subject_type(self) -> (KeyPairType, &'static str) {
        match self {
            ClaimType::Operator | ClaimType::OperatorGeneric => (KeyPairType::Operator, "operator"),
            ClaimType::Account | ClaimType::Activation => (KeyPairType::Account, "account"),
            ClaimType::User => (KeyPairType::User, "user"),
        }
    }
}

/// Whether `key` is a well-formed public NKey of `kind` (checksum included).
pub fn is_public_key(key: &str, kind: KeyPairType) -> bool {
    key.len() == 56
        && KeyPair::from_public_key(key).is_ok_and(|pair| {
            std::mem::discriminant(&pair.key_pair_type()) == std::mem::discriminant(&kind)
        })
}

/// Deserializes JSON `null` as the default, as Go's encoding/json leaves a field alone.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The standard claims, with the NATS-specific ones in `nats`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Claims<N: Default> {
    #[serde(deserialize_with = "nullable")]
    pub jti: String,
    #[serde(deserialize_with = "nullable")]
    pub iat: i64,
    #[serde(deserialize_with = "nullable")]
    pub iss: String,
    #[serde(deserialize_with = "nullable")]
    pub sub: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub exp: i64,
    #[serde(deserialize_with = "nullable")]
    pub nbf: i64,
    #[serde(
        bound(deserialize = "N: Deserialize<'de>"),
        deserialize_with = "nullable"
    )]
    pub nats: N,
}

/// `nats.type` and `nats.version`, read before the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Generic {
    #[serde(rename = "type", deserialize_with = "nullable")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    version: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Header {
    #[serde(deserialize_with = "nullable")]
    typ: String,
    #[serde(deserialize_with = "nullable")]
    alg: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OperatorNats {
    #[serde(deserialize_with = "nullable")]
    pub signing_keys: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub system_account: String,
    #[serde(deserialize_with = "nullable")]
    pub assert_server_version: String,
    #[serde(deserialize_with = "nullable")]
    pub strict_signing_key_usage: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Permission {
    #[serde(deserialize_with = "nullable")]
    pub allow: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub deny: Vec<String>,
}

/// `resp`: `max` responses within `ttl` nanoseconds.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ResponsePermission {
    #[serde(deserialize_with = "nullable")]
    pub max: i64,
    #[serde(deserialize_with = "nullable")]
    pub ttl: i64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Permissions {
    #[serde(rename = "pub", deserialize_with = "nullable")]
    pub publish: Permission,
    #[serde(rename = "sub", deserialize_with = "nullable")]
    pub subscribe: Permission,
    pub resp: Option<ResponsePermission>,
}

impl Permissions {
    pub fn is_empty(&self) -> bool {
        *self == Permissions::default()
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TimeRange {
    #[serde(deserialize_with = "nullable")]
    pub start: String,
    #[serde(deserialize_with = "nullable")]
    pub end: String,
}

/// `src`: an array of CIDRs, or (older tokens) one comma-separated string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrList(pub Vec<String>);

impl<'de> Deserialize<'de> for CidrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            List(Vec<String>),
            Text(String),
        }
        Ok(match Option::<Either>::deserialize(deserializer)? {
            None => CidrList(Vec::new()),
            Some(Either::List(list)) => CidrList(list),
            Some(Either::Text(text)) => CidrList(
                text.to_ascii_lowercase()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
        })
    }
}

/// What a user JWT (or a scoped signing key's template) says about a user.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserPermissionLimits {
    #[serde(rename = "pub", deserialize_with = "nullable")]
    pub publish: Permission,
    #[serde(rename = "sub", deserialize_with = "nullable")]
    pub subscribe: Permission,
    pub resp: Option<ResponsePermission>,
    #[serde(deserialize_with = "nullable")]
    pub src: CidrList,
    #[serde(deserialize_with = "nullable")]
    pub times: Vec<TimeRange>,
    #[serde(deserialize_with = "nullable")]
    pub times_location: String,
    /// Absent means 0, as in nats-io/jwt (its tools write -1 for "no limit").
    #[serde(deserialize_with = "nullable")]
    pub subs: i64,
    #[serde(deserialize_with = "nullable")]
    pub data: i64,
    #[serde(deserialize_with = "nullable")]
    pub payload: i64,
    #[serde(deserialize_with = "nullable")]
    pub bearer_token: bool,
    #[serde(deserialize_with = "nullable")]
    pub allowed_connection_types: Vec<String>,
}

impl UserPermissionLimits {
    pub fn permissions(&self) -> Permissions {
        Permissions {
            publish: self.publish.clone(),
            subscribe: self.subscribe.clone(),
            resp: self.resp,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserNats {
    #[serde(flatten)]
    pub limits: UserPermissionLimits,
    #[serde(deserialize_with = "nullable")]
    pub issuer_account: String,
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
}

/// An account's JetStream limits (`nats.limits`), kept for per-account JetStream. Absent
/// fields are 0; -1 is "no limit"; memory and disk storage both 0 means JetStream is off
/// for the account (nats-server's reading).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JetStreamLimits {
    #[serde(deserialize_with = "nullable")]
    pub mem_storage: i64,
    #[serde(deserialize_with = "nullable")]
    pub disk_storage: i64,
    #[serde(deserialize_with = "nullable")]
    pub streams: i64,
    #[serde(deserialize_with = "nullable")]
    pub consumer: i64,
    #[serde(deserialize_with = "nullable")]
    pub max_ack_pending: i64,
    #[serde(deserialize_with = "nullable")]
    pub mem_max_stream_bytes: i64,
    #[serde(deserialize_with = "nullable")]
    pub disk_max_stream_bytes: i64,
    #[serde(deserialize_with = "nullable")]
    pub max_bytes_required: bool,
}

impl JetStreamLimits {
    pub fn enabled(&self) -> bool {
        self.mem_storage != 0 || self.disk_storage != 0
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    #[serde(deserialize_with = "nullable")]
    pub subs: i64,
    #[serde(deserialize_with = "nullable")]
    pub data: i64,
    #[serde(deserialize_with = "nullable")]
    pub payload: i64,
    #[serde(deserialize_with = "nullable")]
    pub imports: i64,
    #[serde(deserialize_with = "nullable")]
    pub exports: i64,
    #[serde(deserialize_with = "nullable")]
    pub wildcards: bool,
    #[serde(deserialize_with = "nullable")]
    pub disallow_bearer: bool,
    #[serde(deserialize_with = "nullable")]
    pub conn: i64,
    #[serde(deserialize_with = "nullable")]
    pub leaf: i64,
    #[serde(flatten)]
    pub jetstream: JetStreamLimits,
    /// Per replication tier (`R1`, `R3`); tern runs one server, so `R1` is what applies.
    #[serde(deserialize_with = "nullable")]
    pub tiered_limits: HashMap<String, JetStreamLimits>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Export {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub subject: String,
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub token_req: bool,
    #[serde(deserialize_with = "nullable")]
    pub revocations: HashMap<String, i64>,
    #[serde(deserialize_with = "nullable")]
    pub response_type: String,
    /// Nanoseconds.
    #[serde(deserialize_with = "nullable")]
    pub response_threshold: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Import {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub subject: String,
    #[serde(deserialize_with = "nullable")]
    pub account: String,
    #[serde(deserialize_with = "nullable")]
    pub token: String,
    #[serde(deserialize_with = "nullable")]
    pub to: String,
    #[serde(deserialize_with = "nullable")]
    pub local_subject: String,
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: String,
}

/// One entry of an account's `signing_keys`: a key, or a scoped key whose users get the
/// template's permissions and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub key: String,
    pub scope: Option<UserPermissionLimits>,
}

/// `signing_keys`: strings, or `{kind: "user_scope", key, role, template}` objects.
#[derive(Debug, Clone, Default)]
pub struct SigningKeys(pub Vec<SigningKey>);

impl<'de> Deserialize<'de> for SigningKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Scoped {
            #[serde(default)]
            kind: String,
            #[serde(default)]
            key: String,
            #[serde(default, deserialize_with = "nullable")]
            template: UserPermissionLimits,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Key(String),
            Scoped(Box<Scoped>),
        }
        let entries = Option::<Vec<Entry>>::deserialize(deserializer)?.unwrap_or_default();
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            keys.push(match entry {
                Entry::Key(key) => SigningKey { key, scope: None },
                Entry::Scoped(scoped) if scoped.kind == "user_scope" => SigningKey {
                    key: scoped.key,
                    scope: Some(scoped.template),
                },
                Entry::Scoped(scoped) => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown signing key scope {:?}",
                        scoped.kind
                    )))
                }
            });
        }
        Ok(SigningKeys(keys))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountNats {
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub imports: Vec<Import>,
    #[serde(deserialize_with = "nullable")]
    pub exports: Vec<Export>,
    #[serde(deserialize_with = "nullable")]
    pub limits: AccountLimits,
    pub signing_keys: SigningKeys,
    #[serde(deserialize_with = "nullable")]
    pub revocations: HashMap<String, i64>,
    #[serde(deserialize_with = "nullable")]
    pub default_permissions: Permissions,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActivationNats {
    #[serde(deserialize_with = "nullable")]
    pub subject: String,
    #[serde(rename = "kind", deserialize_with = "nullable")]
    pub import_type: String,
    #[serde(deserialize_with = "nullable")]
    pub issuer_account: String,
}

pub type OperatorClaims = Claims<OperatorNats>;
pub type AccountClaims = Claims<AccountNats>;
pub type UserClaims = Claims<UserNats>;
pub type ActivationClaims = Claims<ActivationNats>;

/// The resolver's delete request: `nats.accounts` lists the accounts to delete.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeleteNats {
    #[serde(deserialize_with = "nullable")]
    pub accounts: Vec<String>,
}

/// Seconds since the Unix epoch.
pub fn now_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn decode_part(text: &str, what: &'static str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwtError::Base64(what))
}

/// Decodes `token` as claims of `expected`, checking header, type, version, issuer and
/// subject key kinds and the issuer's signature. Times are not checked here (see
/// [`check_times`]): an expired account JWT is still an account, with expired users.
pub fn decode<N: DeserializeOwned + Default>(
    token: &str,
    expected: ClaimType,
) -> Result<Claims<N>, JwtError> {
    let token = token.trim();
    if token.len() > JWT_BYTES_MAX {
        return Err(JwtError::TooLarge(token.len()));
    }
    let mut chunks = token.split('.');
    let (Some(header), Some(body), Some(sig), None) =
        (chunks.next(), chunks.next(), chunks.next(), chunks.next())
    else {
        return Err(JwtError::Chunks);
    };
    let header: Header = serde_json::from_slice(&decode_part(header, "header")?)
        .map_err(|e| JwtError::Header(e.to_string()))?;
    if !header.typ.eq_ignore_ascii_case("JWT") {
        return Err(JwtError::Header(format!(
            "not supported type {:?}",
            header.typ
        )));
    }
    if !matches!(
        header.alg.to_ascii_lowercase().as_str(),
        "ed25519-nkey" | "ed25519"
    ) {
        return Err(JwtError::Header(format!(
            "unexpected {:?} algorithm",
            header.alg
        )));
    }
    let body_bytes = decode_part(body, "claims")?;
    let generic: Claims<Generic> =
        serde_json::from_slice(&body_bytes).map_err(|e| JwtError::Claims(e.to_string()))?;
    if generic.nats.version != CLAIMS_VERSION && expected != ClaimType::OperatorGeneric {
        return Err(JwtError::Version(generic.nats.version));
    }
    if generic.nats.kind != expected.name() && expected != ClaimType::OperatorGeneric {
        return Err(JwtError::Type {
            expected: expected.name(),
            got: generic.nats.kind,
        });
    }
    let claims: Claims<N> =
        serde_json::from_slice(&body_bytes).map_err(|e| JwtError::Claims(e.to_string()))?;
    let (issuer_kind, issuer_name) = expected.issuer_type();
    if !is_public_key(&claims.iss, issuer_kind) {
        return Err(JwtError::Issuer(claims.iss.clone(), issuer_name));
    }
    let (subject_kind, subject_name) = expected.subject_type();
    if !is_public_key(&claims.sub, subject_kind) {
        return Err(JwtError::Subject(claims.sub.clone(), subject_name));
    }
    let signature = decode_part(sig, "signature")?;
    let signed = &token[..header_len(token) + 1 + body.len()];
    KeyPair::from_public_key(&claims.iss)
        .and_then(|issuer| issuer.verify(signed.as_bytes(), &signature))
        .map_err(|_| JwtError::Signature)?;
    Ok(claims)
}

fn header_len(token: &str) -> usize {
    token.find('.').unwrap_or(token.len())
}

/// nats-io/jwt's time checks: expired once `exp` has passed, not valid before `nbf`.
pub fn check_times<N: Default>(claims: &Claims<N>, now_s: i64) -> Result<(), JwtError> {
    if claims.exp > 0 && now_s > claims.exp {
        return Err(JwtError::Expired);
    }
    if claims.nbf > 0 && claims.nbf > now_s {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// nats-server's `isRevoked`: revoked when the subject (or `*`) was revoked at or after
/// the moment the JWT was issued.
pub fn is_revoked(revocations: &HashMap<String, i64>, subject: &str, issued_at_s: i64) -> bool {
    [subject, REVOKE_ALL]
        .iter()
        .any(|key| revocations.get(*key).is_some_and(|at| *at >= issued_at_s))
}

/// A parsed `src` CIDR (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix_bits: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, bits) = text.trim().split_once('/')?;
        let network: IpAddr = ip.parse().ok()?;
        let prefix_bits: u8 = bits.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix_bits <= max).then_some(Cidr {
            network,
            prefix_bits,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (!0u128) << (width - bits)
            }
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask(self.prefix_bits as u32, 32) as u32;
                u32::from(net) & m == u32::from(ip) & m
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask(self.prefix_bits as u32, 128);
                u128::from(net) & m == u128::from(ip) & m
            }
            _ => false,
        }
    }
}

/// Seconds since midnight of `HH:MM:SS`.
fn clock_seconds(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m, s): (i64, i64, i64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

/// nats-server's `validateTimes`, in UTC: `Ok(None)` when there are no time ranges,
/// `Ok(Some(seconds left))` inside one, `Err` outside every range or when a range can not
/// be read. A range whose start is after its end runs over midnight.
pub fn time_window_left_s(ranges: &[TimeRange], now_s: i64) -> Result<Option<i64>, OutsideTimes> {
    if ranges.is_empty() {
        return Ok(None);
    }
    let day = 86_400;
    let since_midnight = now_s.rem_euclid(day);
    for range in ranges {
        let (Some(start), Some(end)) = (clock_seconds(&range.start), clock_seconds(&range.end))
        else {
            return Err(OutsideTimes);
        };
        let end = if start > end { end + day } else { end };
        // Today's window, or yesterday's if it runs over midnight into today.
        for offset in [0, day] {
            let now = since_midnight + offset;
            if start < now && now < end {
                return Ok(Some(end - now));
            }
        }
    }
    Err(OutsideTimes)
}

/// Now is in none of a user's connect-time ranges (or one can not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("outside connect times")]
pub struct OutsideTimes;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(issuer: &KeyPair, claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{body}");
        let sig = issuer.sign(signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn a_user_jwt_decodes_and_tampering_fails() {
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let token = encode(
            &account,
            json!({"iss": account.public_key(), "sub": user.public_key(), "iat": 10,
                   "nats": {"type": "user", "version": 2, "pub": {"allow": ["a.>"]},
                            "subs": -1, "src": "10.0.0.0/8, 127.0.0.1/32"}}),
        );
        let claims: UserClaims = decode(&token, ClaimType::User).unwrap();
        assert_eq!(claims.sub, user.public_key());
        assert_eq!(claims.nats.limits.publish.allow, vec!["a.>"]);
        assert_eq!(claims.nats.limits.subs, -1);
        assert_eq!(claims.nats.limits.src.0.len(), 2);
        assert!(matches!(
            decode::<AccountNats>(&token, ClaimType::Account),
            Err(JwtError::Type { .. })
        ));
        // Another key's signature, a flipped claims byte, missing or extra chunks.
        let forged = encode(
            &KeyPair::new_account(),
            json!({"iss": account.public_key(), "sub": user.public_key(),
                   "nats": {"type": "user", "version": 2}}),
        );
        assert_eq!(
            decode::<UserNats>(&forged, ClaimType::User).unwrap_err(),
            JwtError::Signature
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut body = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
        body[5] ^= 1;
        parts[1] = URL_SAFE_NO_PAD.encode(body);
        assert!(decode::<UserNats>(&parts.join("."), ClaimType::User).is_err());
        assert_eq!(
            decode::<UserNats>("a.b", ClaimType::User).unwrap_err(),
            JwtError::Chunks
        );
        assert!(decode::<UserNats>(&format!("{token}.x"), ClaimType::User).is_err());
        assert!(matches!(
            decode::<UserNats>(&"e".repeat(JWT_BYTES_MAX + 1), ClaimType::User),
            Err(JwtError::TooLarge(_))
        ));
    }

    #[test]
    fn wrong_key_kinds_and_versions_are_refused() {
        let account = KeyPair::new_account();
        let operator = KeyPair::new_operator();
        // A user issued by an operator key.
        let token = encode(
            &operator,
            json!({"iss": operator.public_key(), "sub": KeyPair::new_user().public_key(),
                   "nats": {"type": "user", "version": 2}}),
        );
        assert!(matches!(
            decode::<UserNats>(&token, ClaimType::User),
            Err(JwtError::Issuer(..))
        ));
        let v1 = encode(
            &account,
            json!({"iss": account.public_key(), "sub": KeyPair::new_user().public_key(),
                   "nats": {"type": "user", "version": 1}}),
        );
        assert_eq!(
            decode::<UserNats>(&v1, ClaimType::User).unwrap_err(),
            JwtError::Version(1)
        );
    }

    #[test]
    fn signing_keys_read_both_forms() {
        let keys: SigningKeys = serde_json::from_value(json!([
            "AKEY",
            {"kind": "user_scope", "key": "ASCOPED", "role": "r",
             "template": {"pub": {"allow": ["x"]}, "subs": 3}}
        ]))
        .unwrap();
        assert_eq!(keys.0[0].key, "AKEY");
        assert_eq!(keys.0[0].scope, None);
        let scope = keys.0[1].scope.as_ref().unwrap();
        assert_eq!(scope.publish.allow, vec!["x"]);
        assert_eq!(scope.subs, 3);
        assert!(serde_json::from_value::<SigningKeys>(json!([{"kind": "other"}])).is_err());
    }

    #[test]
    fn revocations_times_and_cidrs() {
        let mut revoked = HashMap::new();
        revoked.insert("U1".to_string(), 100);
        assert!(is_revoked(&revoked, "U1", 100));
        assert!(is_revoked(&revoked, "U1", 99));
        assert!(!is_revoked(&revoked, "U1", 101));
        assert!(!is_revoked(&revoked, "U2", 1));
        revoked.insert(REVOKE_ALL.to_string(), 50);
        assert!(is_revoked(&revoked, "U2", 50));
        assert!(!is_revoked(&revoked, "U2", 51));

        let net = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(net.contains("127.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!net.contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert_eq!(Cidr::parse("1.2.3.4/33"), None);
        assert_eq!(Cidr::parse("1.2.3.4"), None);

        let range = |s: &str, e: &str| TimeRange {
            start: s.into(),
            end: e.into(),
        };
        let noon = 12 * 3600;
        assert_eq!(time_window_left_s(&[], noon), Ok(None));
        assert_eq!(
            time_window_left_s(&[range("11:00:00", "13:00:00")], noon),
            Ok(Some(3600))
        );
        assert!(time_window_left_s(&[range("13:00:00", "14:00:00")], noon).is_err());
        // Over midnight: 22:00 to 02:00 includes 01:00 and 23:00.
        let night = [range("22:00:00", "02:00:00")];
        assert_eq!(time_window_left_s(&night, 3600), Ok(Some(3600)));
        assert_eq!(time_window_left_s(&night, 23 * 3600), Ok(Some(3 * 3600)));
        assert!(time_window_left_s(&night, noon).is_err());
        assert!(time_window_left_s(&[range("x", "13:00:00")], noon).is_err());
    }
}
