//! The system account's services, as nats-server 2.9.10 offers them (server/events.go):
//!
//! - requests, answered only to clients of the system account (the subscriptions live in
//!   its subject space, so a publish in any other account never reaches them):
//!   `$SYS.REQ.SERVER.PING` (statsz), `$SYS.REQ.SERVER.PING.<KIND>` and
//!   `$SYS.REQ.SERVER.<server id>.<KIND>` for the monitoring endpoints, and
//!   `$SYS.REQ.ACCOUNT.<account>.<KIND>` for one account's;
//! - advisories: `$SYS.ACCOUNT.<account>.CONNECT` / `.DISCONNECT` when a client logs in or
//!   leaves, and `$SYS.SERVER.<server id>.STATSZ` every [`STATSZ_INTERVAL_MS`].
//!
//! Each core subscribes (in one queue group, so one core answers a request). The answers
//! are the monitoring endpoints' JSON, built off the cores by `monitor::system` (those
//! builders ask every core and wait, which a core can not do for itself): a request is
//! handed over as a [`SystemJob`] and the answer published when it comes back.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{json, Value};

use super::client::{ClientShared, CloseReason};
use super::internal::InternalClient;
use super::shard::ShardState;
use super::Shared;
use crate::limits::SYSTEM_REQUEST_TIMEOUT_MS;

/// What `$SYS.REQ.SERVER.PING.<KIND>` and `$SYS.REQ.SERVER.<id>.<KIND>` answer (2.9.10's
/// list; a kind not listed has no responder, as there).
pub const SERVER_KINDS: &[&str] = &[
    "STATSZ", "VARZ", "SUBSZ", "CONNZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "ACCOUNTZ", "JSZ", "HEALTHZ",
];
/// What `$SYS.REQ.ACCOUNT.<account>.<KIND>` answers.
pub const ACCOUNT_KINDS: &[&str] = &["SUBSZ", "CONNZ", "LEAFZ", "JSZ", "INFO"];
/// How often `$SYS.SERVER.<id>.STATSZ` is published (nats-server's heartbeat).
pub const STATSZ_INTERVAL_MS: u64 = 30_000;
/// How often a core looks whether the answer to a request it handed over is ready.
const ANSWER_POLL_MS: u64 = 1;
/// The queue group of the request subscriptions: one core answers each request.
const QUEUE: &str = "_sys_";

/// A request for the monitoring side.
pub enum SystemRequest {
    Server { kind: String },
    Account { account: String, kind: String },
}

pub struct SystemJob {
    pub request: SystemRequest,
    /// The request's JSON options (may be empty).
    pub body: Bytes,
    /// The answer to publish, or `None` for none (e.g. a filter that excludes us).
    pub answer: crossbeam_channel::Sender<Option<Vec<u8>>>,
}

/// What the cores and the monitoring side share (a field of [`Shared`]).
#[derive(Default)]
pub struct SystemShared {
    /// Where requests go; unset when nobody builds answers (then nothing is subscribed).
    pub requests: OnceLock<crossbeam_channel::Sender<SystemJob>>,
    /// nats-server's `seq` of the system messages this server sent.
    seq: AtomicU64,
}

impl SystemShared {
    /// nats-server's `ServerInfo` of a system message, counting it.
    pub fn server_info(&self, shared: &Shared) -> Value {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        json!({
            "name": shared.server_name,
            "host": shared.options.host,
            "id": shared.server_id,
            "ver": super::NATS_VERSION,
            "seq": seq,
            "jetstream": shared.options.jetstream,
            "time": crate::monitor::format::rfc3339(SystemTime::now()),
        })
    }
}

/// The system account's client on one core: publishes the advisories.
pub struct SystemClient {
    client: Rc<InternalClient>,
}

/// Starts the system services on this core (see the module comment).
pub fn start(state: &Rc<ShardState>) {
    let system_account = state.auth().system_account();
    let client = InternalClient::new(state, system_account);
    let _ = state.system.set(Rc::new(SystemClient {
        client: client.clone(),
    }));
    if state.shared.system.requests.get().is_some() {
        subscribe_requests(state, &client);
    }
    if state.id == 0 {
        shards::task::spawn(publish_statsz(Rc::downgrade(state)));
    }
    state.services.borrow_mut().push(client);
}

