//! The waiting pull requests of one pull consumer (nats-server's `waitQueue`,
//! `processNextMsgRequest`, `nextWaiting`, `processWaiting`), with every decision returned
//! as a [`PullAction`].
//!
//! The driver's loop, as nats-server's `loopAndGatherMsgs`:
//!
//! ```text
//! while !queue.is_empty():
//!     d = state.next_delivery(source, now)          else break
//!     size = subject + ack reply + headers + payload
//!     match queue.assign(size, now, interest, actions):
//!         Some(to) => send d to to.reply; then to.trailer() if any
//!         None     => state.cancel_delivery(); break
//! queue.process(now, end_of_stream = !state.is_ack_pending_full(), interest, actions)
//! arm a timer at queue.next_deadline_ns()
//! ```
//!
//! Requests are served round robin, one message at a time, as nats-server's `pop` moves a
//! request that still wants more to the back of the queue.

use std::collections::VecDeque;

use bytes::Bytes;

use super::bounds::{MAX_WAITING_DEFAULT, WAITING_REQUESTS_HARD_MAX};
use super::status::{PendingCounts, Status};

/// A consumer's pull limits (`max_waiting`, `max_batch`, `max_expires`, `max_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullLimits {
    /// 0: nats-server's default (512).
    pub max_waiting: usize,
    /// `<= 0`: none.
    pub max_batch: i64,
    pub max_expires_ns: i64,
    pub max_bytes: i64,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            max_waiting: MAX_WAITING_DEFAULT,
            max_batch: 0,
            max_expires_ns: 0,
            max_bytes: 0,
        }
    }
}

/// A parsed `CONSUMER.MSG.NEXT` body (`JSApiConsumerGetNextRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Values below 1 count as 1 (nats-server delivers one message for them).
    pub batch: i64,
    /// Relative; `<= 0`: no expiry.
    pub expires_ns: i64,
    /// `<= 0`: no byte limit.
    pub max_bytes: i64,
    pub no_wait: bool,
    /// `<= 0`: no heartbeats.
    pub heartbeat_ns: i64,
}

impl PullRequest {
    /// An empty body: one message, no expiry.
    pub fn one() -> Self {
        PullRequest {
            batch: 1,
            expires_ns: 0,
            max_bytes: 0,
            no_wait: false,
            heartbeat_ns: 0,
        }
    }
}

/// Something to send on a request's reply subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullAction {
    /// A status message; `pending` adds `Nats-Pending-Messages` / `Nats-Pending-Bytes`.
    /// For [`Status::IdleHeartbeat`] the driver adds `Nats-Last-Consumer` /
    /// `Nats-Last-Stream` from [`super::ConsumerState::heartbeat_positions`].
    SendStatus {
        reply: Bytes,
        status: Status,
        pending: Option<PendingCounts>,
    },
}

impl PullAction {
    fn status(reply: &Bytes, status: Status, pending: Option<PendingCounts>) -> Self {
        PullAction::SendStatus {
            reply: reply.clone(),
            status,
            pending,
        }
    }
}

/// Where [`WaitingQueue::assign`] sends a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub reply: Bytes,
    /// Messages the request still wants after this one.
    pub batch_remaining: i64,
    /// Bytes left of its `max_bytes` (0 when it had none).
    pub bytes_remaining: i64,
}

impl Assignment {
    /// The request ended with this message.
    pub fn is_done(&self) -> bool {
        self.batch_remaining <= 0
    }

    /// `409 Batch Completed`, to send after the message when the batch is full but
    /// `max_bytes` was not used up (`JsPullRequestRemainingBytesT`).
    pub fn trailer(&self) -> Option<PullAction> {
        (self.batch_remaining <= 0 && self.bytes_remaining > 0).then(|| {
            PullAction::status(
                &self.reply,
                Status::BatchCompleted,
                Some(PendingCounts {
                    messages: self.batch_remaining,
                    bytes: self.bytes_remaining,
                }),
            )
        })
    }
}

/// nats-server's `waitingRequest`.
#[derive(Clone, Debug)]
struct Waiting {
    reply: Bytes,
    batch_remaining: i64,
    /// 0: no byte limit.
    bytes_remaining: i64,
    delivered: u64,
    expires_at_ns: Option<i64>,
    no_wait: bool,
    heartbeat_ns: i64,
    next_heartbeat_ns: Option<i64>,
}

