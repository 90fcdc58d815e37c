//! `ConsumerConfig` and the CONSUMER.CREATE rules: nats-server's defaults
//! (`setConsumerConfigDefaults`), validation (`checkConsumerCfg`), update rules
//! (`checkNewConsumerConfig`), the create-subject forms (`jsConsumerCreateRequest`) and
//! the decisions `addConsumerWithAction` makes against the stream's other consumers, for a
//! single, non-clustered server.
//!
//! A CONSUMER.CREATE handler, in nats-server's order:
//!
//! ```text
//! let subject = ConsumerCreateSubject::parse(subject)?;          // not ours → no reply
//! let request = CreateConsumerRequest::decode(body)?;            // 10025
//! check_required_api_level(header, level)?;                      // 10185
//! let request = request.normalised(&subject)?;                   // 10016..10020, 10056, 10127,
//!                                                                // 10131, 10137, 10074
//! let stream = lookup(&request.stream_name)?;                    // 10059
//! match plan_create(&request, stream, &limits, &consumers, &fresh_name)? {  // all the rest
//!     ConsumerPlan::Create { name, config } => ...,
//!     ConsumerPlan::Update { name, config, changed } => ...,
//! }
//! ```
//!
//! Field names, order and `omitempty` rules are those of the current server's
//! `ConsumerConfig`. Compared with 2.9.10 it moved `idle_heartbeat` after `deliver_group`
//! and added `filter_subjects`, `sourcing`, `metadata`, `pause_until`, `priority_groups`,
//! `priority_policy`, `priority_timeout`, the `flow_control` ack policy, the CREATE
//! `action` and `pedantic` request fields. The differences in validation are listed next
//! to the rules; the big ones: negative limits are normalised instead of refused, filters
//! need not be a subset of the stream's subjects (2.9.10: 10093), `+TERM <reason>`.
//!
//! Not modelled: the versioning metadata newer servers add (`_nats.req.level`, like the
//! stream layer), the `sourcing` upgrade of direct consumers on interest streams and the
//! stream-identity header (2.12+ stream sourcing), clustered placement.

