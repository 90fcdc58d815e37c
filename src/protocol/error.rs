//! Errors of the protocol layer and the `-ERR` text nats-server sends for each.

/// Why a byte stream (or the JSON inside it) is not acceptable NATS protocol.
///
/// Every variant is fatal for the connection: nats-server closes it after sending the
/// text from [`ProtocolError::client_error_text`], if there is one. The fields carry only
/// facts fixed by the bytes themselves (never by how they were split into reads), so the
/// same input always yields the same error.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An op name nats-server does not know, or a byte that cannot follow the op name.
    #[error("unknown protocol operation: unexpected byte 0x{byte:02x}")]
    UnknownOperation {
        /// The first byte that made the input impossible.
        byte: u8,
    },
    /// The bytes after a payload were not exactly `\r\n`.
    #[error("payload not followed by CRLF: found byte 0x{byte:02x}")]
    MissingPayloadTerminator {
        /// The byte found where `\r` or `\n` was required.
        byte: u8,
    },
    /// The argument part of a control line is longer than `max_control_line_bytes`.
    #[error("maximum control line exceeded: more than {limit_bytes} bytes of arguments")]
    ControlLineTooLong {
        /// The limit in force.
        limit_bytes: usize,
    },
    /// A PUB/HPUB/MSG/HMSG announced more bytes than `max_payload_bytes`.
    #[error("maximum payload exceeded: {size_bytes} vs {limit_bytes}")]
    PayloadTooLarge {
        /// The announced total size (headers included).
        size_bytes: usize,
        /// The limit in force.
        limit_bytes: usize,
    },
    /// The op has the wrong number of arguments.
    #[error("{op}: wrong number of arguments")]
    ArgumentCount {
        /// The op name.
        op: &'static str,
    },
    /// The (total) size argument is not 1 to 9 ASCII digits.
    #[error("{op}: bad or missing size")]
    BadSize {
        /// The op name.
        op: &'static str,
    },
    /// The header size argument is not 1 to 9 ASCII digits.
    #[error("{op}: bad or missing header size")]
    BadHeaderSize {
        /// The op name.
        op: &'static str,
    },
    /// The header size is larger than the total size.
    #[error("{op}: header size larger than total size")]
    HeaderSizeExceedsTotal {
        /// The op name.
        op: &'static str,
    },
    /// The CONNECT argument is not JSON nats-server would accept.
    #[error("invalid CONNECT JSON: {reason}")]
    InvalidConnectJson {
        /// serde_json's description, for the log.
        reason: String,
    },
    /// An INFO argument is not JSON nats-server would accept.
    #[error("invalid INFO JSON: {reason}")]
    InvalidInfoJson {
        /// serde_json's description, for the log.
        reason: String,
    },
    /// CONNECT asked for a protocol level other than 0 or 1.
    #[error("invalid client protocol {protocol}")]
    InvalidClientProtocol {
        /// The level the client asked for.
        protocol: i64,
    },
    /// CONNECT asked for no_responders without (mutually supported) headers.
    #[error("no responders requires headers support")]
    NoRespondersRequiresHeaders,
}

impl ProtocolError {
    /// The exact text nats-server puts in `-ERR '<text>'` for this error, or `None` where
    /// nats-server closes the connection without sending one (argument errors, bad JSON).
    pub fn client_error_text(&self) -> Option<&'static str> {
        match self {
            Self::UnknownOperation { .. } | Self::MissingPayloadTerminator { .. } => {
                Some("Unknown Protocol Operation")
            }
            Self::ControlLineTooLong { .. } => Some("maximum control line exceeded"),
            Self::PayloadTooLarge { .. } => Some("Maximum Payload Violation"),
            Self::InvalidClientProtocol { .. } => Some("invalid client protocol"),
            Self::NoRespondersRequiresHeaders => Some("no responders requires headers support"),
            Self::ArgumentCount { .. }
            | Self::BadSize { .. }
            | Self::BadHeaderSize { .. }
            | Self::HeaderSizeExceedsTotal { .. }
            | Self::InvalidConnectJson { .. }
            | Self::InvalidInfoJson { .. } => None,
        }
    }
}
