//! The account JWT resolver's `$SYS` services, as nats-server's full and cache resolvers
//! (`DirAccResolver.Start`) answer them in the system account:
//! - `$SYS.REQ.CLAIMS.UPDATE` and `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE` (and the older
//!   `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE`): the payload is an account JWT (what `nsc push`
//!   sends). A valid, trusted, not older JWT is stored as `<dir>/<key>.jwt` and installed as
//!   a new authentication version: the account appears (or its users, limits, exports and
//!   revocations change) on every core, and connections it no longer admits are closed.
//! - `$SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP`: answered with the account's JWT.
//! - `$SYS.REQ.CLAIMS.LIST`: the stored accounts' keys.
//! - `$SYS.REQ.CLAIMS.DELETE` (with `allow_delete`): a JWT self-signed by a trusted
//!   operator key whose `nats.accounts` lists accounts to delete; their files are renamed
//!   `<key>.jwt.deleted` (nats-server's rename mode) and their connections cut off.
//!
//! Every core subscribes in one queue group, so a request is answered by one core and a
//! client never waits for another core's interest to reach its own. Storing a JWT is a
//! small synchronous file write on the answering core; claim updates are rare
//! administrative events.

use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use bytes::Bytes;
use serde_json::json;

use super::client::InternalMessage;
use super::internal::InternalClient;
use super::shard::ShardState;
use crate::config::auth::ResolverConfig;

const UPDATE: &str = "$SYS.REQ.CLAIMS.UPDATE";
const ACCOUNT_UPDATE: &str = "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE";
const ACCOUNT_UPDATE_OLD: &str = "$SYS.ACCOUNT.*.CLAIMS.UPDATE";
const ACCOUNT_LOOKUP: &str = "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP";
const LIST: &str = "$SYS.REQ.CLAIMS.LIST";
const DELETE: &str = "$SYS.REQ.CLAIMS.DELETE";

/// The queue group of the services' subscriptions: one core answers each request.
const QUEUE: &str = "_claims_";

/// Starts this core's share of the services when operator mode runs a directory resolver.
pub fn start(state: &Rc<ShardState>) {
    let auth = state.auth();
    let Some(mode) = auth.operator() else {
        return;
    };
    let ResolverConfig::Dir {
        dir, allow_delete, ..
    } = mode.resolver().clone()
    else {
        return;
    };
    let client = InternalClient::new(state, auth.system_account());
    let weak_state: Weak<ShardState> = Rc::downgrade(state);
    let weak_client: Weak<InternalClient> = Rc::downgrade(&client);
    for subject in [
        UPDATE,
        ACCOUNT_UPDATE,
        ACCOUNT_UPDATE_OLD,
        ACCOUNT_LOOKUP,
        LIST,
        DELETE,
    ] {
        let (state, client_ref, dir) = (weak_state.clone(), weak_client.clone(), dir.clone());
        let subscribed = client.subscribe(subject, Some(QUEUE), move |message| {
            let (Some(state), Some(client)) = (state.upgrade(), client_ref.upgrade()) else {
                return;
            };
            match subject {
                ACCOUNT_LOOKUP => lookup(&state, &client, &message),
                LIST => list(&state, &client, &dir, &message),
                DELETE => delete(&state, &client, &dir, allow_delete, &message),
                _ => update(&state, &client, &dir, subject, &message),
            }
        });
        if let Err(error) = subscribed {
            tracing::error!("can not serve {subject}: {error:?}");
        }
    }
    state.services.borrow_mut().push(client);
}

/// The payload without headers, as text.
fn payload(message: &InternalMessage) -> String {
    let body = &message.body[message.header_len.unwrap_or(0).min(message.body.len())..];
    String::from_utf8_lossy(body).trim().to_string()
}