use super::errors::JsError;
use super::json::{is_default, null_as_default};
use super::names::{self, DESCRIPTION_LEN_MAX, METADATA_LEN_MAX, NAME_LEN_MAX};
use super::stream_config::{RetentionPolicy, StreamConfig};
use super::subjects::{is_literal, is_subset, is_valid_subject, subjects_collide};
use super::time::{go_duration_string, GoTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// nats-server `JsAckWaitDefault`, for `explicit` and `all` ack policies.
pub const ACK_WAIT_DEFAULT_NANOS: i64 = 30 * NANOS_PER_SECOND;
/// nats-server `JsDeleteWaitTimeDefault`: ephemerals go after this long without interest.
pub const INACTIVE_THRESHOLD_EPHEMERAL_NANOS: i64 = 5 * NANOS_PER_SECOND;
/// nats-server `JsDefaultMaxAckPending`, unless a server, account or stream limit is lower.
pub const MAX_ACK_PENDING_DEFAULT: i64 = 1000;
/// nats-server `JSWaitQueueDefaultMax`: outstanding pull requests of a pull consumer.
pub const MAX_WAITING_DEFAULT: i64 = 512;
/// nats-server `JsDefaultPinnedTTL`, for the `pinned_client` priority policy.
pub const PRIORITY_TIMEOUT_DEFAULT_NANOS: i64 = 120 * NANOS_PER_SECOND;
/// Push heartbeats, when set, must be at least this.
pub const IDLE_HEARTBEAT_MIN_NANOS: i64 = 100 * NANOS_PER_MILLI;
/// `max_expires`, when set, must be at least this.
pub const MAX_EXPIRES_MIN_NANOS: i64 = NANOS_PER_MILLI;
/// The heartbeat the `flow_control` ack policy requires (nats-server `sourceHealthHB`).
pub const FLOW_CONTROL_ACK_HEARTBEAT_NANOS: i64 = NANOS_PER_SECOND;
/// Longest priority group name (nats-server `validGroupName`).
pub const PRIORITY_GROUP_NAME_LEN_MAX: usize = 16;

/// Declares a policy enum with Go's exact JSON strings. Like Go's `UnmarshalJSON`, decoding
/// is case sensitive and refuses `null`; `$error` renders the raw JSON value into the text.
macro_rules! policy_enum {
    ($(#[$doc:meta])* $name:ident {
        $($(#[$vdoc:meta])* $variant:ident = $text:literal $(| $alias:literal)*),+ $(,)?
    } error $error:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// The JSON string nats-server uses.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(deserializer)?;
                match text.as_deref() {
                    $(Some($text $(| $alias)*) => Ok(Self::$variant),)+
                    other => {
                        let raw = other.map_or_else(|| "null".to_owned(), |t| format!("\"{t}\""));
                        Err(serde::de::Error::custom(format!($error, raw)))
                    }
                }
            }
        }
    };
}

policy_enum! {
    /// Where a new consumer starts (nats-server `DeliverPolicy`; `"undefined"` reads as all).
    DeliverPolicy {
        #[default]
        All = "all" | "undefined",
        Last = "last",
        New = "new",
        ByStartSequence = "by_start_sequence",
        ByStartTime = "by_start_time",
        LastPerSubject = "last_per_subject",
    } error "can not unmarshal {:?}"
}

policy_enum! {
    /// How deliveries are acknowledged (nats-server `AckPolicy`).
    AckPolicy {
        #[default]
        None = "none",
        All = "all",
        Explicit = "explicit",
        /// 2.14+: acks follow flow-control replies; used by stream sourcing.
        FlowControl = "flow_control",
    } error "can not unmarshal {:?}"
}

policy_enum! {
    /// Replay speed (nats-server `ReplayPolicy`).
    ReplayPolicy {
        #[default]
        Instant = "instant",
        Original = "original",
    } error "can not unmarshal {:?}"
}

policy_enum! {
    /// How pull requests of priority groups are served (ADR-42, 2.11+).
    PriorityPolicy {
        #[default]
        None = "none",
        Overflow = "overflow",
        PinnedClient = "pinned_client",
        Prioritized = "prioritized",
    } error "unknown priority policy: {}"
}

policy_enum! {
    /// CONSUMER.CREATE `action` (2.10+): `""` create or update, `"create"` only create
    /// (10148 if a different one exists), `"update"` only update (10149 if none).
    ConsumerAction {
        #[default]
        CreateOrUpdate = "",
        Create = "create",
        Update = "update",
    } error "unknown consumer action: {}"
}

impl PriorityPolicy {
    fn is_none(&self) -> bool {
        *self == Self::None
    }
}

/// A consumer's configuration. Durations are Go `time.Duration` (integer nanoseconds).
///
/// Serialized field order is nats-server's, so encodings compare byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerConfig {
    /// Set: a durable consumer, kept without interest. Must equal `name` when both are set.
    #[serde(
        rename = "durable_name",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub durable_name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub description: String,
    #[serde(default)]
    pub deliver_policy: DeliverPolicy,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub opt_start_seq: u64,
    /// Go `*time.Time`: `Some(zero time)` is "set" and is echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<GoTime>,
    #[serde(default)]
    pub ack_policy: AckPolicy,
    #[serde(
        rename = "ack_wait",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub ack_wait_nanos: i64,
    /// -1 = unlimited (0 and < -1 are normalised to -1).
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_deliver: i64,
    /// Redelivery delays by delivery count; the first one replaces `ack_wait`.
    #[serde(
        rename = "backoff",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub backoff_nanos: Vec<i64>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subject: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subjects: Vec<String>,
    #[serde(default)]
    pub replay_policy: ReplayPolicy,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub rate_limit_bps: u64,
    /// Ack sampling, e.g. `"30%"` or `"30"`.
    #[serde(
        rename = "sample_freq",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub sample_frequency: String,
    /// Pull only: outstanding pull requests (512 by default).
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_waiting: i64,
    /// Unacknowledged deliveries before delivery pauses; -1 = unlimited.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_ack_pending: i64,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub flow_control: bool,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub headers_only: bool,
    /// Pull only: largest `batch` a request may ask for.
    #[serde(
        rename = "max_batch",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_request_batch: i64,
    /// Pull only: longest `expires` a request may ask for.
    #[serde(
        rename = "max_expires",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_request_expires_nanos: i64,
    /// Pull only: largest `max_bytes` a request may ask for.
    #[serde(
        rename = "max_bytes",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_request_bytes: i64,
    /// Set: a push consumer delivering here.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deliver_subject: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deliver_group: String,
    #[serde(
        rename = "idle_heartbeat",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub idle_heartbeat_nanos: i64,
    #[serde(
        rename = "inactive_threshold",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub inactive_threshold_nanos: i64,
    /// 0 = as the stream ([`ConsumerConfig::effective_replicas`]); kept as sent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_replicas: i64,
    #[serde(
        rename = "mem_storage",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub memory_storage: bool,
    /// Internal (mirrors and sources): not listed, no state of its own.
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub direct: bool,
    /// Internal (2.12+ stream sourcing).
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub sourcing: bool,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Delivery is suspended until then (2.11+); only CONSUMER.PAUSE changes it later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_until: Option<GoTime>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub priority_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "PriorityPolicy::is_none")]
    pub priority_policy: PriorityPolicy,
    /// How long a pinned client keeps its pin without pulling (nats-server `PinnedTTL`).
    #[serde(
        rename = "priority_timeout",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub priority_timeout_nanos: i64,
}

/// The server and account limits consumer validation depends on. `Default` is an
/// unconfigured standalone server: no caps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerLimits {
    /// `jetstream { limits { max_ack_pending } }`; <= 0 = none (10121).
    pub server_max_ack_pending: i64,
    /// `jetstream { limits { max_request_batch } }`; <= 0 = none (10125, and the default).
    pub server_max_request_batch: i64,
    /// Account `max_ack_pending`; <= 0 = none (10121, and the default).
    pub account_max_ack_pending: i64,
    /// Account consumers per stream; <= 0 = none (10026).
    pub account_max_consumers: i64,
}

fn invalid(reason: impl std::fmt::Display) -> JsError {
    JsError::stream_invalid_config(reason)
}

/// Go's `%q` of a string, for the texts `strconv` puts in errors.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Atoi` on a sampling value, with its error text for 10095.
pub(crate) fn parse_sample_percent(text: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(text));
    let range = || {
        format!(
            "strconv.Atoi: parsing {}: value out of range",
            go_quote(text)
        )
    };
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(syntax());
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(digit - b'0')))
            .ok_or_else(range)?;
    }
    if negative {
        // -2^63 is the one magnitude past i64::MAX that still fits.
        0i64.checked_sub_unsigned(magnitude).ok_or_else(range)
    } else {
        i64::try_from(magnitude).map_err(|_| range())
    }
}

/// nats-server `validGroupName`: `^[a-zA-Z0-9/_=-]{1,16}$`.
fn is_valid_priority_group(name: &str) -> bool {
    (1..=PRIORITY_GROUP_NAME_LEN_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'_' | b'=' | b'-'))
}

