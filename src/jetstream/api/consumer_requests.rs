//! Request bodies of the consumer API and of message delivery: CONSUMER.NAMES/LIST,
//! the pull request (CONSUMER.MSG.NEXT and `+NXT`), the ack payloads, and the JSAck reply
//! subject that carries a delivery's sequence numbers.
//!
//! | call                      | empty body        | otherwise                                  |
//! |---------------------------|-------------------|--------------------------------------------|
//! | CONSUMER.CREATE           | empty request     | [`super::CreateConsumerRequest`]           |
//! | CONSUMER.NAMES/LIST       | offset 0          | JSON only if it starts `{`/`[`             |
//! | CONSUMER.INFO/DELETE      | ok                | 10038 unless `{}` ([`super::check_empty_request`]) |
//! | CONSUMER.MSG.NEXT         | batch 1           | `{...}` JSON, a number, else batch 1       |

use super::consumer_config::{ConsumerConfig, PriorityPolicy};
use super::consumer_responses::ConsumerStatus;
use super::duration::parse_go_duration;
use super::errors::JsError;
use super::json::{is_default, null_as_default};
use super::requests::parse_optional_request;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Priorities a pull request may ask for (`priority`, ADR-42 "prioritized").
pub const PULL_PRIORITY_MAX: i64 = 9;

/// CONSUMER.NAMES and CONSUMER.LIST options (nats-server `JSApiConsumersRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerNamesRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub offset: i64,
}

/// CONSUMER.LIST takes the same body as CONSUMER.NAMES.
pub type ConsumerListRequest = ConsumerNamesRequest;

impl ConsumerNamesRequest {
    /// Only a body starting with `{` or `[` is decoded (2.9.10 decoded any non-empty
    /// body, so `x` was 10025 there).
    pub fn parse(body: &[u8]) -> Result<Self, JsError> {
        parse_optional_request(body)
    }

    /// Negative offsets count as 0.
    pub fn offset(&self) -> usize {
        usize::try_from(self.offset).unwrap_or(0)
    }
}

/// Go's `unicode.IsSpace` trim of a byte string (`bytes.TrimSpace`): whitespace
/// characters at both ends go, invalid UTF-8 stops the trim.
fn trim_go_space(bytes: &[u8]) -> &[u8] {
    fn char_at(bytes: &[u8], start: usize) -> Option<(char, usize)> {
        let len = match bytes[start] {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return None,
        };
        let slice = bytes.get(start..start + len)?;
        let character = std::str::from_utf8(slice).ok()?.chars().next()?;
        Some((character, len))
    }
    let mut start = 0;
    while start < bytes.len() {
        match char_at(bytes, start) {
            Some((character, len)) if character.is_whitespace() => start += len,
            _ => break,
        }
    }
    let mut end = bytes.len();
    while end > start {
        // Step back over continuation bytes to the start of the last character.
        let mut lead = end - 1;
        while lead > start && end - lead < 4 && (bytes[lead] & 0xc0) == 0x80 {
            lead -= 1;
        }
        match char_at(bytes, lead) {
            Some((character, len)) if lead + len == end && character.is_whitespace() => end = lead,
            _ => break,
        }
    }
    &bytes[start..end]
}

/// The priority-group part of a JSON pull request (nats-server `PriorityGroup`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullPriority {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub group: String,
    /// Overflow policy: only serve while the consumer has at least this many pending.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub min_pending: i64,
    /// Overflow policy: only serve while at least this many acks are outstanding.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub min_ack_pending: i64,
    /// Pinned-client policy: the pin id this client holds.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub id: String,
    /// Prioritized policy: 0 (first) to 9.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub priority: i64,
}

/// A CONSUMER.MSG.NEXT request (nats-server `JSApiConsumerGetNextRequest`).
///
/// nats-server takes `batch` as given, even 0 or negative, and then delivers one message
/// for it (checked against 2.9.10 with `0`, `-3` and `{"expires":…}` without batch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    #[serde(rename = "expires", skip_serializing_if = "is_default")]
    pub expires_nanos: i64,
    #[serde(skip_serializing_if = "is_default")]
    pub batch: i64,
    #[serde(skip_serializing_if = "is_default")]
    pub max_bytes: i64,
    #[serde(skip_serializing_if = "is_default")]
    pub no_wait: bool,
    #[serde(rename = "idle_heartbeat", skip_serializing_if = "is_default")]
    pub idle_heartbeat_nanos: i64,
    /// `Some` for a JSON request: nats-server checks the priority fields only then.
    #[serde(flatten)]
    pub priority: Option<PullPriority>,
}

