//! Publish and subscribe permissions, as nats-server applies them (client.go `canSubscribe`,
//! `pubAllowedFullCheck`, `checkDenySub`, response permissions).
//!
//! [`Permissions`] is a user's compiled rules, shared by all cores. Each connection of that
//! user gets a [`ConnPermissions`] on its own core, which caches the publish decision per
//! subject (bounded), since a publisher mostly repeats a few subjects; a connection whose
//! user has no permissions has no `ConnPermissions` at all and pays nothing.
//!
//! Semantics:
//! - no allow list means everything is allowed; deny always wins over allow;
//! - a SUB's subject is matched *as a literal* against the patterns, so allow `foo.>`
//!   permits `SUB foo.*` but allow `foo.bar` does not;
//! - entries `"<subject> <queue>"` restrict queue subscriptions: allow `["foo v1"]` lets a
//!   client queue-subscribe to `foo` in group `v1` only (and not plain-subscribe); deny
//!   `"foo *.prod"` refuses those queue names;
//! - a wildcard SUB is accepted even if part of it is denied; messages on denied subjects
//!   are then dropped on delivery;
//! - `allow_responses`: a client may publish to a reply subject it received, `max_msgs`
//!   times within `expires_ms`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::auth::{PermissionsConfig, ResponsePermission, SubjectRules};
use crate::limits::{PERMISSION_CACHE_SUBJECTS_MAX, RESPONSE_PERMISSIONS_MAX};
use crate::routing::subject_matches_filter;

/// One allow or deny entry: a subject pattern, and for queue entries a queue pattern.
#[derive(Debug)]
struct Pattern {
    /// Split once at start (the config already validated it), so a check is a token walk.
    subject: Vec<Token>,
    queue: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Literal(Box<[u8]>),
    /// `*`
    One,
    /// `>`
    Tail,
}

impl Pattern {
    fn tokens(pattern: &str) -> Vec<Token> {
        pattern
            .split('.')
            .map(|t| match t {
                "*" => Token::One,
                ">" => Token::Tail,
                t => Token::Literal(t.as_bytes().into()),
            })
            .collect()
    }

    /// Whether the subject (wildcards in it taken literally, as nats-server's sublist
    /// match does for SUB subjects) is matched by this pattern.
    fn matches(&self, subject: &[u8]) -> bool {
        // A subject with an empty token matches nothing (as in the routing matcher).
        if subject.is_empty()
            || subject[0] == b'.'
            || subject[subject.len() - 1] == b'.'
            || memchr::memmem::find(subject, b"..").is_some()
        {
            return false;
        }
        let mut rest = subject;
        for pattern in &self.subject {
            if rest.is_empty() {
                return false;
            }
            let (token, after) = match memchr::memchr(b'.', rest) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            match pattern {
                Token::Tail => return true,
                Token::One => {}
                Token::Literal(literal) => {
                    if **literal != *token {
                        return false;
                    }
                }
            }
            rest = after;
        }
        rest.is_empty()
    }
}

#[derive(Debug, Default)]
struct PatternList {
    patterns: Vec<Pattern>,
}

/// What matching a subject against a list found.
struct ListMatch<'a> {
    /// A plain (non-queue) entry matched.
    plain: bool,
    /// The queue patterns of matching queue entries.
    queues: Vec<&'a [u8]>,
}

impl PatternList {
    fn compile(subjects: &[String]) -> PatternList {
        let patterns = subjects
            .iter()
            .map(|entry| {
                let mut parts = entry.split_whitespace();
                let subject = Pattern::tokens(parts.next().unwrap_or(""));
                let queue = parts.next().map(|q| q.as_bytes().to_vec());
                Pattern { subject, queue }
            })
            .collect();
        PatternList { patterns }
    }

    fn matches(&self, subject: &[u8]) -> ListMatch<'_> {
        let mut found = ListMatch {
            plain: false,
            queues: Vec::new(),
        };
        for pattern in &self.patterns {
            if pattern.matches(subject) {
                match &pattern.queue {
                    None => found.plain = true,
                    Some(queue) => found.queues.push(queue),
                }
            }
        }
        found
    }

    fn matches_plain(&self, subject: &[u8]) -> bool {
        self.patterns
            .iter()
            .any(|p| p.queue.is_none() && p.matches(subject))
    }
}

#[derive(Debug, Default)]
struct Rules {
    allow: Option<PatternList>,
    deny: Option<PatternList>,
}

impl Rules {
    fn compile(rules: &SubjectRules) -> Option<Rules> {
        if rules.allow.is_none() && rules.deny.is_none() {
            return None;
        }
        Some(Rules {
            allow: rules.allow.as_deref().map(PatternList::compile),
            deny: rules.deny.as_deref().map(PatternList::compile),
        })
    }
}