impl ConsumerConfig {
    /// A durable consumer has `durable_name`; everything else is ephemeral.
    pub fn is_durable(&self) -> bool {
        !self.durable_name.is_empty()
    }

    /// Push consumers deliver to `deliver_subject`; pull consumers wait for MSG.NEXT.
    pub fn is_push(&self) -> bool {
        !self.deliver_subject.is_empty()
    }

    pub fn is_pull(&self) -> bool {
        self.deliver_subject.is_empty()
    }

    /// The subject filters as nats-server gathers them (`gatherSubjectFilters`):
    /// `filter_subjects`, then `filter_subject`. Empty means every subject.
    pub fn filters(&self) -> Vec<&str> {
        let mut filters: Vec<&str> = self.filter_subjects.iter().map(String::as_str).collect();
        if !self.filter_subject.is_empty() {
            filters.push(&self.filter_subject);
        }
        filters
    }

    /// The replicas the consumer really has (nats-server `ConsumerConfig.replicas`): 0 or
    /// more than the stream means the stream's, except old-style ephemerals (replicas 0
    /// on a limits stream), which are R1.
    pub fn effective_replicas(&self, stream: &StreamConfig) -> i64 {
        if self.num_replicas == 0 || self.num_replicas > stream.num_replicas {
            if !self.is_durable()
                && stream.retention == RetentionPolicy::Limits
                && self.num_replicas == 0
            {
                return 1;
            }
            return stream.num_replicas;
        }
        self.num_replicas
    }

    /// nats-server's `setConsumerConfigDefaults`. With `pedantic`, a default that would
    /// silently change a value is an error instead (10157).
    pub fn apply_defaults(
        &mut self,
        stream: &StreamConfig,
        limits: &ConsumerLimits,
        pedantic: bool,
    ) -> Result<(), JsError> {
        let pedantic_error = |reason: &str| JsError::pedantic(reason);
        if self.max_deliver == 0 || self.max_deliver < -1 {
            if pedantic && self.max_deliver < -1 {
                return Err(pedantic_error("max_deliver must be set to -1"));
            }
            self.max_deliver = -1;
        }
        if self.max_waiting < 0 {
            if pedantic {
                return Err(pedantic_error("max_waiting must not be negative"));
            }
            self.max_waiting = 0;
        }
        if self.max_ack_pending < -1 {
            if pedantic {
                return Err(pedantic_error("max_ack_pending must be set to -1"));
            }
            self.max_ack_pending = -1;
        }
        for (value, field) in [
            (&mut self.max_request_batch, "max_batch"),
            (&mut self.max_request_expires_nanos, "max_expires"),
            (&mut self.max_request_bytes, "max_bytes"),
            (&mut self.idle_heartbeat_nanos, "idle_heartbeat"),
            (&mut self.inactive_threshold_nanos, "inactive_threshold"),
            (&mut self.priority_timeout_nanos, "priority_timeout"),
        ] {
            if *value < 0 {
                if pedantic {
                    return Err(JsError::pedantic(format!("{field} must not be negative")));
                }
                *value = 0;
            }
        }

        if self.is_pull() && self.max_waiting == 0 {
            self.max_waiting = MAX_WAITING_DEFAULT;
        }
        if self.ack_wait_nanos == 0
            && matches!(self.ack_policy, AckPolicy::Explicit | AckPolicy::All)
        {
            self.ack_wait_nanos = ACK_WAIT_DEFAULT_NANOS;
        }
        if let Some(&first) = self.backoff_nanos.first() {
            if pedantic && self.ack_wait_nanos != first {
                return Err(pedantic_error(
                    "first backoff value has to equal batch AckWait",
                ));
            }
            self.ack_wait_nanos = first;
        }
        let stream_limits = &stream.consumer_limits;
        if self.max_ack_pending == 0 {
            if pedantic && stream_limits.max_ack_pending > 0 {
                return Err(pedantic_error(
                    "max_ack_pending must be set if it's configured in stream limits",
                ));
            }
            self.max_ack_pending = stream_limits.max_ack_pending;
        }
        if self.inactive_threshold_nanos == 0 {
            if pedantic && stream_limits.inactive_threshold_nanos > 0 {
                return Err(pedantic_error(
                    "inactive_threshold must be set if it's configured in stream limits",
                ));
            }
            self.inactive_threshold_nanos = stream_limits.inactive_threshold_nanos;
        }
        if self.max_ack_pending == 0 && self.ack_policy != AckPolicy::None {
            let mut pending = MAX_ACK_PENDING_DEFAULT;
            for limit in [
                limits.server_max_ack_pending,
                limits.account_max_ack_pending,
            ] {
                if limit > 0 && limit < pending {
                    pending = limit;
                }
            }
            self.max_ack_pending = pending;
        }
        if self.is_pull() && self.max_request_batch == 0 && limits.server_max_request_batch > 0 {
            if pedantic {
                return Err(pedantic_error(
                    "max_request_batch must be set if it's JetStream limits are set",
                ));
            }
            self.max_request_batch = limits.server_max_request_batch;
        }
        if self.priority_policy == PriorityPolicy::PinnedClient && self.priority_timeout_nanos == 0
        {
            self.priority_timeout_nanos = PRIORITY_TIMEOUT_DEFAULT_NANOS;
        }
        if self.ack_policy == AckPolicy::FlowControl && !pedantic {
            self.flow_control = true;
            self.idle_heartbeat_nanos = FLOW_CONTROL_ACK_HEARTBEAT_NANOS;
        }
        Ok(())
    }