/// The JSON form of [`PullRequest`], all fields at one level as Go embeds them.
#[derive(Deserialize)]
struct PullRequestWire {
    #[serde(default, deserialize_with = "null_as_default")]
    expires: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    batch: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    max_bytes: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    no_wait: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    idle_heartbeat: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    group: String,
    #[serde(default, deserialize_with = "null_as_default")]
    min_pending: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    min_ack_pending: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    priority: i64,
}

impl From<PullRequestWire> for PullRequest {
    fn from(wire: PullRequestWire) -> Self {
        Self {
            expires_nanos: wire.expires,
            batch: wire.batch,
            max_bytes: wire.max_bytes,
            no_wait: wire.no_wait,
            idle_heartbeat_nanos: wire.idle_heartbeat,
            priority: Some(PullPriority {
                group: wire.group,
                min_pending: wire.min_pending,
                min_ack_pending: wire.min_ack_pending,
                id: wire.id,
                priority: wire.priority,
            }),
        }
    }
}

impl<'de> Deserialize<'de> for PullRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PullRequestWire::deserialize(deserializer).map(Self::from)
    }
}

impl Default for PullRequest {
    /// What an empty body asks for: one message, waiting as long as the requester listens.
    fn default() -> Self {
        Self {
            expires_nanos: 0,
            batch: 1,
            max_bytes: 0,
            no_wait: false,
            idle_heartbeat_nanos: 0,
            priority: None,
        }
    }
}

impl PullRequest {
    /// nats-server's `nextReqFromMsg`: the body trimmed of whitespace; empty → batch 1;
    /// starting with `{` → JSON; a decimal number → that batch; anything else → batch 1.
    /// Refusals are `400 Bad Request - …` statuses (the JSON reason is serde's wording,
    /// not Go's).
    pub fn parse(body: &[u8]) -> Result<Self, ConsumerStatus> {
        let body = trim_go_space(body);
        if body.first() == Some(&b'{') {
            let request: PullRequest = serde_json::from_slice(body)
                .map_err(|error| ConsumerStatus::BadRequest(error.to_string()))?;
            if request.idle_heartbeat_nanos > 0
                && i128::from(request.idle_heartbeat_nanos) * 2 > i128::from(request.expires_nanos)
            {
                return Err(ConsumerStatus::BadRequest(
                    "heartbeat value too large".to_owned(),
                ));
            }
            return Ok(request);
        }
        let batch = std::str::from_utf8(body)
            .ok()
            .and_then(parse_go_int)
            .unwrap_or(1);
        Ok(Self {
            batch,
            ..Self::default()
        })
    }

    /// The checks nats-server makes against the consumer before queueing the request
    /// (`processNextMsgRequest`): the consumer's request limits, then priority groups.
    /// `pin_id` is the consumer's current pin, if one is assigned (pinned-client policy).
    pub fn check(
        &self,
        config: &ConsumerConfig,
        pin_id: Option<&str>,
    ) -> Result<(), ConsumerStatus> {
        if config.max_request_batch > 0 && self.batch > config.max_request_batch {
            return Err(ConsumerStatus::ExceededMaxRequestBatch(
                config.max_request_batch,
            ));
        }
        if self.expires_nanos != 0
            && config.max_request_expires_nanos > 0
            && self.expires_nanos > config.max_request_expires_nanos
        {
            return Err(ConsumerStatus::ExceededMaxRequestExpires(
                config.max_request_expires_nanos,
            ));
        }
        if self.max_bytes > 0
            && config.max_request_bytes > 0
            && self.max_bytes > config.max_request_bytes
        {
            return Err(ConsumerStatus::ExceededMaxRequestMaxBytes(
                config.max_request_bytes,
            ));
        }
        let Some(priority) = &self.priority else {
            return Ok(());
        };
        let bad = |reason: &str| Err(ConsumerStatus::BadRequest(reason.to_owned()));
        if (priority.min_pending != 0 || priority.min_ack_pending != 0)
            && config.priority_policy != PriorityPolicy::Overflow
        {
            return bad("Not a Overflow Priority consumer");
        }
        if !priority.id.is_empty() && config.priority_policy != PriorityPolicy::PinnedClient {
            return bad("Not a Pinned Client Priority consumer");
        }
        if !(0..=PULL_PRIORITY_MAX).contains(&priority.priority) {
            return bad("Priority must be between 0 and 9");
        }
        if config.priority_policy != PriorityPolicy::None {
            if priority.group.is_empty() {
                return bad("Priority Group missing");
            }
            if !config.priority_groups.contains(&priority.group) {
                return bad("Invalid Priority Group");
            }
            if let Some(pin) = pin_id {
                if !priority.id.is_empty() && priority.id != pin {
                    return Err(ConsumerStatus::PinIdMismatch);
                }
            }
        }
        Ok(())
    }
}

