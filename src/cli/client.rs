//! A small synchronous client for the `kv` and `object` commands: requests with a reply
//! inbox, subscriptions read in order, and push consumers read to their end. Built on the
//! bench tool's connection (the protocol layer's parser and encoders over a blocking
//! socket).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::client::{now_ns, Connection, HANDSHAKE_TIMEOUT};
use crate::bench::options::ServerUrl;
use crate::protocol::{Message, ServerOp};

/// How long a `$JS.API` request or a publish acknowledgement may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A consumer read ends with an error if nothing arrives for this long.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages held for subscriptions the caller has not read yet; more means a caller reads
/// the wrong subscription, and the connection is given up rather than grow.
const UNREAD_MSGS_MAX: usize = 100_000;
/// The sid of the reply inbox subscription.
const SID_INBOX: &[u8] = b"1";

pub struct Client {
    connection: Connection,
    inbox: String,
    requests: u64,
    next_sid: u64,
    unread: VecDeque<Message>,
}

/// A JetStream API error: nats-server's code and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub err_code: u64,
    pub description: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (err_code {})", self.description, self.err_code)
    }
}

/// What a headers block says: its status code, if any, and a header's value.
pub fn status_code(headers: &[u8]) -> Option<u16> {
    let line = headers.split(|&b| b == b'\r').next()?;
    let rest = line.strip_prefix(b"NATS/1.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

pub fn header<'a>(headers: Option<&'a [u8]>, name: &str) -> Option<&'a str> {
    let block = headers?;
    crate::jetstream::store::headers::get_header(block, name)
        .and_then(|v| std::str::from_utf8(v).ok())
}

impl Client {
    pub fn connect(server: &ServerUrl, name: &str) -> Result<Client, String> {
        let mut connection = Connection::connect(server, name).map_err(|e| e.to_string())?;
        let inbox = format!("_INBOX.{}.{:x}", name, now_ns());
        connection
            .writer
            .subscribe(format!("{inbox}.*").as_bytes(), None, SID_INBOX);
        connection
            .ping_pong(HANDSHAKE_TIMEOUT, |_| {})
            .map_err(|e| e.to_string())?;
        Ok(Client {
            connection,
            inbox,
            requests: 0,
            next_sid: 2,
            unread: VecDeque::new(),
        })
    }

    pub fn has_jetstream(&self) -> bool {
        self.connection.info.jetstream
    }

    /// A fresh subject for a subscription of the caller's.
    pub fn new_inbox(&mut self) -> String {
        self.next_sid += 1;
        format!(
            "{}.sub{}",
            self.inbox.replace("_INBOX.", "_INBOX_SUB."),
            self.next_sid
        )
    }

    pub fn subscribe(&mut self, subject: &str) -> Result<Vec<u8>, String> {
        self.next_sid += 1;
        let sid = self.next_sid.to_string().into_bytes();
        self.connection
            .writer
            .subscribe(subject.as_bytes(), None, &sid);
        self.connection
            .ping_pong(REQUEST_TIMEOUT, |_| {})
            .map_err(|e| e.to_string())?;
        Ok(sid)
    }

    pub fn unsubscribe(&mut self, sid: &[u8]) -> Result<(), String> {
        self.connection.writer.unsubscribe(sid);
        self.connection.writer.flush().map_err(|e| e.to_string())?;
        self.unread.retain(|m| m.sid != sid);
        Ok(())
    }

    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<(), String> {
        self.connection
            .writer
            .publish(
                subject.as_bytes(),
                reply.map(str::as_bytes),
                headers,
                payload,
                None,
            )
            .map_err(|e| e.to_string())?;
        self.connection.writer.flush().map_err(|e| e.to_string())
    }

    /// One request and its reply message.
    pub fn request(
        &mut self,
        subject: &str,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<Message, String> {
        self.requests += 1;
        let reply = format!("{}.{}", self.inbox, self.requests);
        self.publish(subject, Some(&reply), headers, payload)?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            if let Some(at) = self
                .unread
                .iter()
                .position(|m| m.sid == SID_INBOX && m.subject == reply.as_bytes())
            {
                let message = self.unread.remove(at).expect("position is in range");
                if message.headers().and_then(status_code) == Some(503) {
                    return Err(format!(
                        "nothing answers {subject}: no responders (is JetStream enabled? start the server with -js)"
                    ));
                }
                return Ok(message);
            }
            if Instant::now() > deadline {
                return Err(format!("no answer to {subject} within {REQUEST_TIMEOUT:?}"));
            }
            self.read()?;
        }
    }