fn subscribe_requests(state: &Rc<ShardState>, client: &Rc<InternalClient>) {
    let id = &state.shared.server_id;
    let mut subjects: Vec<(String, SubjectKind)> = vec![(
        "$SYS.REQ.SERVER.PING".to_string(),
        SubjectKind::Server("STATSZ"),
    )];
    for kind in SERVER_KINDS {
        for target in ["PING", id.as_str()] {
            subjects.push((
                format!("$SYS.REQ.SERVER.{target}.{kind}"),
                SubjectKind::Server(kind),
            ));
        }
    }
    for kind in ACCOUNT_KINDS {
        subjects.push((
            format!("$SYS.REQ.ACCOUNT.*.{kind}"),
            SubjectKind::Account(kind),
        ));
    }
    for (subject, kind) in subjects {
        let weak_state = Rc::downgrade(state);
        let publisher = Rc::downgrade(client);
        let subscribed = client.subscribe(&subject, Some(QUEUE), move |message| {
            let (Some(state), Some(publisher)) = (weak_state.upgrade(), publisher.upgrade()) else {
                return;
            };
            let Some(reply) = message.reply else {
                return;
            };
            let request = match kind {
                SubjectKind::Server(kind) => SystemRequest::Server {
                    kind: kind.to_string(),
                },
                SubjectKind::Account(kind) => {
                    // $SYS.REQ.ACCOUNT.<account>.<KIND>
                    let subject = String::from_utf8_lossy(&message.subject);
                    let Some(account) = subject.split('.').nth(3) else {
                        return;
                    };
                    SystemRequest::Account {
                        account: account.to_string(),
                        kind: kind.to_string(),
                    }
                }
            };
            let body = match message.header_len {
                Some(at) => message.body.slice(at.min(message.body.len())..),
                None => message.body,
            };
            shards::task::spawn(answer(state, publisher, request, body, reply));
        });
        if let Err(error) = subscribed {
            tracing::error!("can not serve {subject}: {error:?}");
        }
    }
}

#[derive(Clone, Copy)]
enum SubjectKind {
    Server(&'static str),
    Account(&'static str),
}

/// Hands a request to the monitoring side and publishes its answer to `reply`.
async fn answer(
    state: Rc<ShardState>,
    publisher: Rc<InternalClient>,
    request: SystemRequest,
    body: Bytes,
    reply: Bytes,
) {
    let Some(requests) = state.shared.system.requests.get() else {
        return;
    };
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let job = SystemJob {
        request,
        body,
        answer: sender,
    };
    if requests.try_send(job).is_err() {
        tracing::warn!("system request dropped: too many waiting");
        return;
    }
    let deadline = Instant::now() + Duration::from_millis(SYSTEM_REQUEST_TIMEOUT_MS);
    loop {
        match receiver.try_recv() {
            Ok(Some(answer)) => {
                publisher.publish(reply, None, None, Bytes::from(answer));
                return;
            }
            Ok(None) | Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            Err(crossbeam_channel::TryRecvError::Empty) if Instant::now() < deadline => {
                shards::time::sleep(Duration::from_millis(ANSWER_POLL_MS)).await;
            }
            Err(crossbeam_channel::TryRecvError::Empty) => return,
        }
    }
}

/// Publishes `$SYS.SERVER.<id>.STATSZ` every [`STATSZ_INTERVAL_MS`] while someone listens.
async fn publish_statsz(state: std::rc::Weak<ShardState>) {
    loop {
        shards::time::sleep(Duration::from_millis(STATSZ_INTERVAL_MS)).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if state.shared.control.shutdown_requested() {
            return;
        }
        let Some(system) = state.system.get().cloned() else {
            return;
        };
        let subject = format!("$SYS.SERVER.{}.STATSZ", state.shared.server_id);
        let Some(requests) = state.shared.system.requests.get() else {
            return;
        };
        if !system.client.has_interest(subject.as_bytes()) {
            continue;
        }
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let job = SystemJob {
            request: SystemRequest::Server {
                kind: "STATSZ".to_string(),
            },
            body: Bytes::new(),
            answer: sender,
        };
        if requests.try_send(job).is_err() {
            continue;
        }
        let deadline = Instant::now() + Duration::from_millis(SYSTEM_REQUEST_TIMEOUT_MS);
        while Instant::now() < deadline {
            match receiver.try_recv() {
                Ok(Some(body)) => {
                    system
                        .client
                        .publish(Bytes::from(subject), None, None, Bytes::from(body));
                    break;
                }
                Ok(None) | Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    shards::time::sleep(Duration::from_millis(ANSWER_POLL_MS)).await
                }
            }
        }
    }
}

/// What an advisory says about a client (nats-server's `ClientInfo`).
pub struct EventClient {
    pub start: SystemTime,
    pub host: String,
    pub user: String,
    pub lang: String,
    pub version: String,
    pub rtt: Duration,
}

/// nats-server's `nuid`-like event id: 22 base-62 characters.
fn event_id() -> String {
    use rand::Rng;
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..22)
        .map(|_| DIGITS[rng.gen_range(0..DIGITS.len())] as char)
        .collect()
}