/// A MSG.NEXT body against a consumer, in nats-server's order: a push consumer refuses
/// (409), then [`PullRequest::parse`] (400) and [`PullRequest::check`] (409, 400, 423).
/// The required-API-level header (412) is checked between the first two by the caller.
pub fn check_pull_request(
    config: &ConsumerConfig,
    body: &[u8],
    pin_id: Option<&str>,
) -> Result<PullRequest, ConsumerStatus> {
    if config.is_push() {
        return Err(ConsumerStatus::ConsumerIsPushBased);
    }
    let request = PullRequest::parse(body)?;
    request.check(config, pin_id)?;
    Ok(request)
}

/// Go's `strconv.Atoi` success cases: an optional sign and decimal digits in `i64`.
fn parse_go_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's i64 parser takes the same sign forms once the digits are known good.
    text.parse().ok()
}

/// What a message published to a JSAck subject asks for (nats-server `processAck`).
///
/// ```text
/// ""  "+ACK"  "+OK"            Ack
/// "-NAK"  "-NAK 5s"  "-NAK {\"delay\":5000000000}"   Nak (a bad delay is a plain NAK)
/// "+WPI"                       Progress (restart the ack wait)
/// "+NXT"  "+NXT 10"  "+NXT {…}"     Next: ack, and a pull request from the reply subject
/// "+TERM"  "+TERM <reason>"    Term: ack without redelivery, advisory with the reason
/// ```
///
/// Exact forms (`+ACK`, `+OK`, `+WPI`) must match the whole payload; `+NXT`, `-NAK` and
/// `+TERM` are prefixes, as in nats-server (so `-NAK5s` is a 5 s delay). Anything else
/// is [`AckKind::Unknown`]: ignored, though the ack reply is still sent. 2.9.10 only knew
/// the exact `+TERM` (a reason made the payload unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckKind<'a> {
    Ack,
    Nak {
        /// Redeliver after this long instead of now (may be 0 or negative).
        delay_nanos: Option<i64>,
    },
    Progress,
    Next {
        /// The rest of the payload, a pull request body for [`PullRequest::parse`].
        request: &'a [u8],
    },
    Term {
        /// Trimmed; empty when none was given.
        reason: Cow<'a, str>,
    },
    Unknown,
}

const ACK_ACK: &[u8] = b"+ACK";
const ACK_OK: &[u8] = b"+OK";
const ACK_NAK: &[u8] = b"-NAK";
const ACK_PROGRESS: &[u8] = b"+WPI";
const ACK_NEXT: &[u8] = b"+NXT";
const ACK_TERM: &[u8] = b"+TERM";

impl<'a> AckKind<'a> {
    /// Reads an ack payload (headers already stripped).
    pub fn parse(payload: &'a [u8]) -> Self {
        if payload.is_empty() || payload == ACK_ACK || payload == ACK_OK {
            return Self::Ack;
        }
        if let Some(request) = payload.strip_prefix(ACK_NEXT) {
            return Self::Next { request };
        }
        if let Some(argument) = payload.strip_prefix(ACK_NAK) {
            return Self::Nak {
                delay_nanos: parse_nak_delay(trim_go_space(argument)),
            };
        }
        if payload == ACK_PROGRESS {
            return Self::Progress;
        }
        if let Some(reason) = payload.strip_prefix(ACK_TERM) {
            return Self::Term {
                reason: String::from_utf8_lossy(trim_go_space(reason)),
            };
        }
        Self::Unknown
    }

    /// nats-server answers an ack that has a reply subject with an empty message, except
    /// for `+NXT` (whose reply subject gets messages instead).
    pub fn replies_to_ack(&self) -> bool {
        !matches!(self, Self::Next { .. })
    }
}

/// The delay of `-NAK <delay>`: `{"delay":<ns>}` JSON or Go duration text; `None` for no
/// delay or one nats-server cannot read (then it is a plain NAK).
fn parse_nak_delay(argument: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct NakOptions {
        #[serde(default, deserialize_with = "null_as_default")]
        delay: i64,
    }
    match argument.first()? {
        b'{' => serde_json::from_slice::<NakOptions>(argument)
            .ok()
            .map(|options| options.delay),
        _ => parse_go_duration(std::str::from_utf8(argument).ok()?).ok(),
    }
}