impl Waiting {
    fn pending(&self) -> PendingCounts {
        PendingCounts {
            messages: self.batch_remaining,
            bytes: self.bytes_remaining,
        }
    }

    fn expired(&self, now_ns: i64) -> bool {
        self.expires_at_ns.is_some_and(|at| now_ns >= at)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct WaitingQueue {
    limits: PullLimits,
    max_waiting: usize,
    queue: VecDeque<Waiting>,
}

impl WaitingQueue {
    pub fn new(limits: PullLimits) -> Self {
        let max_waiting = match limits.max_waiting {
            0 => MAX_WAITING_DEFAULT,
            n => n.min(WAITING_REQUESTS_HARD_MAX),
        };
        WaitingQueue {
            limits,
            max_waiting,
            queue: VecDeque::new(),
        }
    }

    /// Pull limits may change with a consumer update; requests already waiting stay.
    pub fn set_limits(&mut self, limits: PullLimits) {
        let max_waiting = self.max_waiting;
        *self = WaitingQueue {
            queue: std::mem::take(&mut self.queue),
            ..WaitingQueue::new(limits)
        };
        // max_waiting cannot change on update (nats-server refuses it).
        self.max_waiting = max_waiting;
    }

    /// `num_waiting`.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Messages the waiting requests still want (nats-server's `brp`).
    pub fn batch_pending(&self) -> i64 {
        self.queue.iter().fold(0i64, |sum, wr| {
            sum.saturating_add(wr.batch_remaining.max(0))
        })
    }

    /// A new request arrived on `reply` (`processNextMsgRequest`). `available` is
    /// `num_pending` plus queued redeliveries, for no-wait requests. Returns whether the
    /// request now waits; a refusal is in `actions`.
    pub fn add(
        &mut self,
        reply: Bytes,
        request: PullRequest,
        now_ns: i64,
        available: u64,
        interest: &dyn Fn(&[u8]) -> bool,
        actions: &mut Vec<PullAction>,
    ) -> bool {
        let refuse = |status: Status, actions: &mut Vec<PullAction>| {
            actions.push(PullAction::status(&reply, status, None));
            false
        };
        let expires_ns = request.expires_ns.max(0);
        if request.heartbeat_ns > 0 && request.heartbeat_ns.saturating_mul(2) > expires_ns {
            return refuse(Status::BadRequestHeartbeatTooLarge, actions);
        }
        if self.limits.max_batch > 0 && request.batch > self.limits.max_batch {
            return refuse(
                Status::ExceededMaxRequestBatch(self.limits.max_batch),
                actions,
            );
        }
        if expires_ns > 0
            && self.limits.max_expires_ns > 0
            && expires_ns > self.limits.max_expires_ns
        {
            let max_expires_ns = self.limits.max_expires_ns;
            return refuse(
                Status::ExceededMaxRequestExpires { max_expires_ns },
                actions,
            );
        }
        if request.max_bytes > 0
            && self.limits.max_bytes > 0
            && request.max_bytes > self.limits.max_bytes
        {
            return refuse(
                Status::ExceededMaxRequestMaxBytes(self.limits.max_bytes),
                actions,
            );
        }
        if self.queue.len() >= self.max_waiting {
            // Make room by expiring what can be expired.
            self.process(now_ns, false, interest, actions);
        }
        if request.no_wait {
            if available == 0 && expires_ns == 0 {
                return refuse(Status::NoMessages, actions);
            }
            if available > 0 {
                self.process(now_ns, false, interest, actions);
                if (available as i64) < self.batch_pending() {
                    return refuse(Status::RequestsPending, actions);
                }
            }
        }
        if self.queue.len() >= self.max_waiting {
            // A request with heartbeats gets no 409: its client would retry in a hot
            // loop instead of waiting for missed heartbeats.
            if request.heartbeat_ns <= 0 {
                actions.push(PullAction::status(&reply, Status::ExceededMaxWaiting, None));
            }
            return false;
        }
        let heartbeat_ns = request.heartbeat_ns.max(0);
        self.queue.push_back(Waiting {
            reply,
            batch_remaining: request.batch.max(1),
            bytes_remaining: request.max_bytes.max(0),
            delivered: 0,
            expires_at_ns: (expires_ns > 0).then(|| now_ns.saturating_add(expires_ns)),
            no_wait: request.no_wait,
            heartbeat_ns,
            next_heartbeat_ns: (heartbeat_ns > 0).then(|| now_ns.saturating_add(heartbeat_ns)),
        });
        debug_assert!(self.queue.len() <= self.max_waiting);
        true
    }

    /// Picks the request for a message of `size_bytes` (`nextWaiting`): expired requests
    /// get `408 Request Timeout`, requests whose remaining `max_bytes` it would exceed get
    /// `409 Message Size Exceeds MaxBytes`, requests without interest are dropped.
    pub fn assign(
        &mut self,
        size_bytes: u64,
        now_ns: i64,
        interest: &dyn Fn(&[u8]) -> bool,
        actions: &mut Vec<PullAction>,
    ) -> Option<Assignment> {
        let size = i64::try_from(size_bytes).unwrap_or(i64::MAX);
        while let Some(head) = self.queue.front_mut() {
            if head.expired(now_ns) {
                actions.push(PullAction::status(
                    &head.reply,
                    Status::RequestTimeout,
                    Some(head.pending()),
                ));
                self.queue.pop_front();
                continue;
            }
            if head.bytes_remaining > 0 {
                if size <= head.bytes_remaining {
                    head.bytes_remaining -= size;
                    if head.bytes_remaining == 0 {
                        // Exactly used up: this message and no more.
                        head.batch_remaining = 1;
                    }
                } else {
                    let pending = head.pending();
                    actions.push(PullAction::status(
                        &head.reply,
                        Status::MessageSizeExceedsMaxBytes,
                        Some(pending),
                    ));
                    self.queue.pop_front();
                    continue;
                }
            }
            if !interest(&head.reply) {
                self.queue.pop_front();
                continue;
            }
            head.delivered += 1;
            head.batch_remaining -= 1;
            let assignment = Assignment {
                reply: head.reply.clone(),
                batch_remaining: head.batch_remaining,
                bytes_remaining: head.bytes_remaining,
            };
            if head.batch_remaining > 0 {
                if let Some(interval) = (head.heartbeat_ns > 0).then_some(head.heartbeat_ns) {
                    head.next_heartbeat_ns = Some(now_ns.saturating_add(interval));
                }
                if let Some(request) = self.queue.pop_front() {
                    self.queue.push_back(request);
                }
            } else {
                self.queue.pop_front();
            }
            return Some(assignment);
        }
        None
    }

    /// Expiry, interest and heartbeats of every waiting request (`processWaiting`).
    /// `end_of_stream`: the consumer has nothing to send (not merely held back by
    /// `max_ack_pending`), so no-wait requests end with `404 No Messages` (or `408` when
    /// expired). Returns when to call again.
    pub fn process(
        &mut self,
        now_ns: i64,
        end_of_stream: bool,
        interest: &dyn Fn(&[u8]) -> bool,
        actions: &mut Vec<PullAction>,
    ) -> Option<i64> {
        let mut wake: Option<i64> = None;
        self.queue.retain_mut(|wr| {
            let expired = wr.expired(now_ns);
            if (end_of_stream && wr.no_wait) || expired {
                if expired {
                    actions.push(PullAction::status(
                        &wr.reply,
                        Status::RequestTimeout,
                        Some(wr.pending()),
                    ));
                    return false;
                }
                if wr.expires_at_ns.is_none() || wr.delivered > 0 {
                    actions.push(PullAction::status(&wr.reply, Status::NoMessages, None));
                    return false;
                }
            }
            if !interest(&wr.reply) {
                return false;
            }
            if let Some(at) = wr.next_heartbeat_ns {
                let at = if now_ns >= at {
                    actions.push(PullAction::status(&wr.reply, Status::IdleHeartbeat, None));
                    let next = now_ns.saturating_add(wr.heartbeat_ns);
                    wr.next_heartbeat_ns = Some(next);
                    next
                } else {
                    at
                };
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
            if let Some(at) = wr.expires_at_ns {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
            true
        });
        wake
    }

    /// The earliest expiry or heartbeat among waiting requests.
    pub fn next_deadline_ns(&self) -> Option<i64> {
        self.queue
            .iter()
            .flat_map(|wr| [wr.expires_at_ns, wr.next_heartbeat_ns])
            .flatten()
            .min()
    }

    /// Ends every waiting request with `status` (`409 Consumer Deleted`, `409 Leadership
    /// Change`, `409 Server Shutdown`).
    pub fn release_all(&mut self, status: Status, actions: &mut Vec<PullAction>) {
        for wr in self.queue.drain(..) {
            actions.push(PullAction::status(&wr.reply, status, None));
        }
    }
}
