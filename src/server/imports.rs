//! Publishes that cross accounts through exports and imports (the routes come from
//! `auth::imports`).
//!
//! A stream import is a copy: a publish in the exporting account is routed a second time in
//! each importing account, under the mapped subject, by the core that accepted it (so
//! forwarded copies are never re-exported).
//!
//! A service import rewrites the request's reply subject, since the importer's inbox means
//! nothing in the exporter's account:
//!
//! ```text
//!  importer B                      exporter A
//!  PUB local.x _INBOX.b.1   ──►    MSG svc.x _R_.<core>.<token>      (responder)
//!                                  PUB _R_.<core>.<token>  ◄── reply
//!  MSG _INBOX.b.1           ◄──    core <core>'s internal subscriber on _R_.<core>.*
//!                                  looks the token up and routes the reply into B
//! ```
//!
//! The mapping lives on the core that sent the request, which subscribes (in each exporting
//! account) to `_R_.<core>.*`; ordinary cross-core routing brings the reply there from
//! whichever core the responder is on. Tokens are random, so another client of the
//! exporting account can not guess one and inject into the importer. A singleton
//! service's mapping is used once; a `stream`/`chunked` one carries any number of responses.
//! Either is forgotten after the export's `response_threshold` (default
//! [`crate::limits::SERVICE_REPLY_TTL_MS`]) or when the core holds
//! [`SERVICE_REPLIES_PENDING_MAX`] of them.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::client::{route_in, ClientShared};
use super::internal::InternalClient;
use super::mesh::AccountId;
use super::shard::ShardState;
use crate::auth::imports::{AccountRoutes, ServiceImport};
use crate::limits::SERVICE_REPLIES_PENDING_MAX;
use crate::protocol::Publish;

/// The reply prefix of service requests crossing accounts (nats-server's).
const REPLY_PREFIX: &str = "_R_";

#[derive(Clone)]
struct PendingReply {
    importer: AccountId,
    reply: Bytes,
    singleton: bool,
    expires: Instant,
}

/// One core's reply mappings for service imports.
#[derive(Default)]
pub struct ServiceReplies {
    pending: RefCell<HashMap<u64, PendingReply>>,
    /// Tokens in the order they were made, with their expiry, for the bound.
    order: RefCell<VecDeque<(u64, Instant)>>,
    /// Exporting accounts this core already routes replies for (see [`start`]).
    started: RefCell<Vec<AccountId>>,
}

impl ServiceReplies {
    fn insert(&self, importer: AccountId, reply: Bytes, service: &ServiceImport) -> u64 {
        let now = Instant::now();
        let expires = now + Duration::from_millis(service.reply_ttl_ms);
        let mut pending = self.pending.borrow_mut();
        let mut order = self.order.borrow_mut();
        // Expiry times are in insertion order only per threshold; an expired entry behind
        // a live one waits (bounded by the maximum) and is refused when looked up.
        while let Some(&(token, expiry)) = order.front() {
            let expired = expiry <= now;
            if !expired && order.len() < SERVICE_REPLIES_PENDING_MAX {
                break;
            }
            order.pop_front();
            pending.remove(&token);
        }
        let token = loop {
            let token = rand::random::<u64>();
            if !pending.contains_key(&token) {
                break token;
            }
        };
        pending.insert(
            token,
            PendingReply {
                importer,
                reply,
                singleton: service.singleton,
                expires,
            },
        );
        order.push_back((token, expires));
        token
    }

    /// The mapping for a response, if still live; a singleton's is used up by it.
    fn take(&self, token: u64) -> Option<PendingReply> {
        // Removed entries' `order` slots go when they reach the front.
        let mut pending = self.pending.borrow_mut();
        let entry = pending.get(&token)?;
        if entry.expires <= Instant::now() {
            pending.remove(&token);
            return None;
        }
        if entry.singleton {
            return pending.remove(&token);
        }
        Some(entry.clone())
    }
}

/// Routes `p` (published in the account `routes` belong to) through that account's stream
/// exports and service imports. Returns whether anyone was given a copy.
pub(super) fn route_imports(
    state: &ShardState,
    routes: &AccountRoutes,
    client: &Rc<ClientShared>,
    p: &Publish,
) -> bool {
    let mut delivered = false;
    for stream in &routes.streams_out {
        if let Some(subject) = stream.map.apply(&p.subject) {
            let copy = Publish {
                subject: Bytes::from(subject),
                reply: p.reply.clone(),
                header_len: p.header_len,
                body: p.body.clone(),
            };
            delivered |= route_in(state, stream.importer, client, &copy, None);
        }
    }
    for service in &routes.services_in {
        if let Some(subject) = service.map.apply(&p.subject) {
            let reply = p.reply.as_ref().map(|reply| {
                let importer = client.account.get();
                let token = state
                    .service_replies
                    .insert(importer, reply.clone(), service);
                Bytes::from(format!("{REPLY_PREFIX}.{}.{token:x}", state.id))
            });
            let request = Publish {
                subject: Bytes::from(subject),
                reply,
                header_len: p.header_len,
                body: p.body.clone(),
            };
            delivered |= route_in(state, service.exporter, client, &request, None);
        }
    }
    delivered
}

/// Starts this core's reply subscribers: one per account exporting an imported service.
/// Called again when a new authentication configuration applies; starts only those of
/// accounts that became service exporters. (One that stops exporting keeps its subscriber:
/// with no pending mapping it routes nothing.)
pub fn start(state: &Rc<ShardState>) {
    for exporter in state.auth().service_exporters() {
        if state.service_replies.started.borrow().contains(&exporter) {
            continue;
        }
        state.service_replies.started.borrow_mut().push(exporter);
        let client = InternalClient::new(state, exporter);
        let prefix = format!("{REPLY_PREFIX}.{}.", state.id);
        let weak: Weak<ShardState> = Rc::downgrade(state);
        let publisher = Rc::downgrade(&client);
        let subscribed = client.subscribe(&format!("{prefix}*"), None, move |message| {
            let (Some(state), Some(publisher)) = (weak.upgrade(), publisher.upgrade()) else {
                return;
            };
            let token = message
                .subject
                .get(prefix.len()..)
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| u64::from_str_radix(t, 16).ok());
            let Some(pending) = token.and_then(|t| state.service_replies.take(t)) else {
                return;
            };
            let response = Publish {
                subject: pending.reply,
                reply: None,
                header_len: message.header_len,
                body: message.body,
            };
            route_in(
                &state,
                pending.importer,
                publisher.shared(),
                &response,
                None,
            );
        });
        if let Err(error) = subscribed {
            tracing::error!("can not route service import replies: {error:?}");
            continue;
        }
        state.services.borrow_mut().push(client);
    }
}
