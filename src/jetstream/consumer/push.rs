//! A push consumer's delivery gate: interest on the deliver subject (`push_bound`), idle
//! heartbeats, and flow control (nats-server's `updateDeliveryInterest`,
//! `sendIdleHeartbeat`, `needFlowControl`, `processFlowControl`, `sendFlowControl`).
//!
//! The driver's loop:
//!
//! ```text
//! while push.can_deliver():
//!     d = state.next_delivery(source, now)      else break
//!     send d to deliver_subject (or one member of deliver_group)
//!     if let Some(action) = push.on_delivered(size, now): send it
//! push.poll(now) -> heartbeat; arm a timer at push.next_deadline_ns()
//! ```
//!
//! Flow control, as nats-server with `JsFlowControlMaxPending` (32 MiB): the window
//! starts at 1/16 of it (2 MiB). Once more than half the window is delivered since the
//! last answered request, a `100 FlowControl Request` goes out with a fresh reply subject;
//! delivery stalls while more than a window is outstanding; an answer on that reply
//! subtracts what was outstanding when it was asked and doubles the window up to the limit.

use bytes::{BufMut, Bytes, BytesMut};

use super::bounds::{FLOW_CONTROL_INITIAL_WINDOW_DIVISOR, FLOW_CONTROL_PENDING_LIMIT_BYTES};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushSettings {
    /// `idle_heartbeat`; `<= 0`: none.
    pub heartbeat_ns: i64,
    pub flow_control: bool,
}

/// Something to publish on the deliver subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushAction {
    /// `100 Idle Heartbeat` with `Nats-Last-Consumer` / `Nats-Last-Stream`
    /// ([`super::ConsumerState::heartbeat_positions`]) and, when a flow-control request
    /// is unanswered, `Nats-Consumer-Stalled: <its reply subject>`.
    IdleHeartbeat { stalled: Option<Bytes> },
    /// `100 FlowControl Request`, published with `reply` as its reply subject.
    FlowControlRequest { reply: Bytes },
}

