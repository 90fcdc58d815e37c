//! `$JS.API.INFO`: the account's JetStream usage and limits (nats-server
//! `JetStreamAccountStats`, server/jetstream.go).
//!
//! The usage fields sit at the top level next to `type` (Go embeds the tier struct):
//!
//! ```text
//! {"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,"storage":73,
//!  "reserved_memory":0,"reserved_storage":0,"streams":1,"consumers":0,
//!  "limits":{...},"domain":"hub","api":{"level":1,"total":15,"errors":2}}
//! ```
//!
//! nats-server 2.9.10 sent neither `reserved_memory`/`reserved_storage` (added in 2.10)
//! nor `api.level` (2.11, the JetStream API level of ADR-44). The reserved fields are
//! always emitted here as newer servers do; `level` only when the caller sets it, since
//! claiming a level promises that level's features.

use super::json::is_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Usage and limits of one account, or of one tier of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTier {
    /// Bytes stored in memory streams.
    #[serde(rename = "memory")]
    pub memory_bytes: u64,
    /// Bytes stored in file streams.
    #[serde(rename = "storage")]
    pub storage_bytes: u64,
    /// Bytes reserved by memory streams' `max_bytes`.
    #[serde(rename = "reserved_memory", default)]
    pub reserved_memory_bytes: u64,
    /// Bytes reserved by file streams' `max_bytes`.
    #[serde(rename = "reserved_storage", default)]
    pub reserved_storage_bytes: u64,
    pub streams: u64,
    pub consumers: u64,
    pub limits: AccountLimits,
}

/// Account limits; -1 means unlimited (nats-server `JetStreamAccountLimits`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLimits {
    #[serde(rename = "max_memory")]
    pub max_memory_bytes: i64,
    #[serde(rename = "max_storage")]
    pub max_storage_bytes: i64,
    pub max_streams: i64,
    pub max_consumers: i64,
    pub max_ack_pending: i64,
    #[serde(rename = "memory_max_stream_bytes")]
    pub memory_max_stream_bytes: i64,
    #[serde(rename = "storage_max_stream_bytes")]
    pub storage_max_stream_bytes: i64,
    pub max_bytes_required: bool,
}

impl Default for AccountLimits {
    /// No limits, as an account without a `jetstream` limits block reports.
    fn default() -> Self {
        Self {
            max_memory_bytes: -1,
            max_storage_bytes: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            storage_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}

/// API call counters (nats-server `JetStreamAPIStats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiStats {
    /// The JetStream API level this server implements (ADR-44); `None` omits it, as
    /// servers before 2.11 did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    pub total: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub inflight: u64,
}

/// The body of `account_info_response`, flattened next to `type`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    #[serde(flatten)]
    pub usage: AccountTier,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    pub api: ApiStats,
    /// Per-tier usage (`R1`, `R3`) when the account has tiered limits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, AccountTier>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_account_encodes_like_newer_servers() {
        let info = AccountInfo::default();
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"memory":0,"storage":0,"reserved_memory":0,"reserved_storage":0,"streams":0,"consumers":0,"limits":{"max_memory":-1,"max_storage":-1,"max_streams":-1,"max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,"storage_max_stream_bytes":-1,"max_bytes_required":false},"api":{"total":0,"errors":0}}"#
        );
    }

    #[test]
    fn decodes_2_9_10_output() {
        // nats-server 2.9.10 with `jetstream { domain: hub }`, $JS.API.INFO after one stream.
        let body = r#"{"memory":0,"storage":96,"streams":1,"consumers":0,"limits":{"max_memory":-1,"max_storage":-1,"max_streams":-1,"max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,"storage_max_stream_bytes":-1,"max_bytes_required":false},"domain":"hub","api":{"total":2,"errors":0}}"#;
        let info: AccountInfo = serde_json::from_str(body).unwrap();
        assert_eq!(info.usage.storage_bytes, 96);
        assert_eq!(info.domain, "hub");
        assert_eq!(info.api.total, 2);
        let tiered = AccountInfo {
            api: ApiStats {
                level: Some(1),
                ..ApiStats::default()
            },
            tiers: [("R1".to_owned(), AccountTier::default())].into(),
            ..AccountInfo::default()
        };
        let json = serde_json::to_string(&tiered).unwrap();
        assert!(json.contains(r#""api":{"level":1,"total":0,"errors":0}"#));
        assert!(json.contains(r#""tiers":{"R1":{"memory":0"#));
    }
}