    /// nats-server's `checkConsumerCfg` for a config that went through
    /// [`ConsumerConfig::apply_defaults`]: the first error in nats-server's order.
    ///
    /// (The 10181/10182 checks for out-of-range policies cannot fail here: the enums only
    /// hold valid values.)
    pub fn check(&self, stream: &StreamConfig, limits: &ConsumerLimits) -> Result<(), JsError> {
        if !self.name.is_empty() {
            names::check_consumer_name(&self.name)?;
        }
        if !self.durable_name.is_empty() {
            names::check_durable_name(&self.durable_name)?;
        }
        if self.num_replicas > 0 && self.num_replicas > stream.num_replicas {
            return Err(JsError::consumer_replicas_exceeds_stream());
        }
        if self.num_replicas < 0 {
            return Err(JsError::replicas_count_cannot_be_negative());
        }
        if matches!(
            stream.retention,
            RetentionPolicy::Interest | RetentionPolicy::WorkQueue
        ) && self.num_replicas != 0
            && self.num_replicas != stream.num_replicas
        {
            return Err(JsError::consumer_replicas_should_match_stream());
        }
        if self.backoff_nanos.iter().any(|&delay| delay < 0) {
            return Err(JsError::consumer_back_off_negative());
        }
        if self.ack_wait_nanos < 0 {
            return Err(JsError::consumer_ack_wait_negative());
        }
        if self.ack_policy == AckPolicy::FlowControl {
            self.check_flow_control_ack()?;
        }
        let backoff_len = self.backoff_nanos.len() as i64;
        if backoff_len > 0 && self.max_deliver != -1 && backoff_len > self.max_deliver {
            return Err(JsError::consumer_max_deliver_backoff());
        }
        if self.description.len() > DESCRIPTION_LEN_MAX {
            return Err(JsError::consumer_description_too_long(DESCRIPTION_LEN_MAX));
        }
        if self.is_push() {
            self.check_push(stream)?;
        } else {
            self.check_pull(stream, limits)?;
        }
        for limit in [
            limits.server_max_ack_pending,
            limits.account_max_ack_pending,
            stream.consumer_limits.max_ack_pending,
        ] {
            if limit > 0 && self.max_ack_pending > limit {
                return Err(JsError::consumer_max_pending_ack_excess(limit));
            }
        }
        let inactive_limit = stream.consumer_limits.inactive_threshold_nanos;
        if inactive_limit > 0 && self.inactive_threshold_nanos > inactive_limit {
            return Err(JsError::consumer_inactive_threshold_excess(
                go_duration_string(inactive_limit),
            ));
        }
        if self.direct {
            if self.is_pull() {
                return Err(JsError::consumer_direct_requires_push());
            }
            if self.is_durable() {
                return Err(JsError::consumer_direct_requires_ephemeral());
            }
        }
        self.check_filters()?;
        self.check_start_position()?;
        if !self.sample_frequency.is_empty() {
            let number = self
                .sample_frequency
                .strip_suffix('%')
                .unwrap_or(&self.sample_frequency);
            match parse_sample_percent(number) {
                // Go formats the nil error of a negative value as "<nil>".
                Ok(percent) if percent < 0 => {
                    return Err(JsError::consumer_invalid_sampling("<nil>"))
                }
                Ok(_) => {}
                Err(reason) => return Err(JsError::consumer_invalid_sampling(reason)),
            }
        }
        if self.flow_control && self.idle_heartbeat_nanos == 0 {
            return Err(JsError::consumer_with_flow_control_needs_heartbeats());
        }
        if self.is_durable() && !self.name.is_empty() && self.name != self.durable_name {
            return Err(JsError::consumer_create_durable_and_name_mismatch());
        }
        let metadata_len: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata_len > METADATA_LEN_MAX {
            return Err(JsError::consumer_metadata_length(format!(
                "{}KB",
                METADATA_LEN_MAX / 1024
            )));
        }
        self.check_priority_groups()?;
        if stream
            .placement
            .as_ref()
            .is_some_and(|placement| !placement.preferred.is_empty())
        {
            return Err(invalid("preferred server not permitted in placement"));
        }
        Ok(())
    }

    fn check_flow_control_ack(&self) -> Result<(), JsError> {
        if self.is_pull() {
            return Err(JsError::consumer_ack_fc_requires_push());
        }
        if !self.flow_control {
            return Err(JsError::consumer_ack_fc_requires_fc());
        }
        if self.idle_heartbeat_nanos != FLOW_CONTROL_ACK_HEARTBEAT_NANOS {
            return Err(invalid("flow control ack policy heartbeat needs to be 1s"));
        }
        if self.max_ack_pending <= 0 {
            return Err(JsError::consumer_ack_fc_requires_max_ack_pending());
        }
        if self.ack_wait_nanos != 0 || !self.backoff_nanos.is_empty() {
            return Err(JsError::consumer_ack_fc_requires_no_ack_wait());
        }
        if self.max_deliver > 0 {
            return Err(JsError::consumer_ack_fc_requires_no_max_deliver());
        }
        Ok(())
    }

    fn check_push(&self, stream: &StreamConfig) -> Result<(), JsError> {
        if !is_literal(&self.deliver_subject) {
            return Err(JsError::consumer_deliver_to_wildcards());
        }
        if !is_valid_subject(&self.deliver_subject) {
            return Err(JsError::consumer_invalid_deliver_subject());
        }
        // Delivering into the stream's own subjects would store every delivery again.
        if stream
            .subjects
            .iter()
            .any(|subject| is_subset(&self.deliver_subject, subject))
        {
            return Err(JsError::consumer_deliver_cycle());
        }
        if self.max_waiting != 0 {
            return Err(JsError::consumer_push_max_waiting());
        }
        if self.max_ack_pending > 0 && self.ack_policy == AckPolicy::None {
            return Err(JsError::consumer_max_pending_ack_policy_required());
        }
        if self.idle_heartbeat_nanos > 0 && self.idle_heartbeat_nanos < IDLE_HEARTBEAT_MIN_NANOS {
            return Err(JsError::consumer_small_heartbeat());
        }
        Ok(())
    }