/// The `<key>` token of `$SYS.REQ.ACCOUNT.<key>.CLAIMS.*` or `$SYS.ACCOUNT.<key>.CLAIMS.*`.
fn subject_account(subject: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(subject).ok()?;
    let tokens: Vec<&str> = text.split('.').collect();
    match tokens.as_slice() {
        ["$SYS", "REQ", "ACCOUNT", key, "CLAIMS", _] | ["$SYS", "ACCOUNT", key, "CLAIMS", _] => {
            Some(key.to_string())
        }
        _ => None,
    }
}

fn update(
    state: &Rc<ShardState>,
    client: &Rc<InternalClient>,
    dir: &Path,
    pattern: &str,
    message: &InternalMessage,
) {
    let token = payload(message);
    // A version installed by an earlier request (on this core or another) applies first.
    state.sync_auth();
    let auth = state.auth();
    let Some(mode) = auth.operator() else {
        return;
    };
    let claims = match mode.validate_account_jwt(&token) {
        Ok(claims) => claims,
        Err(error) => {
            return respond(
                state,
                client,
                message,
                "n/a",
                Err(format!("jwt update resulted in error - {error}")),
            )
        }
    };
    let key = claims.sub.clone();
    if pattern != UPDATE && subject_account(&message.subject).as_deref() != Some(key.as_str()) {
        return respond(
            state,
            client,
            message,
            &key,
            Err("jwt update resulted in error - subject does not match jwt content".to_string()),
        );
    }
    // Validated again and stored under the update lock: of two updates racing on two
    // cores, the newer JWT is the one installed and left on disk.
    let installed = state.shared.update_auth(|current| {
        let (next, _) = current.with_account_jwt(&token)?;
        store(dir, &key, &token, state.id).map_err(|e| e.to_string())?;
        Ok(next)
    });
    match installed {
        Ok(version) => {
            // nats-server configures the account's JetStream before it answers.
            let (state, client, message) = (state.clone(), client.clone(), message.clone());
            shards::task::spawn(async move {
                crate::jetstream::accounts::apply_auth(&state, version).await;
                respond(&state, &client, &message, &key, Ok("jwt updated"));
            });
        }
        Err(error) => respond(
            state,
            client,
            message,
            &key,
            Err(format!("jwt update resulted in error - {error}")),
        ),
    }
}

/// Writes `<dir>/<key>.jwt` through a temporary file (one per core, as two cores may
/// store the same account at once), so a crash never leaves half a JWT.
fn store(dir: &Path, key: &str, token: &str, core: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path: PathBuf = dir.join(format!("{key}.jwt"));
    let temp = dir.join(format!(".{key}.jwt.{core}.tmp"));
    std::fs::write(&temp, token)?;
    std::fs::rename(&temp, &path)
}

fn lookup(state: &Rc<ShardState>, client: &InternalClient, message: &InternalMessage) {
    let Some(reply) = message.reply.clone() else {
        return;
    };
    let Some(key) = subject_account(&message.subject) else {
        return;
    };
    // A version installed by an earlier request (on this core or another) applies first.
    state.sync_auth();
    let auth = state.auth();
    let Some(token) = auth
        .operator()
        .and_then(|mode| mode.account(&key))
        .map(|account| account.token.clone())
    else {
        tracing::debug!("account JWT lookup of {key}: not known");
        return;
    };
    client.publish(reply, None, None, Bytes::from(token));
}