/// A user's compiled permissions.
#[derive(Debug)]
pub struct Permissions {
    publish: Option<Rules>,
    subscribe: Option<Rules>,
    responses: Option<ResponsePermission>,
}

impl Permissions {
    pub fn compile(config: &PermissionsConfig) -> Permissions {
        Permissions {
            publish: config.publish.as_ref().and_then(Rules::compile),
            subscribe: config.subscribe.as_ref().and_then(Rules::compile),
            responses: config.allow_responses,
        }
    }

    /// The rules alone, without the per-subject cache (nats-server's `pubAllowed` minus
    /// the dynamic response permissions).
    fn publish_allowed(&self, subject: &[u8]) -> bool {
        let Some(rules) = &self.publish else {
            return true;
        };
        let allowed = rules
            .allow
            .as_ref()
            .is_none_or(|allow| allow.matches_plain(subject));
        allowed
            && rules
                .deny
                .as_ref()
                .is_none_or(|deny| !deny.matches_plain(subject))
    }

    /// nats-server's `canSubscribe` (plain) and `canQueueSubscribe` (with a queue).
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(rules) = &self.subscribe else {
            return true;
        };
        let mut allowed = true;
        if let Some(allow) = &rules.allow {
            let found = allow.matches(subject);
            allowed = found.plain;
            if let Some(queue) = queue {
                if !found.queues.is_empty() {
                    allowed = queue_matches(queue, &found.queues);
                }
            }
        }
        if allowed {
            if let Some(deny) = &rules.deny {
                let found = deny.matches(subject);
                allowed = !found.plain;
                if let Some(queue) = queue {
                    if !found.queues.is_empty() {
                        allowed = !queue_matches(queue, &found.queues);
                    }
                }
            }
        }
        allowed
    }

    fn delivery_denied(&self, subject: &[u8]) -> bool {
        self.subscribe
            .as_ref()
            .and_then(|rules| rules.deny.as_ref())
            .is_some_and(|deny| deny.matches_plain(subject))
    }

    fn has_subscribe_deny(&self) -> bool {
        self.subscribe.as_ref().is_some_and(|r| r.deny.is_some())
    }
}

/// A queue name against queue patterns (which may use wildcards, as subjects do).
fn queue_matches(queue: &[u8], patterns: &[&[u8]]) -> bool {
    patterns
        .iter()
        .any(|pattern| subject_matches_filter(pattern, queue))
}

/// A reply subject this connection may answer (`allow_responses`).
struct Grant {
    sent: u64,
    granted: Instant,
}

/// One connection's view of its user's permissions, on the connection's core.
pub struct ConnPermissions {
    permissions: Arc<Permissions>,
    /// Publish decisions by subject. Keys are copies, never slices of the read buffer
    /// (which they would keep alive).
    publish_cache: RefCell<HashMap<Bytes, bool>>,
    /// The last subject found allowed: publishers mostly repeat one subject, and comparing
    /// a few bytes is cheaper than hashing them.
    last_allowed: RefCell<Bytes>,
    /// Delivery decisions under subscribe deny rules, by subject.
    delivery_cache: RefCell<HashMap<Bytes, bool>>,
    /// Reply subjects of received messages that may be answered.
    replies: RefCell<HashMap<Bytes, Grant>>,
    filters_deliveries: bool,
}

