//! Stream limits as pure functions: nats-server's message size accounting and its
//! discard-new admission checks, kept apart from the data structures so each rule can be
//! read next to the Go code it mirrors.

use super::store::{DiscardPolicy, StorageType, StoreConfig, StoreError};

/// The size a message counts for in `state.bytes` and `max_bytes`, exactly as
/// nats-server accounts it:
///
/// - file storage, `fileStoreMsgSizeRaw` (filestore.go): `22 + subj + msg + 8` without
///   headers, `22 + subj + 4 + hdr + msg + 8` with headers (record length, seq, ts,
///   subject length, hash, header length);
/// - memory storage, `memStoreMsgSizeRaw` (memstore.go): `subj + hdr + msg + 16`.
pub fn msg_size_bytes(
    storage: StorageType,
    subject_len: usize,
    headers_len: usize,
    payload_len: usize,
) -> u64 {
    let (subject_len, headers_len, payload_len) =
        (subject_len as u64, headers_len as u64, payload_len as u64);
    match storage {
        StorageType::File if headers_len == 0 => 22 + subject_len + payload_len + 8,
        StorageType::File => 22 + subject_len + 4 + headers_len + payload_len + 8,
        StorageType::Memory => subject_len + headers_len + payload_len + 16,
    }
}

/// stream.go `processJetStreamMsg`: headers plus payload over a positive
/// `max_msg_size` is refused (`message size exceeds maximum allowed`, 10054). The stream
/// config turns 0 into -1, so 0 is unlimited here too.
pub fn check_msg_size(
    cfg: &StoreConfig,
    headers_len: usize,
    payload_len: usize,
) -> Result<(), StoreError> {
    let limit = cfg.max_msg_size;
    if limit > 0 && headers_len as u64 + payload_len as u64 > limit as u64 {
        return Err(StoreError::MaxMsgSize);
    }
    Ok(())
}

/// What the discard-new checks need to know about the stream and the subject.
pub struct Admission {
    pub msgs: u64,
    pub bytes: u64,
    /// Live messages on the new message's subject.
    pub subject_msgs: u64,
    /// Size of the subject's oldest message (0 when it has none).
    pub subject_first_size: u64,
    /// Size of the new message.
    pub new_size: u64,
    /// The new message carries a `Nats-Rollup` header.
    pub rollup: bool,
}

/// memstore.go / filestore.go `storeRawMsg` with `discardNewCheck`, in their order:
///
/// 1. At the per-subject limit with `discard_new_per_subject` (and no rollup header,
///    which will purge the subject anyway): `maximum messages per subject exceeded`.
/// 2. At `max_msgs`, unless at the per-subject limit (the new message replaces the
///    subject's oldest, so the count does not grow): `maximum messages exceeded`.
/// 3. Over `max_bytes` with the new message: `maximum bytes exceeded`, unless at the
///    per-subject limit and the subject's oldest message is at least as big.
///
/// Nothing is checked with discard old.
pub fn check_discard_new(cfg: &StoreConfig, admission: &Admission) -> Result<(), StoreError> {
    if cfg.discard != DiscardPolicy::New {
        return Ok(());
    }
    let per_subject = cfg.max_msgs_per_subject;
    let at_subject_limit = per_subject > 0 && admission.subject_msgs >= per_subject as u64;
    if at_subject_limit && cfg.discard_new_per_subject && !admission.rollup {
        return Err(StoreError::MaxMsgsPerSubject);
    }
    if cfg.max_msgs > 0 && admission.msgs >= cfg.max_msgs as u64 && !at_subject_limit {
        return Err(StoreError::MaxMsgs);
    }
    let over_bytes =
        cfg.max_bytes > 0 && admission.bytes + admission.new_size > cfg.max_bytes as u64;
    // Replacing the subject's oldest frees its size: enough when it is no smaller.
    let replacement_fits = at_subject_limit && admission.subject_first_size >= admission.new_size;
    if over_bytes && !replacement_fits {
        return Err(StoreError::MaxBytes);
    }
    Ok(())
}

/// `max_msgs` is exceeded and discard old removes the oldest messages.
pub fn over_msgs(cfg: &StoreConfig, msgs: u64) -> bool {
    cfg.discard == DiscardPolicy::Old && cfg.max_msgs > 0 && msgs > cfg.max_msgs as u64
}

/// `max_bytes` is exceeded and discard old removes the oldest messages.
pub fn over_bytes(cfg: &StoreConfig, bytes: u64) -> bool {
    cfg.discard == DiscardPolicy::Old && cfg.max_bytes > 0 && bytes > cfg.max_bytes as u64
}

/// The subject holds more than `max_msgs_per_subject`; its oldest go, whatever the
/// discard policy (memstore.go `enforcePerSubjectLimit`).
pub fn over_subject(cfg: &StoreConfig, subject_msgs: u64) -> bool {
    cfg.max_msgs_per_subject > 0 && subject_msgs > cfg.max_msgs_per_subject as u64
}

/// Messages stored at or before this instant have outlived `max_age`
/// (`sm.ts <= now - maxAge` in both stores); `None` without an age limit.
pub fn expiry_cutoff_ns(cfg: &StoreConfig, now_ns: i64) -> Option<i64> {
    (cfg.max_age_ns > 0).then(|| now_ns.saturating_sub(cfg.max_age_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_nats_server() {
        assert_eq!(msg_size_bytes(StorageType::File, 3, 0, 5), 22 + 3 + 5 + 8);
        assert_eq!(
            msg_size_bytes(StorageType::File, 3, 12, 5),
            22 + 3 + 4 + 12 + 5 + 8
        );
        assert_eq!(
            msg_size_bytes(StorageType::Memory, 3, 12, 5),
            3 + 12 + 5 + 16
        );
        assert_eq!(msg_size_bytes(StorageType::Memory, 3, 0, 0), 19);
    }
}
