//! Server-side clients: subscriptions and publishes made by tern itself rather than by a
//! connection (JetStream's API and stream capture are built on these).
//!
//! An internal client is a [`ClientShared`] without a socket. Its subscriptions live in the
//! same subject index and take part in cross-core interest like any other, so a message
//! published on any core reaches an internal subscriber on any core. Deliveries are queued
//! and handed to the handlers by the client's own task, never inside a delivery loop, so a
//! handler may publish (reply) and subscribe as it likes.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use bytes::Bytes;

use shards::sync::Signal;

use super::client::{
    route, route_shown, BySid, ClientShared, CloseReason, InternalMessage, LocalSub,
};
use super::mesh::AccountId;
use super::shard::ShardState;
use crate::protocol::Publish;
use crate::routing::{is_valid_queue_name, is_valid_subject, IndexError};

pub type Handler = Rc<dyn Fn(InternalMessage)>;

pub struct InternalClient {
    state: Rc<ShardState>,
    client: Rc<ClientShared>,
    handlers: RefCell<HashMap<Bytes, Handler>>,
    next_sid: Cell<u64>,
    /// Requests waiting for their reply, by inbox token (see [`InternalClient::request`]).
    replies: RefCell<HashMap<u64, Rc<PendingReply>>>,
    /// The wildcard inbox subscription, made on the first request.
    inbox_prefix: RefCell<Option<String>>,
    next_token: Cell<u64>,
}

/// Where the reply to one request lands.
#[derive(Default)]
struct PendingReply {
    message: RefCell<Option<InternalMessage>>,
    arrived: Signal,
}

impl InternalClient {
    /// A new server-side client of `account` on the current core.
    pub fn new(state: &Rc<ShardState>, account: AccountId) -> Rc<InternalClient> {
        let cid = state.shared.next_client_id();
        let client = Rc::new(ClientShared::new_internal(
            cid,
            account,
            state.shared.options.max_pending_bytes,
        ));
        let internal = Rc::new(InternalClient {
            state: state.clone(),
            client: client.clone(),
            handlers: RefCell::new(HashMap::new()),
            next_sid: Cell::new(1),
            replies: RefCell::new(HashMap::new()),
            inbox_prefix: RefCell::new(None),
            next_token: Cell::new(1),
        });
        shards::task::spawn(dispatch(client, Rc::downgrade(&internal)));
        internal
    }

    /// The connection-like side of this client (for routing on its behalf).
    pub fn shared(&self) -> &Rc<ClientShared> {
        &self.client
    }