    fn check_pull(&self, stream: &StreamConfig, limits: &ConsumerLimits) -> Result<(), JsError> {
        if self.ack_policy == AckPolicy::None && stream.retention == RetentionPolicy::WorkQueue {
            return Err(JsError::consumer_pull_requires_ack());
        }
        if self.rate_limit_bps > 0 {
            return Err(JsError::consumer_pull_with_rate_limit());
        }
        if self.max_waiting < 0 {
            return Err(JsError::consumer_max_waiting_negative());
        }
        if self.idle_heartbeat_nanos > 0 {
            return Err(JsError::consumer_hb_requires_push());
        }
        if self.flow_control {
            return Err(JsError::consumer_fc_requires_push());
        }
        if self.max_request_batch < 0 {
            return Err(JsError::consumer_max_request_batch_negative());
        }
        if self.max_request_expires_nanos != 0
            && self.max_request_expires_nanos < MAX_EXPIRES_MIN_NANOS
        {
            return Err(JsError::consumer_max_request_expires_too_small());
        }
        let batch_limit = limits.server_max_request_batch;
        if batch_limit > 0 && self.max_request_batch > batch_limit {
            return Err(JsError::consumer_max_request_batch_exceeded(batch_limit));
        }
        Ok(())
    }

    fn check_filters(&self) -> Result<(), JsError> {
        if !self.filter_subject.is_empty() && !self.filter_subjects.is_empty() {
            return Err(JsError::consumer_duplicate_filter_subjects());
        }
        if !self.filter_subject.is_empty() && !is_valid_subject(&self.filter_subject) {
            return Err(invalid("invalid subject"));
        }
        if self.filter_subjects.iter().any(String::is_empty) {
            return Err(JsError::consumer_empty_filter());
        }
        let filters = self.filters();
        for (outer, filter) in filters.iter().enumerate() {
            if !is_valid_subject(filter) {
                return Err(invalid("invalid subject"));
            }
            for (inner, other) in filters.iter().enumerate() {
                if inner != outer && is_subset(filter, other) {
                    return Err(JsError::consumer_overlapping_subject_filters());
                }
            }
        }
        Ok(())
    }

    fn check_start_position(&self) -> Result<(), JsError> {
        let also_set = |policy: &str, start: &str| {
            JsError::consumer_invalid_policy(format!(
                "consumer delivery policy is deliver {policy}, but optional start {start} is also set"
            ))
        };
        let not_set = |policy: &str, missing: &str| {
            JsError::consumer_invalid_policy(format!(
                "consumer delivery policy is deliver {policy}, but optional {missing} is not set"
            ))
        };
        let has_seq = self.opt_start_seq > 0;
        let has_time = self.opt_start_time.is_some();
        let plain = |policy: &str| {
            if has_seq {
                return Err(also_set(policy, "sequence"));
            }
            if has_time {
                return Err(also_set(policy, "time"));
            }
            Ok(())
        };
        match self.deliver_policy {
            DeliverPolicy::All => plain("all"),
            DeliverPolicy::Last => plain("last"),
            DeliverPolicy::New => plain("new"),
            DeliverPolicy::LastPerSubject => {
                plain("last per subject")?;
                if self.filters().is_empty() {
                    return Err(not_set("last per subject", "filter subject"));
                }
                Ok(())
            }
            DeliverPolicy::ByStartSequence => {
                if !has_seq {
                    return Err(not_set("by start sequence", "start sequence"));
                }
                if has_time {
                    return Err(also_set("by start sequence", "time"));
                }
                Ok(())
            }
            DeliverPolicy::ByStartTime => {
                if !has_time {
                    return Err(not_set("by start time", "start time"));
                }
                if has_seq {
                    // Sic: nats-server says "start start sequence".
                    return Err(also_set("by start time", "start sequence"));
                }
                Ok(())
            }
        }
    }

    fn check_priority_groups(&self) -> Result<(), JsError> {
        if self.priority_policy != PriorityPolicy::None {
            if self.is_push() {
                return Err(JsError::consumer_push_with_priority_group());
            }
            if self.priority_groups.is_empty() {
                return Err(JsError::consumer_priority_policy_without_group());
            }
            for group in &self.priority_groups {
                if group.is_empty() {
                    return Err(JsError::consumer_empty_group_name());
                }
                if !is_valid_priority_group(group) {
                    return Err(JsError::consumer_invalid_group_name());
                }
            }
        } else {
            if !self.priority_groups.is_empty() {
                return Err(JsError::consumer_priority_group_with_policy_none());
            }
            if self.priority_timeout_nanos > 0 {
                return Err(JsError::consumer_pinned_ttl_without_priority_policy_none());
            }
        }
        Ok(())
    }

    /// [`ConsumerConfig::apply_defaults`] then [`ConsumerConfig::check`] on a copy.
    pub fn checked(
        &self,
        stream: &StreamConfig,
        limits: &ConsumerLimits,
        pedantic: bool,
    ) -> Result<ConsumerConfig, JsError> {
        let mut config = self.clone();
        config.apply_defaults(stream, limits, pedantic)?;
        config.check(stream, limits)?;
        Ok(config)
    }