/// The account keys stored in `dir`.
fn stored_keys(dir: &Path) -> Vec<String> {
    let mut keys: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .take(crate::limits::RESOLVER_DIR_FILES_MAX)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let key = name.strip_suffix(".jwt")?;
                    crate::auth::jwt::is_public_key(key, crate::auth::jwt::KeyPairType::Account)
                        .then(|| key.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

fn list(state: &ShardState, client: &InternalClient, dir: &Path, message: &InternalMessage) {
    let Some(reply) = message.reply.clone() else {
        return;
    };
    let response = json!({"server": server_info(state), "data": stored_keys(dir)});
    client.publish(reply, None, None, Bytes::from(response.to_string()));
}

fn delete(
    state: &Rc<ShardState>,
    client: &InternalClient,
    dir: &Path,
    allow_delete: bool,
    message: &InternalMessage,
) {
    use crate::auth::jwt::{decode, ClaimType, DeleteNats};
    // A version installed by an earlier request (on this core or another) applies first.
    state.sync_auth();
    let auth = state.auth();
    let Some(mode) = auth.operator() else {
        return;
    };
    let request = decode::<DeleteNats>(&payload(message), ClaimType::OperatorGeneric);
    let by = request.as_ref().map(|r| r.sub.clone()).unwrap_or_default();
    let checked = match &request {
        Err(error) => Err(error.to_string()),
        Ok(_) if !allow_delete => Err("delete must be enabled in server config".to_string()),
        Ok(request) if request.sub != request.iss => Err("not self signed".to_string()),
        Ok(request) if !mode.trusts(&request.iss) => Err("not trusted".to_string()),
        Ok(request)
            if request.nats.accounts.is_empty()
                || request.nats.accounts.iter().any(|k| {
                    !crate::auth::jwt::is_public_key(k, crate::auth::jwt::KeyPairType::Account)
                }) =>
        {
            Err("malformed request".to_string())
        }
        Ok(request)
            if request
                .nats
                .accounts
                .iter()
                .any(|k| k == mode.system_account_name()) =>
        {
            Err("not allowed to delete system account".to_string())
        }
        Ok(request) => Ok(request.nats.accounts.clone()),
    };
    let keys = match checked {
        Ok(keys) => keys,
        Err(error) => {
            return respond(
                state,
                client,
                message,
                "",
                Err(format!("delete accounts request by {by} failed - {error}")),
            )
        }
    };
    let mut errors = Vec::new();
    let mut deleted = 0;
    for key in &keys {
        let path = dir.join(format!("{key}.jwt"));
        match std::fs::rename(&path, dir.join(format!("{key}.jwt.deleted"))) {
            Ok(()) => deleted += 1,
            Err(error) => errors.push(format!("{}: {error}", path.display())),
        }
    }
    if let Err(error) = state
        .shared
        .update_auth(|current| current.without_accounts(&keys))
    {
        errors.push(error);
    }
    let outcome = if errors.is_empty() {
        Ok(format!("deleted {deleted} accounts"))
    } else {
        Err(format!(
            "deleted {deleted} accounts, failed for {} - {}",
            errors.len(),
            errors.join("\n")
        ))
    };
    respond(
        state,
        client,
        message,
        "",
        outcome.as_deref().map_err(|e| e.clone()),
    );
}

fn server_info(state: &ShardState) -> serde_json::Value {
    json!({
        "name": state.shared.server_name,
        "host": state.shared.options.host,
        "id": state.shared.server_id,
        "ver": crate::server::NATS_VERSION,
    })
}

/// nats-server's `respondToUpdate`.
fn respond(
    state: &ShardState,
    client: &InternalClient,
    message: &InternalMessage,
    account: &str,
    outcome: Result<&str, String>,
) {
    let server = server_info(state);
    // An empty account (delete requests) is left out, as nats-server does.
    let mut body = serde_json::Map::new();
    if !account.is_empty() {
        body.insert("account".into(), json!(account));
    }
    let response = match &outcome {
        Ok(text) => {
            tracing::debug!("{text} - {account}");
            body.insert("code".into(), json!(200));
            body.insert("message".into(), json!(text));
            json!({"server": server, "data": body})
        }
        Err(text) => {
            tracing::error!("{text} - {account}");
            body.insert("code".into(), json!(500));
            body.insert("description".into(), json!(text));
            json!({"server": server, "error": body})
        }
    };
    if let Some(reply) = message.reply.clone() {
        client.publish(reply, None, None, Bytes::from(response.to_string()));
    }
}