    /// Subscribes `handler` to `subject` (in queue group `queue` if given); returns the sid.
    pub fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
        handler: impl Fn(InternalMessage) + 'static,
    ) -> Result<Bytes, IndexError> {
        if !is_valid_subject(subject.as_bytes()) {
            return Err(IndexError::InvalidSubject);
        }
        if queue.is_some_and(|q| !is_valid_queue_name(q.as_bytes())) {
            return Err(IndexError::InvalidQueue);
        }
        let sid = Bytes::from(self.next_sid.get().to_string());
        self.next_sid.set(self.next_sid.get() + 1);
        let sub = LocalSub::new(
            self.client.clone(),
            subject.as_bytes(),
            queue.map(str::as_bytes),
            &sid,
        )
        .ok_or(IndexError::InvalidSubject)?;
        let sub = Rc::new(sub);
        self.state
            .add_subscription(self.client.account.get(), &sub)?;
        self.client.subs.borrow_mut().insert(BySid(sub));
        self.handlers
            .borrow_mut()
            .insert(sid.clone(), Rc::new(handler));
        Ok(sid)
    }

    pub fn unsubscribe(&self, sid: &Bytes) {
        self.handlers.borrow_mut().remove(sid);
        let sub = self.client.subs.borrow_mut().take(&sid[..]);
        if let Some(BySid(sub)) = sub {
            self.state
                .remove_subscription(self.client.account.get(), &sub);
        }
    }

    /// Publishes as this client: routed to every matching subscription on every core.
    pub fn publish(
        &self,
        subject: Bytes,
        reply: Option<Bytes>,
        header_len: Option<usize>,
        body: Bytes,
    ) {
        route(
            &self.state,
            &self.client,
            &Publish {
                subject,
                reply,
                header_len,
                body,
            },
        );
    }

    /// Publishes to whoever subscribes to `route_subject`, showing them `shown_subject`
    /// (a JetStream delivery: routed by deliver subject, carrying the stored subject).
    pub fn publish_as(
        &self,
        route_subject: Bytes,
        shown_subject: &Bytes,
        reply: Option<Bytes>,
        header_len: Option<usize>,
        body: Bytes,
    ) -> bool {
        route_shown(
            &self.state,
            &self.client,
            &Publish {
                subject: route_subject,
                reply,
                header_len,
                body,
            },
            Some(shown_subject),
        )
    }

    /// Whether any subscription on any core matches `subject` (a push consumer is "bound"
    /// while its deliver subject has one; a pull request lives while its inbox has one).
    pub fn has_interest(&self, subject: &[u8]) -> bool {
        self.state.catch_up_interest();
        let acct = self.state.account(self.client.account.get());
        let local = acct.local.borrow_mut().matches(subject);
        if !local.plain.is_empty() || !local.queues.is_empty() {
            return true;
        }
        self.state.count > 1 && {
            let remote = acct.remote.borrow_mut().matches(subject);
            !remote.plain_cores.is_empty() || !remote.queues.is_empty()
        }
    }

    /// Publishes `body` to `subject` with a private reply inbox and waits up to `timeout` for
    /// the one reply. `None` on timeout. The inbox lives in this client's account, so a
    /// request in the internal account can only be answered by the server itself.
    pub async fn request(
        self: &Rc<Self>,
        subject: Bytes,
        body: Bytes,
        timeout: std::time::Duration,
    ) -> Option<InternalMessage> {
        let prefix = self.inbox_prefix()?;
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        let pending = Rc::new(PendingReply::default());
        self.replies.borrow_mut().insert(token, pending.clone());
        self.publish(
            subject,
            Some(Bytes::from(format!("{prefix}{token}"))),
            None,
            body,
        );
        let arrived = shards::time::timeout(timeout, pending.arrived.wait()).await;
        self.replies.borrow_mut().remove(&token);
        arrived?;
        let message = pending.message.borrow_mut().take();
        message
    }

    fn inbox_prefix(self: &Rc<Self>) -> Option<String> {
        if let Some(prefix) = self.inbox_prefix.borrow().as_ref() {
            return Some(prefix.clone());
        }
        let prefix = format!("_INBOX_TERN.{}.{}.", self.state.id, self.client.cid);
        let owner = Rc::downgrade(self);
        let token_at = prefix.len();
        self.subscribe(&format!("{prefix}*"), None, move |message| {
            let Some(owner) = owner.upgrade() else { return };
            let token =
                std::str::from_utf8(&message.subject[token_at.min(message.subject.len())..])
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok());
            let pending = token.and_then(|t| owner.replies.borrow().get(&t).cloned());
            if let Some(pending) = pending {
                *pending.message.borrow_mut() = Some(message);
                pending.arrived.set();
            }
        })
        .ok()?;
        *self.inbox_prefix.borrow_mut() = Some(prefix.clone());
        Some(prefix)
    }

    /// Ends every subscription; queued messages are dropped.
    pub fn close(&self) {
        let sids: Vec<Bytes> = self
            .client
            .subs
            .borrow()
            .iter()
            .map(|sub| Bytes::copy_from_slice(sub.0.sid()))
            .collect();
        for sid in sids {
            self.unsubscribe(&sid);
        }
        self.client.close(CloseReason::ServerShutdown, false);
    }
}

/// Hands queued deliveries to their handlers until the client closes.
async fn dispatch(client: Rc<ClientShared>, owner: Weak<InternalClient>) {
    let Some(queue) = client.internal.as_ref() else {
        return;
    };
    loop {
        client.output_ready().await;
        if client.is_closed() {
            return;
        }
        loop {
            let Some(message) = queue.messages.borrow_mut().pop_front() else {
                break;
            };
            queue.bytes.set(queue.bytes.get() - message.body.len());
            let Some(owner) = owner.upgrade() else { return };
            let handler = owner.handlers.borrow().get(&message.sid).cloned();
            if let Some(handler) = handler {
                handler(message);
            }
            shards::task::yield_if_needed().await;
        }
    }
}
