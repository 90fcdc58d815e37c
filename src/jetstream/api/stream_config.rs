//! `StreamConfig`: the JSON a client sends to STREAM.CREATE/UPDATE and gets back in
//! every StreamInfo, with nats-server's defaults and validation (`checkStreamCfg`,
//! `configUpdateCheck`) for a single, non-clustered server.
//!
//! Field names, order and `omitempty` rules follow nats-server's current `StreamConfig`
//! (server/stream.go). Compared with 2.9.10, which tern is checked against, newer servers
//! and therefore tern also emit:
//!
//! * always: `"compression":"none"`, `"consumer_limits":{}`, `"allow_msg_ttl":false`;
//! * when set: `first_seq`, `subject_transform`, `metadata`, `subject_delete_marker_ttl`,
//!   `allow_msg_counter`, `allow_atomic`, `allow_msg_schedules`, `persist_mode`,
//!   `allow_batched`, `placement.preferred`, source `subject_transforms` and `consumer`;
//!
//! and they drop an empty `"placement":{}` that 2.9.10 echoed. 2.9.10's `template_owner`
//! (stream templates, removed in 2.10) is not supported.
//!
//! Validation also follows the current server where 2.9.10 differed, e.g. a negative
//! `max_msgs` becomes -1, `max_consumers` and `republish` may change on update, a mirror
//! may be removed on update (promotion), subjects in `$SYS.>` need `no_ack`.
//!
//! Decoding is Go-tolerant: unknown fields are ignored and `null` means "not set".
//! Go also matches field names case-insensitively (`"Subjects"` works on nats-server);
//! serde does not, so such a request falls back to defaults here.

use super::errors::JsError;
use super::json::{is_default, null_as_default};
use super::names::{self, DESCRIPTION_LEN_MAX, METADATA_LEN_MAX};
use super::subjects::{
    is_literal, is_subset, is_valid_publish_subject, is_valid_subject, subjects_collide,
};
use super::time::{go_duration_string, GoTime};
use super::transform::{check_transform, validate_mapping};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashSet};

const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// `max_age` and `duplicate_window`, when set, must be at least this.
const WINDOW_MIN_NANOS: i64 = 100 * NANOS_PER_MILLI;
/// nats-server `StreamDefaultDuplicatesWindow`.
pub const DUPLICATE_WINDOW_DEFAULT_NANOS: i64 = 120 * NANOS_PER_SECOND;
/// nats-server `StreamMaxReplicas`.
pub const REPLICAS_MAX: i64 = 5;
/// Most streams the source-cycle walk visits.
const CYCLE_WALK_STEPS_MAX: usize = 100_000;
/// The subject a stream's API lives under, for external prefix overlap checks.
const JS_API_PREFIX: &str = "$JS.API";

/// Declares a string-valued enum with exact Go JSON names.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }
     default $default:ident, case_insensitive = $ci:literal) => {
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
                let Some(text) = text else { return Ok(Self::$default) };
                $(
                    if (!$ci && text == $text) || ($ci && text.eq_ignore_ascii_case($text)) {
                        return Ok(Self::$variant);
                    }
                )+
                // Go's text: can not unmarshal "\"bogus\"" (the raw JSON, quoted).
                Err(serde::de::Error::custom(format!(
                    "can not unmarshal {:?}",
                    format!("\"{text}\"")
                )))
            }
        }
    };
}

wire_enum! {
    /// How long messages are kept (nats-server `RetentionPolicy`).
    RetentionPolicy {
        #[default]
        Limits = "limits",
        Interest = "interest",
        WorkQueue = "workqueue",
    } default Limits, case_insensitive = false
}

wire_enum! {
    /// What happens at a limit (nats-server `DiscardPolicy`; decoding ignores case).
    DiscardPolicy {
        #[default]
        Old = "old",
        New = "new",
    } default Old, case_insensitive = true
}

wire_enum! {
    /// Where messages live (nats-server `StorageType`).
    StorageType {
        #[default]
        File = "file",
        Memory = "memory",
    } default File, case_insensitive = false
}

wire_enum! {
    /// On-disk compression (nats-server `StoreCompression`, 2.10+).
    Compression {
        #[default]
        None = "none",
        S2 = "s2",
    } default None, case_insensitive = false
}

wire_enum! {
    /// When writes are flushed (nats-server `PersistModeType`, 2.12+); `""` means default.
    PersistMode {
        #[default]
        Default = "default",
        Async = "async",
    } default Default, case_insensitive = false
}

/// Where a stream should be placed in a cluster (nats-server `Placement`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cluster: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tags: Vec<String>,
    /// 2.11+; refused by validation ("preferred server not permitted in placement").
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub preferred: String,
}

/// A subject rewrite `src` → `dest` (nats-server `SubjectTransformConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectTransformConfig {
    #[serde(rename = "src", default, deserialize_with = "null_as_default")]
    pub source: String,
    #[serde(rename = "dest", default, deserialize_with = "null_as_default")]
    pub destination: String,
}

