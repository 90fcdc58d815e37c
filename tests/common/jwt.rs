//! Makes operator-mode fixtures in tests: NKeys with the `nkeys` crate, JWTs encoded as
//! nats-io/jwt v2 encodes them (header `{"typ":"JWT","alg":"ed25519-nkey"}`, claims with
//! `nats.type` and `nats.version: 2`, Ed25519 over `<header>.<claims>`), `.creds` files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs `claims` (which must hold `sub` and `nats`) as `issuer`; `iss`, `iat` and `jti`
/// are filled in unless given.
pub fn encode(issuer: &KeyPair, mut claims: Value) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let object = claims.as_object_mut().expect("claims object");
    object
        .entry("iss")
        .or_insert_with(|| json!(issuer.public_key()));
    object.entry("iat").or_insert_with(|| json!(now_s()));
    object.entry("jti").or_insert_with(|| {
        json!(format!(
            "JTI{}X{}",
            now_s(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ))
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// `nats` with `type` and `version` added.
fn nats(kind: &str, mut nats: Value) -> Value {
    let object = nats.as_object_mut().expect("nats object");
    object.insert("type".into(), json!(kind));
    object.insert("version".into(), json!(2));
    nats
}

pub fn operator_jwt(operator: &KeyPair, extra: Value) -> String {
    encode(
        operator,
        json!({"sub": operator.public_key(), "name": "op", "nats": nats("operator", extra)}),
    )
}

/// Limits nsc writes for an account with no limits.
pub fn unlimited_account() -> Value {
    json!({"limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                      "wildcards": true, "conn": -1, "leaf": -1}})
}

/// An account JWT: nsc's unlimited limits overlaid with `extra` (top-level `nats` keys).
pub fn account_jwt(signer: &KeyPair, account: &str, extra: Value) -> String {
    let mut body = unlimited_account();
    for (key, value) in extra.as_object().expect("extra object") {
        if key == "limits" {
            let limits = body["limits"].as_object_mut().unwrap();
            for (k, v) in value.as_object().unwrap() {
                limits.insert(k.clone(), v.clone());
            }
        } else {
            body[key] = value.clone();
        }
    }
    encode(
        signer,
        json!({"sub": account, "name": "acct", "nats": nats("account", body)}),
    )
}

/// Limits nsc writes for a user with no limits.
pub fn unlimited_user() -> Value {
    json!({"subs": -1, "data": -1, "payload": -1})
}

/// A user JWT signed by `signer`; `issuer_account` when the signer is a signing key.
/// `extra` overlays nsc's unlimited user (`Value::Null` keeps it as is).
pub fn user_jwt(
    signer: &KeyPair,
    user: &str,
    issuer_account: Option<&str>,
    extra: Value,
    claims_extra: Value,
) -> String {
    let mut body = unlimited_user();
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            body[k] = v.clone();
        }
    }
    if let Some(account) = issuer_account {
        body["issuer_account"] = json!(account);
    }
    let mut claims = json!({"sub": user, "name": "user", "nats": nats("user", body)});
    if let Some(extra) = claims_extra.as_object() {
        for (k, v) in extra {
            claims[k] = v.clone();
        }
    }
    encode(signer, claims)
}

/// A `.creds` file's text, as nats-io/jwt's `FormatUserConfig` writes it.
pub fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// A user of an account: its key pair and JWT.
pub struct User {
    pub key: KeyPair,
    pub jwt: String,
}

impl User {
    pub fn new(signer: &KeyPair, issuer_account: Option<&str>, extra: Value) -> User {
        let key = KeyPair::new_user();
        let jwt = user_jwt(
            signer,
            &key.public_key(),
            issuer_account,
            extra,
            Value::Null,
        );
        User { key, jwt }
    }

    /// Writes the creds file into `dir` and returns its path.
    pub fn write_creds(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.creds"));
        std::fs::write(&path, creds(&self.jwt, &self.key.seed().unwrap())).unwrap();
        path
    }

    /// The CONNECT JSON that signs `nonce`.
    pub fn connect_json(&self, nonce: &str) -> String {
        let sig = URL_SAFE_NO_PAD.encode(self.key.sign(nonce.as_bytes()).unwrap());
        json!({"verbose": false, "pedantic": false, "headers": true, "jwt": self.jwt, "sig": sig})
            .to_string()
    }
}