    /// What nats-server stamps on a consumer it keeps (`updateInactiveThreshold`):
    /// ephemerals without a threshold get 5 s; `pause_until` is kept in UTC.
    fn stamp_stored(&mut self) {
        if !self.is_durable() && self.inactive_threshold_nanos <= 0 {
            self.inactive_threshold_nanos = INACTIVE_THRESHOLD_EPHEMERAL_NANOS;
        }
        if let Some(until) = &mut self.pause_until {
            *until = until.to_utc();
        }
    }
}

impl ConsumerConfig {
    /// `sample_freq` as a percentage (`"50%"` or `"50"`); 0 when unset or unreadable
    /// (the create checks refuse those).
    pub fn sample_percent(&self) -> i64 {
        let number = self
            .sample_frequency
            .strip_suffix('%')
            .unwrap_or(&self.sample_frequency);
        parse_sample_percent(number).unwrap_or(0).max(0)
    }
}

/// nats-server's `checkNewConsumerConfig`: may the consumer configured as `old` take
/// `new` (after defaults and checks)? `deliver_subject_has_interest` says whether anyone
/// listens on `old.deliver_subject` (a bound push consumer keeps its subject, 10013).
///
/// The plain refusals are 10012 with the reason as description (code 500), as nats-server
/// wraps them; 2.9.10 differed: it compared `opt_start_time` by pointer (so every update of
/// a `by_start_time` consumer failed), checked `max_waiting` before the push/pull switch,
/// allowed changing `mem_storage`, and had no `direct`/`sourcing` rules.
pub fn check_update(
    old: &ConsumerConfig,
    new: &ConsumerConfig,
    deliver_subject_has_interest: bool,
) -> Result<(), JsError> {
    if old == new {
        return Ok(());
    }
    let refuse = |reason: &str| Err(JsError::consumer_create(reason));
    if old.deliver_policy != new.deliver_policy {
        return refuse("deliver policy can not be updated");
    }
    if old.memory_storage != new.memory_storage {
        return refuse("storage type can not be updated");
    }
    if old.direct != new.direct {
        return refuse("direct can not be updated");
    }
    if old.sourcing != new.sourcing {
        return refuse("sourcing can not be updated");
    }
    if old.opt_start_seq != new.opt_start_seq {
        return refuse("start sequence can not be updated");
    }
    let same_start_time = match (&old.opt_start_time, &new.opt_start_time) {
        (Some(a), Some(b)) => a.to_utc() == b.to_utc(),
        (None, None) => true,
        _ => false,
    };
    if !same_start_time {
        return refuse("start time can not be updated");
    }
    if old.ack_policy != new.ack_policy {
        return refuse("ack policy can not be updated");
    }
    if old.replay_policy != new.replay_policy {
        return refuse("replay policy can not be updated");
    }
    if old.idle_heartbeat_nanos != new.idle_heartbeat_nanos {
        return refuse("heart beats can not be updated");
    }
    if old.flow_control != new.flow_control {
        return refuse("flow control can not be updated");
    }
    if old.deliver_subject != new.deliver_subject {
        if old.deliver_subject.is_empty() {
            return refuse("can not update pull consumer to push based");
        }
        if new.deliver_subject.is_empty() {
            return refuse("can not update push consumer to pull based");
        }
        if deliver_subject_has_interest {
            return Err(JsError::consumer_name_exist());
        }
    }
    if old.max_waiting != new.max_waiting {
        return refuse("max waiting can not be updated");
    }
    let backoff_len = new.backoff_nanos.len() as i64;
    if backoff_len > 0 && new.max_deliver != -1 && backoff_len > new.max_deliver {
        return Err(JsError::consumer_max_deliver_backoff());
    }
    Ok(())
}

/// The subject forms of a consumer create, relative to `$JS.API.`:
///
/// ```text
/// CONSUMER.CREATE.<stream>                      Legacy (ephemeral, or `config.name`)
/// CONSUMER.CREATE.<stream>.<consumer>           Named
/// CONSUMER.CREATE.<stream>.<consumer>.<filter>  Named with a filter (may have dots)
/// CONSUMER.DURABLE.CREATE.<stream>.<durable>    Durable (legacy)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerCreateSubject<'a> {
    Legacy {
        stream: &'a str,
    },
    Named {
        stream: &'a str,
        consumer: &'a str,
        filter: Option<&'a str>,
    },
    Durable {
        stream: &'a str,
        durable: &'a str,
    },
    /// `CONSUMER.DURABLE.CREATE` with other than two more tokens (10016; the API's
    /// subscriptions never deliver such a subject, but nats-server has the check).
    DurableMalformed,
}

/// The API prefix consumer create subjects live under (after domain mapping).
const API_PREFIX: &str = "$JS.API.";

impl<'a> ConsumerCreateSubject<'a> {
    /// Parses a full API subject; `None` when it is no consumer create (nats-server
    /// would not answer).
    pub fn parse(subject: &'a str) -> Option<Self> {
        let rest = subject.strip_prefix(API_PREFIX)?;
        if let Some(durable) = rest.strip_prefix("CONSUMER.DURABLE.CREATE.") {
            let mut tokens = durable.split('.');
            return Some(match (tokens.next(), tokens.next(), tokens.next()) {
                (Some(stream), Some(durable), None) => Self::Durable { stream, durable },
                _ => Self::DurableMalformed,
            });
        }
        let rest = rest.strip_prefix("CONSUMER.CREATE.")?;
        let Some((stream, tail)) = rest.split_once('.') else {
            return Some(Self::Legacy { stream: rest });
        };
        let (consumer, filter) = match tail.split_once('.') {
            Some((consumer, filter)) => (consumer, Some(filter)),
            None => (tail, None),
        };
        Some(Self::Named {
            stream,
            consumer,
            filter,
        })
    }
}