/// Republish stored messages to another subject (nats-server `RePublish`, ADR-28).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RePublish {
    #[serde(
        rename = "src",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub source: String,
    #[serde(rename = "dest", default, deserialize_with = "null_as_default")]
    pub destination: String,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub headers_only: bool,
}

/// Defaults and caps for consumers of this stream (nats-server `StreamConsumerLimits`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConsumerLimits {
    #[serde(
        rename = "inactive_threshold",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub inactive_threshold_nanos: i64,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_ack_pending: i64,
}

/// The API and delivery prefixes of a stream in another account or domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalStream {
    /// e.g. `$JS.hub.API`.
    #[serde(rename = "api", default, deserialize_with = "null_as_default")]
    pub api_prefix: String,
    #[serde(rename = "deliver", default, deserialize_with = "null_as_default")]
    pub deliver_prefix: String,
}

/// A named durable consumer to source through (nats-server `StreamConsumerSource`, 2.12+).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConsumerSource {
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
    pub deliver_subject: String,
}

/// One origin of a mirror or a sourcing stream (nats-server `StreamSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSource {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub opt_start_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<GoTime>,
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
    pub subject_transforms: Vec<SubjectTransformConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalStream>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<StreamConsumerSource>,
}

impl StreamSource {
    /// nats-server's `composeIName`: two sources with the same key would duplicate
    /// messages (10140). The external API prefix stands in for nats-server's hash of it.
    pub fn index_key(&self) -> String {
        let mut key = self.name.clone();
        if let Some(external) = &self.external {
            key.push(':');
            key.push_str(&external.api_prefix);
        }
        if let Some(consumer) = &self.consumer {
            key.push_str(":C=");
            key.push_str(&consumer.name);
        }
        let or_all = |text: &str| {
            if text.is_empty() {
                ">".to_owned()
            } else {
                text.to_owned()
            }
        };
        let (sources, destinations) = if self.subject_transforms.is_empty() {
            (or_all(&self.filter_subject), ">".to_owned())
        } else {
            let sources: Vec<String> = self
                .subject_transforms
                .iter()
                .map(|t| or_all(&t.source))
                .collect();
            let destinations: Vec<String> = self
                .subject_transforms
                .iter()
                .map(|t| or_all(&t.destination))
                .collect();
            (sources.join("\x0c"), destinations.join("\x0c"))
        };
        format!("{key} {sources} {destinations}")
    }

    /// nats-server's `composeCName`: the durable sourcing consumer's identity (10216).
    fn consumer_key(&self) -> String {
        let mut key = self.name.clone();
        if let Some(external) = &self.external {
            key.push(':');
            key.push_str(&external.api_prefix);
        }
        let consumer = self.consumer.as_ref().map_or("", |c| c.name.as_str());
        format!("{key} {consumer}")
    }
}

/// A stream's configuration. Durations are Go `time.Duration` (integer nanoseconds).
///
/// Serialized field order is nats-server's, so encodings compare byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub description: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub retention: RetentionPolicy,
    /// -1 = unlimited (0 and < -1 are normalised to -1).
    #[serde(default, deserialize_with = "null_as_default")]
    pub max_consumers: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub max_msgs: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub max_bytes: i64,
    /// 0 = unlimited; otherwise >= 100 ms.
    #[serde(rename = "max_age", default, deserialize_with = "null_as_default")]
    pub max_age_nanos: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub max_msgs_per_subject: i64,
    #[serde(
        rename = "max_msg_size",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub max_msg_size_bytes: i32,
    #[serde(default)]
    pub discard: DiscardPolicy,
    #[serde(default)]
    pub storage: StorageType,
    #[serde(default, deserialize_with = "null_as_default")]
    pub num_replicas: i64,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub no_ack: bool,
    #[serde(
        rename = "duplicate_window",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub duplicate_window_nanos: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub sources: Vec<StreamSource>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub first_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransformConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub republish: Option<RePublish>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allow_direct: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mirror_direct: bool,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub discard_new_per_subject: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sealed: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub deny_delete: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub deny_purge: bool,
    #[serde(
        rename = "allow_rollup_hdrs",
        default,
        deserialize_with = "null_as_default"
    )]
    pub allow_rollup: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub consumer_limits: StreamConsumerLimits,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allow_msg_ttl: bool,
    #[serde(
        rename = "subject_delete_marker_ttl",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub subject_delete_marker_ttl_nanos: i64,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub allow_msg_counter: bool,
    #[serde(
        rename = "allow_atomic",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub allow_atomic_publish: bool,
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub allow_msg_schedules: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub persist_mode: PersistMode,
    #[serde(
        rename = "allow_batched",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "null_as_default"
    )]
    pub allow_batch_publish: bool,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub metadata: BTreeMap<String, String>,
}