fn client_info(state: &ShardState, client: &ClientShared, info: &EventClient) -> Value {
    let auth = state.auth();
    let mut out = serde_json::Map::new();
    let time = crate::monitor::format::rfc3339;
    out.insert("start".into(), time(info.start).into());
    out.insert("host".into(), info.host.clone().into());
    out.insert("id".into(), client.cid.into());
    out.insert("acc".into(), auth.account_name(client.account.get()).into());
    let mut text = |key: &str, value: &str| {
        if !value.is_empty() {
            out.insert(key.into(), value.into());
        }
    };
    text("user", &info.user);
    text("name", &client.name.borrow());
    text("lang", &info.lang);
    text("ver", &info.version);
    Value::Object(out)
}

/// `$SYS.ACCOUNT.<account>.CONNECT`, if anyone listens.
pub fn client_connected(state: &ShardState, client: &ClientShared, info: &EventClient) {
    let Some(system) = state.system.get() else {
        return;
    };
    let account = state.auth().account_name(client.account.get());
    let subject = format!("$SYS.ACCOUNT.{account}.CONNECT");
    if !system.client.has_interest(subject.as_bytes()) {
        return;
    }
    let mut client_json = client_info(state, client, info);
    client_json["kind"] = "Client".into();
    client_json["client_type"] = "nats".into();
    let event = json!({
        "type": "io.nats.server.advisory.v1.client_connect",
        "id": event_id(),
        "timestamp": crate::monitor::format::rfc3339(SystemTime::now()),
        "server": state.shared.system.server_info(&state.shared),
        "client": client_json,
    });
    system.client.publish(
        Bytes::from(subject),
        None,
        None,
        Bytes::from(event.to_string()),
    );
}

/// `$SYS.ACCOUNT.<account>.DISCONNECT`, if anyone listens.
pub fn client_disconnected(
    state: &ShardState,
    client: &ClientShared,
    info: &EventClient,
    reason: CloseReason,
) {
    let Some(system) = state.system.get() else {
        return;
    };
    let account = state.auth().account_name(client.account.get());
    let subject = format!("$SYS.ACCOUNT.{account}.DISCONNECT");
    if !system.client.has_interest(subject.as_bytes()) {
        return;
    }
    let now = SystemTime::now();
    let mut client_json = client_info(state, client, info);
    if !info.rtt.is_zero() {
        client_json["rtt"] = (info.rtt.as_nanos() as u64).into();
    }
    client_json["stop"] = crate::monitor::format::rfc3339(now).into();
    client_json["kind"] = "Client".into();
    client_json["client_type"] = "nats".into();
    let c = &client.counters;
    let event = json!({
        "type": "io.nats.server.advisory.v1.client_disconnect",
        "id": event_id(),
        "timestamp": crate::monitor::format::rfc3339(now),
        "server": state.shared.system.server_info(&state.shared),
        "client": client_json,
        // The client's view, as nats-server reports it: what it sent, what it received.
        "sent": {"msgs": c.in_msgs.get(), "bytes": c.in_bytes.get()},
        "received": {"msgs": c.out_msgs.get(), "bytes": c.out_bytes.get()},
        "reason": reason.as_str(),
    });
    system.client.publish(
        Bytes::from(subject),
        None,
        None,
        Bytes::from(event.to_string()),
    );
}