/// The reply subject of a delivered message, from which acks find their delivery:
///
/// ```text
/// v1 (9 tokens, what nats-server sends unless its js_ack_fc_v2 flag is on):
///   $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>
/// v2 (11 or more tokens; later tokens are reserved and ignored):
///   $JS.ACK.<domain or _>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>
///          .<consumer seq>.<timestamp ns>.<pending>[.<token>…]
/// ```
///
/// `delivered` counts deliveries of this message (1 the first time); `pending` is what
/// was left for the consumer after this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSubject<'a> {
    /// v2 only: the JetStream domain token (`_` for none).
    pub domain: Option<&'a str>,
    /// v2 only: the 8-character hash of the account name.
    pub account_hash: Option<&'a str>,
    pub stream: &'a str,
    pub consumer: &'a str,
    pub delivered: u64,
    pub stream_seq: u64,
    pub consumer_seq: u64,
    pub timestamp_nanos: i64,
    pub pending: u64,
}

const ACK_PREFIX: &str = "$JS.ACK.";
const ACK_TOKENS_V1: usize = 9;
const ACK_TOKENS_V2: usize = 11;

/// The digits-only numbers of an ack subject (nats-server `parseAckReplyNum`).
fn parse_ack_number(token: &str) -> Option<u64> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

impl<'a> AckSubject<'a> {
    /// Parses a v1 or v2 JSAck subject. `None` when the token count is neither 9 nor at
    /// least 11, the prefix is not `$JS.ACK`, or a number is not decimal digits.
    /// (nats-server reads such a number as -1, which matches no delivery: the ack is
    /// ignored either way.)
    pub fn parse(subject: &'a str) -> Option<Self> {
        let mut tokens = [""; ACK_TOKENS_V2];
        let mut count = 0;
        for token in subject.split('.') {
            if count < ACK_TOKENS_V2 {
                tokens[count] = token;
            }
            count += 1;
        }
        if (count != ACK_TOKENS_V1 && count < ACK_TOKENS_V2)
            || tokens[0] != "$JS"
            || tokens[1] != "ACK"
        {
            return None;
        }
        let (domain, account_hash, offset) = if count >= ACK_TOKENS_V2 {
            (Some(tokens[2]), Some(tokens[3]), 4)
        } else {
            (None, None, 2)
        };
        Some(Self {
            domain,
            account_hash,
            stream: tokens[offset],
            consumer: tokens[offset + 1],
            delivered: parse_ack_number(tokens[offset + 2])?,
            stream_seq: parse_ack_number(tokens[offset + 3])?,
            consumer_seq: parse_ack_number(tokens[offset + 4])?,
            timestamp_nanos: i64::try_from(parse_ack_number(tokens[offset + 5])?).ok()?,
            pending: parse_ack_number(tokens[offset + 6])?,
        })
    }

    /// `<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`.
    fn write_tail(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "{}.{}.{}.{}.{}.{}.{}",
            self.stream,
            self.consumer,
            self.delivered,
            self.stream_seq,
            self.consumer_seq,
            self.timestamp_nanos,
            self.pending
        );
    }

    /// Appends the v1 subject to `out` (reuse the buffer on the delivery path).
    pub fn write_v1(&self, out: &mut String) {
        out.push_str(ACK_PREFIX);
        self.write_tail(out);
    }

    /// Appends the v2 subject to `out`, with `domain` (`_` when empty or unset) and the
    /// account hash (`_` when unset; nats-server uses 8 characters of a SHA-256 of the
    /// account name).
    pub fn write_v2(&self, out: &mut String) {
        let domain = self.domain.filter(|d| !d.is_empty()).unwrap_or("_");
        let account_hash = self.account_hash.unwrap_or("_");
        out.push_str(ACK_PREFIX);
        out.push_str(domain);
        out.push('.');
        out.push_str(account_hash);
        out.push('.');
        self.write_tail(out);
    }

    /// The v1 subject as a new String.
    pub fn to_v1(&self) -> String {
        let mut out = String::with_capacity(64 + self.stream.len() + self.consumer.len());
        self.write_v1(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_trim_space() {
        assert_eq!(trim_go_space(b"  2 "), b"2");
        assert_eq!(trim_go_space(b"\t\r\n\x0b\x0c x \n"), b"x");
        assert_eq!(trim_go_space("\u{a0}5s\u{2003}".as_bytes()), b"5s");
        assert_eq!(trim_go_space(b"\xff 5s \xfe"), b"\xff 5s \xfe");
        assert_eq!(trim_go_space(b" \xe2\x80"), b"\xe2\x80");
        assert_eq!(trim_go_space(b"   "), b"");
        assert_eq!(trim_go_space(b""), b"");
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("10"), Some(10));
        assert_eq!(parse_go_int("-3"), Some(-3));
        assert_eq!(parse_go_int("+3"), Some(3));
        assert_eq!(parse_go_int("3x"), None);
        assert_eq!(parse_go_int("+-3"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("99999999999999999999"), None);
    }
}