impl ConnPermissions {
    pub fn new(permissions: Arc<Permissions>) -> ConnPermissions {
        let filters_deliveries =
            permissions.has_subscribe_deny() || permissions.responses.is_some();
        ConnPermissions {
            permissions,
            publish_cache: RefCell::new(HashMap::new()),
            last_allowed: RefCell::new(Bytes::new()),
            delivery_cache: RefCell::new(HashMap::new()),
            replies: RefCell::new(HashMap::new()),
            filters_deliveries,
        }
    }

    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.permissions.can_subscribe(subject, queue)
    }

    /// nats-server's `pubAllowedFullCheck`: the rules (cached), then the reply subjects this
    /// connection was given, which are counted and expire and so are never cached.
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        if self.permissions.publish.is_none() {
            return true;
        }
        {
            let last = self.last_allowed.borrow();
            if !last.is_empty() && last[..] == *subject {
                return true;
            }
        }
        if let Some((key, &allowed)) = self.publish_cache.borrow().get_key_value(subject) {
            if allowed {
                // Shares the cached key: no allocation.
                *self.last_allowed.borrow_mut() = key.clone();
                return true;
            }
            return self.use_reply_grant(subject);
        }
        let allowed = self.permissions.publish_allowed(subject);
        let mut cache = self.publish_cache.borrow_mut();
        if cache.len() >= PERMISSION_CACHE_SUBJECTS_MAX {
            // A publisher cycling through many subjects pays the rule scan; memory stays
            // bounded either way.
            cache.clear();
        }
        let key = Bytes::copy_from_slice(subject);
        if allowed {
            *self.last_allowed.borrow_mut() = key.clone();
        }
        cache.insert(key, allowed);
        drop(cache);
        allowed || self.use_reply_grant(subject)
    }

    fn use_reply_grant(&self, subject: &[u8]) -> bool {
        let Some(limits) = self.permissions.responses else {
            return false;
        };
        let mut replies = self.replies.borrow_mut();
        let Some(grant) = replies.get_mut(subject) else {
            return false;
        };
        grant.sent += 1;
        let too_many = limits.max_msgs > 0 && grant.sent > limits.max_msgs;
        let expired = limits.expires_ms > 0
            && grant.granted.elapsed() > Duration::from_millis(limits.expires_ms);
        if too_many || expired {
            replies.remove(subject);
            return false;
        }
        if limits.max_msgs > 0 && grant.sent == limits.max_msgs {
            // Used up: forget it now rather than on the next (refused) attempt.
            replies.remove(subject);
        }
        true
    }

    /// Called for each message about to be delivered to this connection: false drops it (a
    /// wildcard subscription covering a denied subject); a reply subject is remembered for
    /// `allow_responses`.
    pub fn on_delivery(&self, subject: &[u8], reply: Option<&[u8]>) -> bool {
        if !self.filters_deliveries {
            return true;
        }
        if self.permissions.has_subscribe_deny() && self.delivery_denied(subject) {
            return false;
        }
        if let (Some(limits), Some(reply)) = (self.permissions.responses, reply) {
            let mut replies = self.replies.borrow_mut();
            if replies.len() >= RESPONSE_PERMISSIONS_MAX {
                prune_grants(&mut replies, limits);
            }
            if replies.len() < RESPONSE_PERMISSIONS_MAX {
                replies.insert(
                    Bytes::copy_from_slice(reply),
                    Grant {
                        sent: 0,
                        granted: Instant::now(),
                    },
                );
            }
        }
        true
    }

    fn delivery_denied(&self, subject: &[u8]) -> bool {
        if let Some(&denied) = self.delivery_cache.borrow().get(subject) {
            return denied;
        }
        let denied = self.permissions.delivery_denied(subject);
        let mut cache = self.delivery_cache.borrow_mut();
        if cache.len() >= PERMISSION_CACHE_SUBJECTS_MAX {
            cache.clear();
        }
        cache.insert(Bytes::copy_from_slice(subject), denied);
        denied
    }
}