/// The CONSUMER.CREATE body (nats-server `CreateConsumerRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateConsumerRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub stream_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ConsumerConfig,
    #[serde(default)]
    pub action: ConsumerAction,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub pedantic: bool,
}

impl CreateConsumerRequest {
    /// Decodes the body (an empty body is an empty request): 10025 on bad JSON.
    pub fn decode(body: &[u8]) -> Result<Self, JsError> {
        super::requests::parse_request(body)
    }

    /// nats-server's subject rules, in its order, and the standalone replicas check.
    /// The result names the consumer in `config.name` (empty: an ephemeral to be named
    /// by the server); `config.durable_name` is unchanged.
    ///
    /// 2.9.10 differed: it left `name` unset on DURABLE.CREATE (so `name` ≠ `durable_name`
    /// was 10132 there), did not check legacy `config.name` for path separators, and took a
    /// filter from the subject only with two or more filter tokens.
    pub fn normalised(mut self, subject: &ConsumerCreateSubject<'_>) -> Result<Self, JsError> {
        let (stream, consumer, filter) = match *subject {
            ConsumerCreateSubject::DurableMalformed => {
                return Err(JsError::consumer_durable_name_not_in_subject())
            }
            ConsumerCreateSubject::Legacy { stream } => (stream, self.config.name.clone(), None),
            ConsumerCreateSubject::Named {
                stream,
                consumer,
                filter,
            } => (stream, consumer.to_owned(), filter),
            ConsumerCreateSubject::Durable { stream, durable } => {
                (stream, durable.to_owned(), None)
            }
        };
        if stream != self.stream_name {
            return Err(JsError::stream_mismatch());
        }
        if names::has_path_separators(&consumer) {
            return Err(JsError::consumer_name_contains_path_separators());
        }
        match subject {
            ConsumerCreateSubject::Durable { .. } => {
                if self.config.durable_name.is_empty() {
                    return Err(JsError::consumer_durable_name_not_set());
                }
                if consumer != self.config.durable_name {
                    return Err(JsError::consumer_durable_name_not_match_subject());
                }
                self.config.name = consumer;
            }
            ConsumerCreateSubject::Named { .. } => {
                if !self.config.durable_name.is_empty() && consumer != self.config.durable_name {
                    return Err(JsError::consumer_durable_name_not_match_subject());
                }
                self.config.name = consumer;
            }
            ConsumerCreateSubject::Legacy { .. } => {
                if !self.config.durable_name.is_empty() {
                    return Err(JsError::consumer_ephemeral_with_durable_name());
                }
            }
            ConsumerCreateSubject::DurableMalformed => {}
        }
        if let Some(filter) = filter {
            if !self.config.filter_subjects.is_empty() {
                return Err(JsError::consumer_multiple_filters_not_allowed());
            }
            if self.config.filter_subject != filter {
                return Err(JsError::consumer_create_filter_subject_mismatch());
            }
        }
        if self.config.num_replicas > 1 {
            return Err(JsError::stream_replicas_not_supported());
        }
        Ok(self)
    }

    /// [`CreateConsumerRequest::decode`] then [`CreateConsumerRequest::normalised`].
    pub fn parse(subject: &ConsumerCreateSubject<'_>, body: &[u8]) -> Result<Self, JsError> {
        Self::decode(body)?.normalised(subject)
    }
}

/// A consumer the stream already has, as the create checks see it.
#[derive(Clone, Copy, Debug)]
pub struct ExistingConsumer<'a> {
    pub name: &'a str,
    pub config: &'a ConsumerConfig,
    /// Someone is subscribed to its `deliver_subject` (a bound push consumer).
    pub deliver_subject_has_interest: bool,
}

/// What a CONSUMER.CREATE does, once [`plan_create`] accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerPlan {
    /// Add a consumer `name` with `config`. For a server-named ephemeral `config.name`
    /// stays empty, as nats-server reports it.
    Create {
        name: String,
        config: ConsumerConfig,
    },
    /// The existing consumer `name` takes `config`; `changed` is false for a repeat of
    /// the same create.
    Update {
        name: String,
        config: ConsumerConfig,
        changed: bool,
    },
}