#[derive(Debug)]
struct FlowWindow {
    /// nats-server's `pbytes`: delivered and not yet answered for.
    outstanding_bytes: u64,
    /// `maxpb`.
    window_bytes: u64,
    /// `pblimit`.
    limit_bytes: u64,
    /// `fcid` and `fcsz`: the unanswered request and what it covers.
    request: Option<(Bytes, u64)>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct PushState {
    heartbeat_ns: i64,
    heartbeat_due_ns: Option<i64>,
    bound: bool,
    flow: Option<FlowWindow>,
    /// `$JS.FC.<stream>.<consumer>.`
    reply_prefix: Bytes,
    random: u64,
}

/// `digits` of nats-server's `fcReply`.
const REPLY_DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl PushState {
    /// `reply_prefix` is `$JS.FC.<stream>.<consumer>.`; `seed` feeds the 4 random
    /// characters nats-server appends.
    pub fn new(settings: PushSettings, reply_prefix: Bytes, seed: u64, now_ns: i64) -> Self {
        let flow = settings
            .flow_control
            .then(|| Self::window(FLOW_CONTROL_PENDING_LIMIT_BYTES));
        let heartbeat_ns = settings.heartbeat_ns.max(0);
        PushState {
            heartbeat_ns,
            heartbeat_due_ns: (heartbeat_ns > 0).then(|| now_ns.saturating_add(heartbeat_ns)),
            bound: false,
            flow,
            reply_prefix,
            random: seed | 1,
        }
    }

    /// A window for `limit_bytes` (`setMaxPendingBytes`); tests use small limits.
    fn window(limit_bytes: u64) -> FlowWindow {
        FlowWindow {
            outstanding_bytes: 0,
            window_bytes: (limit_bytes / FLOW_CONTROL_INITIAL_WINDOW_DIVISOR).max(1),
            limit_bytes,
            request: None,
        }
    }

    /// Flow control with a different limit than nats-server's 32 MiB.
    pub fn with_flow_control_limit(mut self, limit_bytes: u64) -> Self {
        if self.flow.is_some() {
            self.flow = Some(Self::window(limit_bytes.max(1)));
        }
        self
    }

    /// Interest on the deliver subject appeared or went (`updateDeliveryInterest`).
    pub fn set_bound(&mut self, bound: bool) {
        self.bound = bound;
    }

    /// `push_bound` of CONSUMER.INFO.
    pub fn is_bound(&self) -> bool {
        self.bound
    }

    /// Whether to deliver now: someone listens and flow control does not hold us back.
    pub fn can_deliver(&self) -> bool {
        self.bound && !self.is_stalled()
    }

    /// More than a window is outstanding.
    pub fn is_stalled(&self) -> bool {
        self.flow
            .as_ref()
            .is_some_and(|flow| flow.outstanding_bytes > flow.window_bytes)
    }

    /// A message of `size_bytes` was sent (`deliverMsg`): restarts the heartbeat timer
    /// and may ask for flow control.
    pub fn on_delivered(&mut self, size_bytes: u64, now_ns: i64) -> Option<PushAction> {
        if self.heartbeat_ns > 0 {
            self.heartbeat_due_ns = Some(now_ns.saturating_add(self.heartbeat_ns));
        }
        let flow = self.flow.as_mut()?;
        flow.outstanding_bytes = flow.outstanding_bytes.saturating_add(size_bytes);
        if let Some((_, covered)) = &mut flow.request {
            // nats-server widens what the outstanding request covers once a window
            // beyond it has gone out.
            if flow.outstanding_bytes.saturating_sub(*covered) >= flow.window_bytes {
                *covered = covered.saturating_add(size_bytes);
            }
            return None;
        }
        if flow.outstanding_bytes <= flow.window_bytes / 2 {
            return None;
        }
        let covered = flow.outstanding_bytes;
        let reply = self.next_reply();
        if let Some(flow) = self.flow.as_mut() {
            flow.request = Some((reply.clone(), covered));
        }
        Some(PushAction::FlowControlRequest { reply })
    }

    fn next_reply(&mut self) -> Bytes {
        // xorshift64: the driver seeds it; the characters only need to differ.
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        let mut reply = BytesMut::with_capacity(self.reply_prefix.len() + 4);
        reply.put_slice(&self.reply_prefix);
        let mut rest = x;
        for _ in 0..4 {
            reply.put_u8(REPLY_DIGITS[(rest % 62) as usize]);
            rest /= 62;
        }
        reply.freeze()
    }

    /// A message arrived on a flow-control reply subject (`processFlowControl`). Only the
    /// latest request counts. Returns whether it did (delivery may resume).
    pub fn on_flow_control_reply(&mut self, subject: &[u8]) -> bool {
        let Some(flow) = self.flow.as_mut() else {
            return false;
        };
        let covered = match &flow.request {
            Some((reply, covered)) if reply.as_ref() == subject => *covered,
            _ => return false,
        };
        if flow.window_bytes < flow.limit_bytes {
            flow.window_bytes = flow.window_bytes.saturating_mul(2).min(flow.limit_bytes);
        }
        flow.outstanding_bytes = flow.outstanding_bytes.saturating_sub(covered);
        flow.request = None;
        true
    }

    /// The idle heartbeat, when due (nats-server's heartbeat timer: reset by every
    /// delivery and every heartbeat; sent only while bound).
    pub fn poll(&mut self, now_ns: i64) -> Option<PushAction> {
        let due = self.heartbeat_due_ns?;
        if now_ns < due {
            return None;
        }
        self.heartbeat_due_ns = Some(now_ns.saturating_add(self.heartbeat_ns));
        if !self.bound {
            return None;
        }
        let stalled = self
            .flow
            .as_ref()
            .and_then(|flow| flow.request.as_ref().map(|(reply, _)| reply.clone()));
        Some(PushAction::IdleHeartbeat { stalled })
    }

    pub fn next_deadline_ns(&self) -> Option<i64> {
        self.heartbeat_due_ns
    }

    /// Bytes delivered and not yet answered for (0 without flow control).
    pub fn outstanding_bytes(&self) -> u64 {
        self.flow.as_ref().map_or(0, |flow| flow.outstanding_bytes)
    }

    /// The unanswered flow-control request's reply subject.
    pub fn flow_control_outstanding(&self) -> Option<&Bytes> {
        self.flow
            .as_ref()
            .and_then(|flow| flow.request.as_ref().map(|(reply, _)| reply))
    }
}