/// Drops expired grants; if that frees nothing, the oldest half (a requester flooding us
/// with requests it never gets answers to must not grow this without bound).
fn prune_grants(replies: &mut HashMap<Bytes, Grant>, limits: ResponsePermission) {
    if limits.expires_ms > 0 {
        let ttl = Duration::from_millis(limits.expires_ms);
        replies.retain(|_, grant| grant.granted.elapsed() <= ttl);
    }
    if replies.len() >= RESPONSE_PERMISSIONS_MAX {
        let mut ages: Vec<Instant> = replies.values().map(|g| g.granted).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 2];
        replies.retain(|_, grant| grant.granted > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: Option<&[&str]>, deny: Option<&[&str]>) -> SubjectRules {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        SubjectRules {
            allow: allow.map(list),
            deny: deny.map(list),
        }
    }

    fn conn(config: PermissionsConfig) -> ConnPermissions {
        ConnPermissions::new(Arc::new(Permissions::compile(&config)))
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = conn(PermissionsConfig {
            publish: Some(rules(Some(&["foo.>", "bar"]), Some(&["foo.secret"]))),
            ..PermissionsConfig::default()
        });
        for _ in 0..2 {
            // The second round answers from the cache.
            assert!(p.can_publish(b"foo.x"));
            assert!(p.can_publish(b"foo.x.y"));
            assert!(p.can_publish(b"bar"));
            assert!(!p.can_publish(b"foo.secret"));
            assert!(!p.can_publish(b"baz"));
            assert!(!p.can_publish(b"foo"));
        }
        let deny_only = conn(PermissionsConfig {
            publish: Some(rules(None, Some(&["a.*"]))),
            ..PermissionsConfig::default()
        });
        assert!(deny_only.can_publish(b"b"));
        assert!(!deny_only.can_publish(b"a.b"));
    }

    #[test]
    fn token_walk_agrees_with_the_routing_matcher() {
        let patterns = [
            "a", "a.b", "a.*", "a.>", "*", ">", "*.b", "a.*.c", "*.*", "a.b.>",
        ];
        let subjects = [
            "a", "b", "a.b", "a.c", "a.b.c", "a.x.c", "b.b", "a.*", "a.>", "a.", ".a", "a..b", "",
            "a.b.", "x.y.z",
        ];
        for pattern in patterns {
            let compiled = Pattern {
                subject: Pattern::tokens(pattern),
                queue: None,
            };
            for subject in subjects {
                assert_eq!(
                    compiled.matches(subject.as_bytes()),
                    subject_matches_filter(pattern.as_bytes(), subject.as_bytes()),
                    "{pattern} vs {subject:?}"
                );
            }
        }
    }

    #[test]
    fn publish_cache_stays_bounded() {
        let p = conn(PermissionsConfig {
            publish: Some(rules(Some(&["x.*"]), None)),
            ..PermissionsConfig::default()
        });
        for i in 0..(PERMISSION_CACHE_SUBJECTS_MAX * 3) {
            assert!(p.can_publish(format!("x.{i}").as_bytes()));
            assert!(p.publish_cache.borrow().len() <= PERMISSION_CACHE_SUBJECTS_MAX);
        }
    }

    #[test]
    fn subscribe_matches_the_subject_as_a_literal() {
        let p = conn(PermissionsConfig {
            subscribe: Some(rules(Some(&["foo.>", "bar.baz"]), Some(&["foo.secret"]))),
            ..PermissionsConfig::default()
        });
        assert!(p.can_subscribe(b"foo.*", None));
        assert!(p.can_subscribe(b"foo.>", None));
        assert!(!p.can_subscribe(b"bar.*", None));
        assert!(p.can_subscribe(b"bar.baz", None));
        assert!(!p.can_subscribe(b"foo.secret", None));
        assert!(!p.can_subscribe(b"foo.secret", Some(b"q")));
        // The wildcard is accepted; the denied subject is filtered on delivery.
        assert!(p.on_delivery(b"foo.open", None));
        assert!(!p.on_delivery(b"foo.secret", None));
    }

    #[test]
    fn queue_entries() {
        let p = conn(PermissionsConfig {
            subscribe: Some(rules(
                Some(&["foo", "bar v1", "baz"]),
                Some(&["baz *.prod"]),
            )),
            ..PermissionsConfig::default()
        });
        assert!(p.can_subscribe(b"foo", None));
        assert!(p.can_subscribe(b"foo", Some(b"any")));
        assert!(!p.can_subscribe(b"bar", None));
        assert!(p.can_subscribe(b"bar", Some(b"v1")));
        assert!(!p.can_subscribe(b"bar", Some(b"v2")));
        assert!(p.can_subscribe(b"baz", Some(b"q")));
        assert!(!p.can_subscribe(b"baz", Some(b"x.prod")));
        assert!(p.can_subscribe(b"baz", None));
    }

    #[test]
    fn responses_are_counted_and_expire() {
        let p = conn(PermissionsConfig {
            publish: Some(rules(Some(&[]), None)),
            allow_responses: Some(ResponsePermission {
                max_msgs: 2,
                expires_ms: 0,
            }),
            ..PermissionsConfig::default()
        });
        assert!(!p.can_publish(b"_INBOX.a"));
        assert!(p.on_delivery(b"svc", Some(b"_INBOX.a")));
        assert!(p.can_publish(b"_INBOX.a"));
        assert!(p.can_publish(b"_INBOX.a"));
        assert!(!p.can_publish(b"_INBOX.a"));
        assert!(!p.can_publish(b"svc"));

        let expiring = conn(PermissionsConfig {
            publish: Some(rules(Some(&[]), None)),
            allow_responses: Some(ResponsePermission {
                max_msgs: 0,
                expires_ms: 1,
            }),
            ..PermissionsConfig::default()
        });
        expiring.on_delivery(b"svc", Some(b"r"));
        assert!(expiring.can_publish(b"r"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!expiring.can_publish(b"r"));
    }

    #[test]
    fn response_grants_stay_bounded() {
        let p = conn(PermissionsConfig {
            publish: Some(rules(Some(&[]), None)),
            allow_responses: Some(ResponsePermission {
                max_msgs: 1,
                expires_ms: 60_000,
            }),
            ..PermissionsConfig::default()
        });
        for i in 0..(RESPONSE_PERMISSIONS_MAX * 2 + 7) {
            let reply = Bytes::from(format!("_INBOX.{i}"));
            p.on_delivery(b"svc", Some(&reply[..]));
            assert!(p.replies.borrow().len() <= RESPONSE_PERMISSIONS_MAX);
        }
    }
}