/// Does no other (non-internal) consumer's filter collide with `partitions`? An
/// unfiltered other consumer collides with everything (nats-server `partitionUnique`).
fn partition_unique(name: &str, partitions: &[&str], consumers: &[ExistingConsumer<'_>]) -> bool {
    partitions.iter().all(|partition| {
        consumers
            .iter()
            .filter(|other| other.name != name && !other.config.direct && !other.config.sourcing)
            .all(|other| {
                let filters = other.config.filters();
                !filters.is_empty()
                    && !filters
                        .iter()
                        .any(|filter| subjects_collide(partition, filter))
            })
    })
}

/// nats-server's `addConsumerWithAction` decisions for a standalone server, after
/// [`CreateConsumerRequest::normalised`] and the stream lookup: defaults and checks
/// ([`ConsumerConfig::checked`]), then against `consumers` (the stream's consumers): the
/// create/update `action` (10148, 10149), update rules ([`check_update`]), the consumer
/// limit (10026), workqueue rules (10098, 10101, 10099, 10100) and the final name
/// (10102, 10103). `generated_name` names a server-named ephemeral; it must not be in use.
///
/// 2.9.10 checked the workqueue filters before deliver-all, only partially detected
/// overlapping workqueue filters, and allowed any ack policy but explicit (not
/// `flow_control`).
pub fn plan_create(
    request: &CreateConsumerRequest,
    stream: &StreamConfig,
    limits: &ConsumerLimits,
    consumers: &[ExistingConsumer<'_>],
    generated_name: &str,
) -> Result<ConsumerPlan, JsError> {
    let wanted_name = if request.config.is_durable() {
        request.config.durable_name.as_str()
    } else {
        request.config.name.as_str()
    };
    let existing = (!wanted_name.is_empty())
        .then(|| consumers.iter().find(|c| c.name == wanted_name))
        .flatten();

    let mut config = request.config.clone();
    if let Some(existing) = existing {
        // Only CONSUMER.PAUSE changes the pause of an existing consumer.
        config.pause_until = existing.config.pause_until;
    }
    config.apply_defaults(stream, limits, request.pedantic)?;
    config.check(stream, limits)?;

    if let Some(existing) = existing {
        if request.action == ConsumerAction::Create && config != *existing.config {
            return Err(JsError::consumer_already_exists());
        }
        if stream.retention == RetentionPolicy::WorkQueue
            && !partition_unique(existing.name, &config.filters(), consumers)
        {
            return Err(JsError::consumer_wq_consumer_not_unique());
        }
        check_update(
            existing.config,
            &config,
            existing.deliver_subject_has_interest,
        )?;
        config.stamp_stored();
        let changed = config != *existing.config;
        return Ok(ConsumerPlan::Update {
            name: existing.name.to_owned(),
            config,
            changed,
        });
    }
    if request.action == ConsumerAction::Update {
        return Err(JsError::consumer_does_not_exist());
    }

    let limitable = consumers.iter().filter(|c| !c.config.sourcing).count() as i64;
    let mut max_consumers = stream.max_consumers;
    let account_max = limits.account_max_consumers;
    if max_consumers <= 0 || (account_max > 0 && account_max < max_consumers) {
        max_consumers = account_max;
    }
    if max_consumers > 0 && limitable >= max_consumers {
        return Err(JsError::maximum_consumers_limit());
    }

    if stream.retention == RetentionPolicy::WorkQueue && !config.direct && !config.sourcing {
        if !matches!(
            config.ack_policy,
            AckPolicy::Explicit | AckPolicy::FlowControl
        ) {
            return Err(JsError::consumer_wq_requires_explicit_ack());
        }
        if config.deliver_policy != DeliverPolicy::All {
            return Err(JsError::consumer_wq_consumer_not_deliver_all());
        }
        if limitable > 0 {
            let filters = config.filters();
            if filters.is_empty() {
                return Err(JsError::consumer_wq_multiple_unfiltered());
            }
            if !partition_unique(wanted_name, &filters, consumers) {
                return Err(JsError::consumer_wq_consumer_not_unique());
            }
        }
    }

    if config.is_durable() && config.durable_name.len() > NAME_LEN_MAX {
        return Err(JsError::consumer_name_too_long(NAME_LEN_MAX));
    }
    let name = if wanted_name.is_empty() {
        debug_assert!(
            consumers.iter().all(|c| c.name != generated_name),
            "generated consumer name already in use"
        );
        generated_name
    } else {
        wanted_name
    };
    if !names::is_valid_asset_name(name) {
        return Err(JsError::consumer_bad_durable_name());
    }
    // nats-server names the consumer's store directory after it; longer names fail there.
    if !config.direct && name.len() > NAME_LEN_MAX {
        return Err(JsError::consumer_create(
            "error creating store for consumer",
        ));
    }
    config.stamp_stored();
    Ok(ConsumerPlan::Create {
        name: name.to_owned(),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_percent_like_atoi() {
        assert_eq!(parse_sample_percent("30"), Ok(30));
        assert_eq!(parse_sample_percent("+7"), Ok(7));
        assert_eq!(parse_sample_percent("-5"), Ok(-5));
        assert_eq!(parse_sample_percent("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_sample_percent("abc").unwrap_err(),
            "strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            parse_sample_percent("").unwrap_err(),
            "strconv.Atoi: parsing \"\": invalid syntax"
        );
        assert_eq!(
            parse_sample_percent("9223372036854775808").unwrap_err(),
            "strconv.Atoi: parsing \"9223372036854775808\": value out of range"
        );
        assert_eq!(
            parse_sample_percent("a\"\n").unwrap_err(),
            "strconv.Atoi: parsing \"a\\\"\\n\": invalid syntax"
        );
    }

    #[test]
    fn priority_group_names() {
        for good in ["a", "A-z_0/9=", "sixteen-chars-ok"] {
            assert!(is_valid_priority_group(good), "{good}");
        }
        for bad in ["", "seventeen-chars-x", "a b", "a.b", "ä"] {
            assert!(!is_valid_priority_group(bad), "{bad}");
        }
    }

    #[test]
    fn create_subjects() {
        use ConsumerCreateSubject::*;
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.CREATE.S"),
            Some(Legacy { stream: "S" })
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.CREATE.S.C"),
            Some(Named {
                stream: "S",
                consumer: "C",
                filter: None
            })
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.CREATE.S.C.a.*.>"),
            Some(Named {
                stream: "S",
                consumer: "C",
                filter: Some("a.*.>")
            })
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.DURABLE.CREATE.S.D"),
            Some(Durable {
                stream: "S",
                durable: "D"
            })
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.DURABLE.CREATE.S.D.x"),
            Some(DurableMalformed)
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.DURABLE.CREATE.S"),
            Some(DurableMalformed)
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.API.CONSUMER.INFO.S.C"),
            None
        );
        assert_eq!(
            ConsumerCreateSubject::parse("$JS.hub.API.CONSUMER.CREATE.S"),
            None
        );
    }
}