/// The server and account limits stream validation depends on. `Default` is an
/// unconfigured standalone server: no caps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerLimits {
    /// `jetstream { limits { duplicate_window } }`; 0 = no cap.
    pub duplicate_window_max_nanos: i64,
    /// Account: every stream must set `max_bytes` (10113).
    pub max_bytes_required: bool,
    /// Account: largest `max_bytes` for a memory stream; <= 0 = no cap (10122).
    pub memory_max_stream_bytes: i64,
    /// Account: largest `max_bytes` for a file stream; <= 0 = no cap (10122).
    pub storage_max_stream_bytes: i64,
    /// Account: most consumers per stream; <= 0 = no cap (10026).
    pub max_consumers: i64,
    /// A clustered server allows `num_replicas` up to 5; tern runs standalone (10074).
    pub clustered: bool,
}

/// Looks up another stream of the same account by name, for mirror and source checks.
pub type StreamLookup<'a> = dyn Fn(&str) -> Option<&'a StreamConfig> + 'a;

fn no_streams<'a>(_: &str) -> Option<&'a StreamConfig> {
    None
}

fn invalid(reason: impl std::fmt::Display) -> JsError {
    JsError::stream_invalid_config(reason)
}

impl StreamConfig {
    /// A config with just a name, as a client's minimal create request.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// nats-server's normalisation, without the checks: 0/-N limits to -1, replicas 1,
    /// default duplicate window, subjects `[name]`, implied TTL/rollup flags, republish
    /// source `>`, no empty placement. A valid config is left as [`StreamConfig::checked`]
    /// would leave it.
    pub fn apply_defaults(&mut self, limits: &ServerLimits) {
        if self.num_replicas == 0 {
            self.num_replicas = 1;
        }
        for value in [
            &mut self.max_msgs,
            &mut self.max_msgs_per_subject,
            &mut self.max_bytes,
            &mut self.max_consumers,
        ] {
            if *value == 0 || *value < -1 {
                *value = -1;
            }
        }
        if self.max_msg_size_bytes == 0 || self.max_msg_size_bytes < -1 {
            self.max_msg_size_bytes = -1;
        }
        // Pedantic errors cannot happen with pedantic off.
        let _ = self.default_duplicate_window(limits, false);
        if self.subject_delete_marker_ttl_nanos > 0 {
            self.allow_msg_ttl = true;
            if !self.allow_rollup {
                self.allow_rollup = true;
                self.deny_purge = false;
            }
        }
        if self.allow_msg_schedules && !self.allow_rollup {
            self.allow_rollup = true;
            self.deny_purge = false;
        }
        if self.subjects.is_empty() && self.mirror.is_none() && self.sources.is_empty() {
            self.subjects.push(self.name.clone());
        }
        let _ = self.default_republish(false);
        if self.placement.as_ref() == Some(&Placement::default()) {
            self.placement = None;
        }
    }

    /// nats-server's `checkStreamCfg` (plus the standalone replicas check of `addStream`)
    /// with no other streams to look at and pedantic mode off.
    pub fn validate(&self, limits: &ServerLimits) -> Result<(), JsError> {
        self.checked(limits, false, &no_streams).map(drop)
    }