    /// A `$JS.API` request: the answer's JSON, or its error.
    pub fn api(&mut self, subject: &str, body: &Value) -> Result<Result<Value, ApiError>, String> {
        let payload = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let message = self.request(subject, b"", &payload)?;
        let answer: Value = serde_json::from_slice(message.payload()).map_err(|e| {
            format!(
                "the answer to {subject} is not JSON ({e}): {}",
                String::from_utf8_lossy(message.payload())
            )
        })?;
        Ok(match answer.get("error") {
            Some(error) => Err(ApiError {
                err_code: error["err_code"].as_u64().unwrap_or(0),
                description: error["description"].as_str().unwrap_or("").to_string(),
            }),
            None => Ok(answer),
        })
    }

    /// The next message of subscription `sid`, or None after `timeout`.
    pub fn next_message(
        &mut self,
        sid: &[u8],
        timeout: Duration,
    ) -> Result<Option<Message>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.unread.iter().position(|m| m.sid == sid) {
                return Ok(self.unread.remove(at));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            self.read()?;
        }
    }

    fn read(&mut self) -> Result<(), String> {
        let mut error = None;
        let unread = &mut self.unread;
        self.connection
            .reader
            .read_some(|op| match op {
                ServerOp::Msg(message) => unread.push_back(message),
                ServerOp::Err(text) => error = Some(String::from_utf8_lossy(&text).into_owned()),
                _ => {}
            })
            .map_err(|e| e.to_string())?;
        if self.connection.writer.owes_pongs() {
            self.connection.writer.flush().map_err(|e| e.to_string())?;
        }
        if let Some(text) = error {
            return Err(format!("the server answered -ERR '{text}'"));
        }
        if self.unread.len() > UNREAD_MSGS_MAX {
            return Err("too many unread messages".to_string());
        }
        Ok(())
    }

    /// Reads a stream through an ephemeral push consumer (flow control answered as the
    /// messages are handed on): `on_message` gets every message that was in the stream
    /// when the consumer was created and matches its filter, in order; with `follow`, it
    /// then keeps getting new ones until it returns false.
    pub fn consume(
        &mut self,
        stream: &str,
        config: Value,
        follow: bool,
        mut on_message: impl FnMut(&Message) -> Result<bool, String>,
    ) -> Result<(), String> {
        let deliver = self.new_inbox();
        let sid = self.subscribe(&deliver)?;
        let mut config = config;
        config["deliver_subject"] = json!(deliver);
        config["ack_policy"] = json!("none");
        config["flow_control"] = json!(true);
        config["idle_heartbeat"] = json!(5_000_000_000u64);
        config["mem_storage"] = json!(true);
        config["num_replicas"] = json!(1);
        config["inactive_threshold"] = json!(10_000_000_000u64);
        let created = self
            .api(
                &format!("$JS.API.CONSUMER.CREATE.{stream}"),
                &json!({"stream_name": stream, "config": config}),
            )?
            .map_err(|e| e.to_string())?;
        let name = created["name"].as_str().unwrap_or_default().to_string();
        let mut pending = created["num_pending"].as_u64().unwrap_or(0);
        let mut result = Ok(());
        while follow || pending > 0 {
            let timeout = if follow {
                Duration::from_secs(3600)
            } else {
                DELIVERY_TIMEOUT
            };
            let Some(message) = self.next_message(&sid, timeout)? else {
                if follow {
                    continue;
                }
                result = Err(format!(
                    "{pending} message(s) of {stream} did not arrive in time"
                ));
                break;
            };
            if message.headers().and_then(status_code) == Some(100) {
                // A flow-control request, or a heartbeat naming one left unanswered.
                let reply = match &message.reply {
                    Some(reply) => Some(String::from_utf8_lossy(reply).into_owned()),
                    None => header(message.headers(), "Nats-Consumer-Stalled").map(str::to_string),
                };
                if let Some(reply) = reply {
                    self.publish(&reply, None, b"", b"")?;
                }
                continue;
            }
            pending = message
                .reply
                .as_deref()
                .and_then(|r| r.rsplit(|&b| b == b'.').next())
                .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok())
                .unwrap_or(0);
            match on_message(&message) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        self.unsubscribe(&sid)?;
        if !name.is_empty() {
            let _ = self.api(
                &format!("$JS.API.CONSUMER.DELETE.{stream}.{name}"),
                &Value::Null,
            );
        }
        result
    }
}