    /// nats-server's `checkStreamCfg` for a standalone server: the normalised config, or
    /// the first error in nats-server's order. `streams` finds the account's other streams
    /// (origin max message size, mirror direct inheritance, source cycles). With
    /// `pedantic`, defaults that would silently change a value are errors (10157).
    pub fn checked<'a>(
        &self,
        limits: &ServerLimits,
        pedantic: bool,
        streams: &StreamLookup<'a>,
    ) -> Result<StreamConfig, JsError> {
        names::check_stream_name(&self.name)?;
        if self.description.len() > DESCRIPTION_LEN_MAX {
            return Err(invalid(format!(
                "stream description is too long, maximum allowed is {DESCRIPTION_LEN_MAX}"
            )));
        }
        let metadata_len: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata_len > METADATA_LEN_MAX {
            return Err(invalid(format!(
                "stream metadata exceeds maximum size of {METADATA_LEN_MAX} bytes"
            )));
        }

        let mut cfg = self.clone();
        if cfg.num_replicas == 0 {
            cfg.num_replicas = 1;
        }
        if cfg.num_replicas > REPLICAS_MAX {
            return Err(invalid(format!("maximum replicas is {REPLICAS_MAX}")));
        }
        if cfg.num_replicas < 0 {
            return Err(JsError::replicas_count_cannot_be_negative());
        }
        for (value, field) in [
            (&mut cfg.max_msgs, "max_msgs"),
            (&mut cfg.max_msgs_per_subject, "max_msgs_per_subject"),
            (&mut cfg.max_bytes, "max_bytes"),
        ] {
            normalise_limit(value, field, pedantic)?;
        }
        let mut max_msg_size = i64::from(cfg.max_msg_size_bytes);
        normalise_limit(&mut max_msg_size, "max_msg_size", pedantic)?;
        // Either unchanged or -1, so it still fits.
        cfg.max_msg_size_bytes = max_msg_size as i32;
        normalise_limit(&mut cfg.max_consumers, "max_consumers", pedantic)?;
        if cfg.max_age_nanos < 0 {
            return Err(invalid("max age can not be negative"));
        }
        if cfg.max_age_nanos != 0 && cfg.max_age_nanos < WINDOW_MIN_NANOS {
            return Err(invalid("max age needs to be >= 100ms"));
        }

        cfg.default_duplicate_window(limits, pedantic)?;
        if cfg.duplicate_window_nanos < 0 {
            return Err(invalid("duplicates window can not be negative"));
        }
        if cfg.max_age_nanos != 0 && cfg.duplicate_window_nanos > cfg.max_age_nanos {
            return Err(invalid("duplicates window can not be larger then max age"));
        }
        if limits.duplicate_window_max_nanos > 0
            && cfg.duplicate_window_nanos > limits.duplicate_window_max_nanos
        {
            return Err(invalid(format!(
                "duplicates window can not be larger then server limit of {}",
                go_duration_string(limits.duplicate_window_max_nanos)
            )));
        }
        if cfg.duplicate_window_nanos > 0 && cfg.duplicate_window_nanos < WINDOW_MIN_NANOS {
            return Err(invalid("duplicates window needs to be >= 100ms"));
        }

        if cfg.deny_purge && cfg.allow_rollup {
            return Err(invalid("roll-ups require the purge permission"));
        }
        if cfg.allow_msg_counter {
            if cfg.discard == DiscardPolicy::New {
                return Err(invalid("counter stream cannot use discard new"));
            }
            if cfg.allow_msg_ttl {
                return Err(invalid("counter stream cannot use message TTLs"));
            }
            if cfg.allow_msg_schedules {
                return Err(invalid("counter stream cannot use message schedules"));
            }
            if cfg.retention != RetentionPolicy::Limits {
                return Err(invalid("counter stream can only use limits retention"));
            }
        }
        check_discard_new_per_subject(&cfg)?;
        if cfg.subject_delete_marker_ttl_nanos > 0 {
            if cfg.subject_delete_marker_ttl_nanos < NANOS_PER_SECOND {
                return Err(invalid(
                    "subject delete marker TTL must be at least 1 second",
                ));
            }
            if !cfg.allow_msg_ttl {
                if pedantic {
                    return Err(invalid(
                        "subject delete marker cannot be set if message TTLs are disabled",
                    ));
                }
                cfg.allow_msg_ttl = true;
            }
            if !cfg.allow_rollup {
                if pedantic {
                    return Err(invalid(
                        "subject delete marker cannot be set if roll-ups are disabled",
                    ));
                }
                cfg.allow_rollup = true;
                cfg.deny_purge = false;
            }
        } else if cfg.subject_delete_marker_ttl_nanos < 0 {
            return Err(invalid("subject delete marker TTL must not be negative"));
        }
        if cfg.allow_msg_schedules {
            if cfg.discard == DiscardPolicy::New {
                return Err(invalid("message scheduling cannot use discard new"));
            }
            if !cfg.allow_rollup {
                if pedantic {
                    return Err(invalid(
                        "message scheduling cannot be set if roll-ups are disabled",
                    ));
                }
                cfg.allow_rollup = true;
                cfg.deny_purge = false;
            }
        }
        if cfg.persist_mode == PersistMode::Async {
            if cfg.storage != StorageType::File {
                return Err(invalid(
                    "async persist mode is only supported on file storage",
                ));
            }
            if cfg.num_replicas > 1 {
                return Err(invalid(
                    "async persist mode is not supported on replicated streams",
                ));
            }
            if cfg.allow_atomic_publish {
                return Err(invalid(
                    "async persist mode is not supported with atomic batch publish",
                ));
            }
        }

        let mut origin_subjects: Vec<String> = Vec::new();
        let mut deliver_prefixes: Vec<String> = Vec::new();
        let mut api_prefixes: Vec<String> = Vec::new();
        cfg.check_mirror(
            pedantic,
            streams,
            &mut origin_subjects,
            &mut deliver_prefixes,
            &mut api_prefixes,
        )?;
        cfg.check_sources(
            streams,
            &mut origin_subjects,
            &mut deliver_prefixes,
            &mut api_prefixes,
        )?;
        for prefix in &deliver_prefixes {
            if !is_valid_publish_subject(prefix) {
                return Err(JsError::stream_invalid_external_delivery_subj(prefix));
            }
            for subject in &origin_subjects {
                if subjects_collide(subject, &format!("{prefix}.{subject}")) {
                    return Err(JsError::stream_external_del_prefix_overlaps(
                        prefix, subject,
                    ));
                }
            }
        }
        for prefix in &api_prefixes {
            if !is_valid_publish_subject(prefix) {
                return Err(invalid(format!(
                    "stream external api prefix {} must be a valid subject without wildcards",
                    go_quote(prefix)
                )));
            }
            if subjects_collide(prefix, JS_API_PREFIX) {
                return Err(JsError::stream_external_api_overlap(prefix, JS_API_PREFIX));
            }
        }
        check_source_cycles(&cfg, streams)?;

        if cfg.subjects.is_empty() {
            if cfg.mirror.is_none() && cfg.sources.is_empty() {
                cfg.subjects.push(cfg.name.clone());
            }
        } else {
            if cfg.mirror.is_some() {
                return Err(JsError::mirror_with_subjects());
            }
            check_own_subjects(&cfg)?;
        }
        if cfg.subjects.is_empty() && cfg.sources.is_empty() && cfg.mirror.is_none() {
            return Err(invalid(
                "stream needs at least one configured subject or be a source/mirror",
            ));
        }

        let max_stream_bytes = match cfg.storage {
            StorageType::Memory => limits.memory_max_stream_bytes,
            StorageType::File => limits.storage_max_stream_bytes,
        };
        if limits.max_bytes_required && cfg.max_bytes <= 0 {
            return Err(JsError::stream_max_bytes_required());
        }
        if max_stream_bytes > 0 && cfg.max_bytes > max_stream_bytes {
            return Err(JsError::stream_max_stream_bytes_exceeded());
        }

        if let Some(transform) = &cfg.subject_transform {
            if !transform.source.is_empty() && !is_valid_subject(&transform.source) {
                return Err(JsError::stream_transform_invalid_source(format!(
                    "invalid subject {}",
                    transform.source
                )));
            }
            validate_mapping(&transform.source, &transform.destination)
                .map_err(JsError::stream_transform_invalid_destination)?;
        }
        cfg.default_republish(pedantic)?;
        if let Some(republish) = &cfg.republish {
            if cfg
                .subjects
                .iter()
                .any(|subject| subjects_collide(&republish.destination, subject))
            {
                return Err(invalid(
                    "stream configuration for republish destination forms a cycle",
                ));
            }
            if check_transform(&republish.source, &republish.destination).is_err() {
                return Err(invalid(format!(
                    "stream configuration for republish with transform from '{}' to '{}' not valid",
                    republish.source, republish.destination
                )));
            }
        }

        if cfg.placement.as_ref() == Some(&Placement::default()) {
            cfg.placement = None;
        }
        if cfg
            .placement
            .as_ref()
            .is_some_and(|p| !p.preferred.is_empty())
        {
            return Err(invalid("preferred server not permitted in placement"));
        }

        // addStream / configUpdateCheck, right after checkStreamCfg.
        if !limits.clustered && cfg.num_replicas > 1 {
            return Err(JsError::stream_replicas_not_supported());
        }
        Ok(cfg)
    }

    /// The account limit nats-server checks before a create (`checkLimits`): a stream may
    /// not allow more consumers than the account (10026). Stream-count (10027) and
    /// storage reservations (10028/10047) depend on live usage and stay with the caller.
    pub fn check_account_limits(&self, limits: &ServerLimits) -> Result<(), JsError> {
        if self.max_consumers > 0
            && limits.max_consumers > 0
            && self.max_consumers > limits.max_consumers
        {
            return Err(JsError::maximum_consumers_limit());
        }
        Ok(())
    }

    /// STREAM.CREATE's checks before the config itself is judged, in nats-server's order:
    /// name in subject (10056), path separators (10128), sealed, mirror_direct without
    /// mirror (10052).
    pub fn check_create_request(&self, subject_stream_name: &str) -> Result<(), JsError> {
        if subject_stream_name != self.name {
            return Err(JsError::stream_mismatch());
        }
        if names::has_path_separators(subject_stream_name) {
            return Err(JsError::stream_name_contains_path_separators());
        }
        if self.sealed {
            return Err(invalid("stream configuration for create can not be sealed"));
        }
        if self.mirror_direct && self.mirror.is_none() {
            return Err(invalid("stream has no mirror but does have mirror direct"));
        }
        Ok(())
    }

    /// What nats-server forces on a sealed stream when an update seals it.
    pub fn apply_seal(&mut self) {
        if self.sealed {
            self.max_age_nanos = 0;
            self.discard = DiscardPolicy::New;
            self.deny_delete = true;
            self.deny_purge = true;
            self.allow_rollup = false;
        }
    }

    fn default_duplicate_window(
        &mut self,
        limits: &ServerLimits,
        pedantic: bool,
    ) -> Result<(), JsError> {
        if self.duplicate_window_nanos != 0 || self.mirror.is_some() || !self.sources.is_empty() {
            return Ok(());
        }
        let mut window = DUPLICATE_WINDOW_DEFAULT_NANOS;
        let server_max = limits.duplicate_window_max_nanos;
        if server_max > 0 && window > server_max {
            if pedantic {
                return Err(JsError::pedantic(
                    "duplicate window limits are higher than current limits",
                ));
            }
            window = server_max;
        }
        if self.max_age_nanos != 0 && self.max_age_nanos < window {
            if pedantic {
                return Err(JsError::pedantic(
                    "duplicate window cannot be bigger than max age",
                ));
            }
            self.duplicate_window_nanos = self.max_age_nanos;
        } else {
            self.duplicate_window_nanos = window;
        }
        Ok(())
    }

    fn default_republish(&mut self, pedantic: bool) -> Result<(), JsError> {
        let Some(republish) = &mut self.republish else {
            return Ok(());
        };
        if republish.source.is_empty() {
            if pedantic {
                return Err(JsError::pedantic("republish source can not be empty"));
            }
            republish.source = ">".to_owned();
        }
        // `>` to `>` would loop, unless the stream's single subject is transformed first:
        // then it means "republish under the transformed subject".
        if let Some(transform) = &self.subject_transform {
            if republish.destination == ">"
                && republish.source == ">"
                && self.subjects.len() == 1
                && transform.source == self.subjects[0]
            {
                if pedantic {
                    return Err(JsError::pedantic(
                        "implicit republish based on subject transform",
                    ));
                }
                republish.source = transform.destination.clone();
                republish.destination = transform.destination.clone();
            }
        }
        Ok(())
    }

    fn check_mirror<'a>(
        &mut self,
        pedantic: bool,
        streams: &StreamLookup<'a>,
        origin_subjects: &mut Vec<String>,
        deliver_prefixes: &mut Vec<String>,
        api_prefixes: &mut Vec<String>,
    ) -> Result<(), JsError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        if self.first_seq > 0 {
            return Err(JsError::mirror_with_first_seq());
        }
        if !self.subjects.is_empty() {
            return Err(JsError::mirror_with_subjects());
        }
        if !self.sources.is_empty() {
            return Err(JsError::mirror_with_sources());
        }
        if self.allow_msg_counter {
            return Err(JsError::mirror_with_counters());
        }
        if self.allow_atomic_publish {
            return Err(JsError::mirror_with_atomic_publish());
        }
        if self.allow_batch_publish {
            return Err(JsError::mirror_with_batch_publish());
        }
        if self.allow_msg_schedules {
            return Err(JsError::mirror_with_msg_schedules());
        }
        if let Some(consumer) = &mirror.consumer {
            if !durable_source_consumer_ok(mirror, consumer) {
                return Err(JsError::mirror_durable_consumer_cfg_invalid());
            }
        }
        if !mirror.filter_subject.is_empty() && !mirror.subject_transforms.is_empty() {
            return Err(JsError::mirror_multiple_filters_not_allowed());
        }
        if self.subject_delete_marker_ttl_nanos > 0 {
            // Markers would consume sequence numbers and diverge from the origin.
            return Err(invalid("subject delete markers forbidden on mirrors"));
        }
        for (outer, transform) in mirror.subject_transforms.iter().enumerate() {
            if !transform.source.is_empty() && !is_valid_subject(&transform.source) {
                return Err(JsError::mirror_invalid_subject_filter(format!(
                    "invalid subject {}",
                    transform.source
                )));
            }
            validate_mapping(&transform.source, &transform.destination)
                .map_err(JsError::mirror_invalid_transform_destination)?;
            for (inner, other) in mirror.subject_transforms.iter().enumerate() {
                if inner != outer && subjects_collide(&transform.source, &other.source) {
                    return Err(JsError::mirror_overlapping_subject_filters());
                }
            }
        }
        match &mirror.external {
            None => {
                if !names::is_valid_asset_name(&mirror.name) {
                    return Err(JsError::mirror_invalid_stream_name());
                }
                if let Some(origin) = streams(&mirror.name) {
                    origin_subjects.extend(origin.subjects.iter().cloned());
                    if self.max_msg_size_bytes > 0
                        && origin.max_msg_size_bytes > 0
                        && self.max_msg_size_bytes < origin.max_msg_size_bytes
                    {
                        return Err(JsError::mirror_max_message_size_too_big());
                    }
                    if pedantic && self.mirror_direct != origin.allow_direct {
                        return Err(JsError::pedantic(
                            "origin stream has direct get set, mirror has it disabled",
                        ));
                    }
                    self.mirror_direct = origin.allow_direct;
                }
            }
            Some(external) => {
                if !external.deliver_prefix.is_empty() {
                    deliver_prefixes.push(external.deliver_prefix.clone());
                }
                if !external.api_prefix.is_empty() {
                    api_prefixes.push(external.api_prefix.clone());
                }
            }
        }
        Ok(())
    }

    fn check_sources<'a>(
        &self,
        streams: &StreamLookup<'a>,
        origin_subjects: &mut Vec<String>,
        deliver_prefixes: &mut Vec<String>,
        api_prefixes: &mut Vec<String>,
    ) -> Result<(), JsError> {
        if !self.sources.is_empty() && self.allow_msg_schedules {
            return Err(JsError::source_with_msg_schedules());
        }
        let mut index_keys = HashSet::new();
        let mut consumer_keys = HashSet::new();
        for source in &self.sources {
            if !names::is_valid_asset_name(&source.name) {
                return Err(JsError::source_invalid_stream_name());
            }
            if !index_keys.insert(source.index_key()) {
                return Err(JsError::source_duplicate_detected());
            }
            if !source.filter_subject.is_empty() && !source.subject_transforms.is_empty() {
                return Err(JsError::source_multiple_filters_not_allowed());
            }
            for transform in &source.subject_transforms {
                if !transform.source.is_empty() && !is_valid_subject(&transform.source) {
                    return Err(JsError::source_invalid_subject_filter(format!(
                        "invalid subject {}",
                        transform.source
                    )));
                }
                validate_mapping(&transform.source, &transform.destination)
                    .map_err(JsError::source_invalid_transform_destination)?;
            }
            for (outer, transform) in source.subject_transforms.iter().enumerate() {
                for (inner, other) in source.subject_transforms.iter().enumerate() {
                    if inner != outer && is_subset(&transform.source, &other.source) {
                        return Err(JsError::source_overlapping_subject_filters());
                    }
                }
            }
            if let Some(consumer) = &source.consumer {
                if !durable_source_consumer_ok(source, consumer) {
                    return Err(JsError::source_durable_consumer_cfg_invalid());
                }
                if !consumer_keys.insert(source.consumer_key()) {
                    return Err(JsError::source_durable_consumer_duplicate_detected());
                }
            }
            match &source.external {
                None => {
                    if let Some(origin) = streams(&source.name) {
                        origin_subjects.extend(origin.subjects.iter().cloned());
                        if self.max_msg_size_bytes > 0
                            && origin.max_msg_size_bytes > 0
                            && self.max_msg_size_bytes < origin.max_msg_size_bytes
                        {
                            return Err(JsError::source_max_message_size_too_big());
                        }
                    }
                }
                Some(external) => {
                    if !external.deliver_prefix.is_empty() {
                        deliver_prefixes.push(external.deliver_prefix.clone());
                    }
                    if !external.api_prefix.is_empty() {
                        api_prefixes.push(external.api_prefix.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

/// 0 or below -1 means "unlimited" (-1); pedantic mode refuses the below -1 case.
fn normalise_limit(value: &mut i64, field: &str, pedantic: bool) -> Result<(), JsError> {
    if *value == 0 || *value < -1 {
        if pedantic && *value < -1 {
            return Err(JsError::pedantic(format!("{field} must be set to -1")));
        }
        *value = -1;
    }
    Ok(())
}

fn check_discard_new_per_subject(cfg: &StreamConfig) -> Result<(), JsError> {
    if cfg.discard_new_per_subject {
        if cfg.discard != DiscardPolicy::New {
            return Err(invalid(
                "discard new per subject requires discard new policy to be set",
            ));
        }
        if cfg.max_msgs_per_subject <= 0 {
            return Err(invalid(
                "discard new per subject requires max msgs per subject > 0",
            ));
        }
    }
    Ok(())
}

/// A durable sourcing consumer must be named, deliver to a literal subject, and leave
/// start position and filter to the consumer itself.
fn durable_source_consumer_ok(source: &StreamSource, consumer: &StreamConsumerSource) -> bool {
    names::is_valid_asset_name(&consumer.name)
        && is_literal(&consumer.deliver_subject)
        && is_valid_subject(&consumer.deliver_subject)
        && source.opt_start_seq == 0
        && source.opt_start_time.is_none()
        && source.filter_subject.is_empty()
}

/// The stream's own subjects: valid, distinct, `>` only with no_ack and R1, clear of the
/// JetStream/system API space unless no_ack, and not overlapping each other.
fn check_own_subjects(cfg: &StreamConfig) -> Result<(), JsError> {
    let mut seen = HashSet::with_capacity(cfg.subjects.len());
    for (index, subject) in cfg.subjects.iter().enumerate() {
        if !is_valid_subject(subject) {
            return Err(invalid("invalid subject"));
        }
        if seen.contains(subject.as_str()) {
            return Err(invalid("duplicate subjects detected"));
        }
        if subject == ">" {
            if !cfg.no_ack {
                return Err(invalid("capturing all subjects requires no-ack to be true"));
            }
            if cfg.num_replicas != 1 {
                return Err(invalid("capturing all subjects requires replicas of 1"));
            }
        }
        if !cfg.no_ack {
            for namespace in ["$JS.>", "$JSC.>", "$NRG.>"] {
                // $JS.EVENT.> streams predate this rule and stay allowed.
                if subjects_collide(subject, namespace) && !is_subset(subject, "$JS.EVENT.>") {
                    return Err(invalid(
                        "subjects that overlap with jetstream api require no-ack to be true",
                    ));
                }
            }
            if subjects_collide(subject, "$SYS.>") && !is_subset(subject, "$SYS.ACCOUNT.>") {
                return Err(invalid(
                    "subjects that overlap with system api require no-ack to be true",
                ));
            }
        }
        for later in &cfg.subjects[index + 1..] {
            if subjects_collide(later, subject) {
                return Err(invalid(format!(
                    "subject {} overlaps with {}",
                    go_quote(subject),
                    go_quote(later)
                )));
            }
        }
        seen.insert(subject.as_str());
    }
    Ok(())
}

/// Walks sources (and mirrors) breadth first through the account's streams; meeting a
/// stream again whose subjects feed the source back is a cycle.
fn check_source_cycles<'a>(cfg: &StreamConfig, streams: &StreamLookup<'a>) -> Result<(), JsError> {
    let mut to_visit: std::collections::VecDeque<StreamConfig> = [cfg.clone()].into();
    let mut visited: HashSet<String> = HashSet::new();
    // The walk ends on its own (a visited origin is never queued again); the cap only
    // guards against a lookup that invents streams.
    let mut steps = 0;
    while let Some(current) = to_visit.pop_front() {
        steps += 1;
        if steps > CYCLE_WALK_STEPS_MAX {
            break;
        }
        visited.insert(current.name.clone());
        for source in current.sources.iter().filter(|s| s.external.is_none()) {
            if visited.contains(&source.name) {
                let feeds_back = source.filter_subject.is_empty()
                    || current
                        .subjects
                        .iter()
                        .any(|subject| subjects_collide(subject, &source.filter_subject));
                if feeds_back {
                    return Err(invalid("detected cycle"));
                }
            } else if let Some(origin) = streams(&source.name) {
                to_visit.push_back(origin.clone());
            }
        }
        if let Some(mirror) = current.mirror.as_ref().filter(|m| m.external.is_none()) {
            if visited.contains(&mirror.name) {
                return Err(invalid("detected cycle"));
            }
            if let Some(origin) = streams(&mirror.name) {
                to_visit.push_back(origin.clone());
            }
        }
    }
    Ok(())
}

/// Go's `%q` for the subjects and prefixes that end up in error texts.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// nats-server's `configUpdateCheck` rules for replacing `old` with `new`, where `new`
/// already passed [`StreamConfig::checked`]. On success apply [`StreamConfig::apply_seal`]
/// to `new`; the cross-stream subject check ([`overlaps`], 10065) comes after.
pub fn check_update(old: &StreamConfig, new: &StreamConfig) -> Result<(), JsError> {
    if new.name != old.name {
        return Err(invalid("stream configuration name must match original"));
    }
    if new.num_replicas > 1 {
        // Standalone server; `checked` already refuses this unless clustered.
        return Err(JsError::stream_replicas_not_supported());
    }
    if new.storage != old.storage {
        return Err(invalid(
            "stream configuration update can not change storage type",
        ));
    }
    if new.retention != old.retention
        && (old.retention == RetentionPolicy::WorkQueue
            || new.retention == RetentionPolicy::WorkQueue)
    {
        return Err(invalid(
            "stream configuration update can not change retention policy to/from workqueue",
        ));
    }
    if old.sealed && !new.sealed {
        return Err(invalid(
            "stream configuration update can not unseal a sealed stream",
        ));
    }
    if old.deny_delete && !new.deny_delete {
        return Err(invalid(
            "stream configuration update can not cancel deny message deletes",
        ));
    }
    if old.deny_purge && !new.deny_purge {
        return Err(invalid(
            "stream configuration update can not cancel deny purge",
        ));
    }
    // Removing the mirror ("promotion") is allowed; changing it is not.
    if new.mirror.is_some() && new.mirror != old.mirror {
        return Err(JsError::stream_mirror_not_updatable());
    }
    check_discard_new_per_subject(new)?;
    if old.allow_msg_ttl && !new.allow_msg_ttl {
        return Err(invalid("message TTL status can not be disabled"));
    }
    if old.allow_msg_counter != new.allow_msg_counter {
        return Err(invalid(
            "stream configuration update can not change message counter setting",
        ));
    }
    if old.allow_msg_schedules && !new.allow_msg_schedules {
        return Err(invalid("message schedules can not be disabled"));
    }
    if old.persist_mode != new.persist_mode {
        return Err(invalid(
            "stream configuration update can not change persist mode",
        ));
    }
    Ok(())
}

/// Would the two streams capture a common subject? (nats-server `subjectsOverlap`, 10065.)
/// Compare configs after defaults, so a stream without subjects counts as `[name]`.
pub fn overlaps(a: &StreamConfig, b: &StreamConfig) -> bool {
    a.subjects
        .iter()
        .any(|x| b.subjects.iter().any(|y| subjects_collide(x, y)))
}

/// Is the stream listed by STREAM.NAMES/LIST with this `subject` filter? An empty filter
/// lists everything; otherwise one of the stream's subjects must collide with it (so a
/// mirror, having no subjects, never matches a filter).
pub fn matches_filter(cfg: &StreamConfig, filter: &str) -> bool {
    filter.is_empty()
        || cfg
            .subjects
            .iter()
            .any(|subject| subjects_collide(filter, subject))
}
