//! Every bound of the stream store in one place, with its unit in its name. The lead may
//! move them into `src/limits.rs`; nothing else in this module hard-codes a size.

/// Bytes of headers plus payload in one message at most: nats-server's largest allowed
/// `max_payload` (`MAX_PAYLOAD_MAX_SIZE`, 64 MiB), which counts headers too.
pub const MSG_BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Bytes of a stored subject at most; the record keeps its length in a `u16`. NATS control
/// lines are far shorter (4 KiB by default), so this never bites a real client.
pub const SUBJECT_BYTES_MAX: usize = u16::MAX as usize;

/// Bytes of the frame header in front of every record: magic, checksum, kind, length.
pub const FRAME_HEADER_BYTES: usize = 10;

/// Bytes of the fixed part of a message body: seq, timestamp, subject and header lengths.
pub const MSG_FIXED_BYTES: usize = 8 + 8 + 2 + 4;

/// Bytes of one framed record at most. The decoder refuses longer frames before it looks
/// at (or allocates for) anything else, so a corrupt length can cost at most this much.
pub const RECORD_BYTES_MAX: usize =
    FRAME_HEADER_BYTES + MSG_FIXED_BYTES + SUBJECT_BYTES_MAX + MSG_BODY_BYTES_MAX;

/// Segment size used when the configuration says 0. nats-server's file store uses 8 MiB
/// blocks for limits streams (`defaultLargeBlockSize`); a segment plays the same role.
pub const SEGMENT_BYTES_DEFAULT: u64 = 8 * 1024 * 1024;

/// Smallest segment size honoured: a segment must hold its `SegmentStart` and at least a
/// few small records, or every append would start a new file.
pub const SEGMENT_BYTES_MIN: u64 = 128;

/// Live messages in one stream at most: the sequence index addresses entries with `u32`.
/// Memory runs out long before (about 100 bytes each), but the bound keeps it an error
/// instead of a wrap-around.
pub const LIVE_MSGS_MAX: usize = u32::MAX as usize - 1;

/// Message ids remembered by one stream's de-duplication window at most. Past it the
/// oldest ids are forgotten before their window ends, so a very late duplicate of one of
/// them is stored again (nats-server has no such bound and grows instead).
pub const DEDUP_IDS_MAX: usize = 1 << 20;

/// Bytes of message ids remembered by one de-duplication window at most; same policy.
pub const DEDUP_ID_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A log buffer handed back through `recycle_log` is kept for reuse only up to this
/// capacity, so one burst does not pin a large buffer forever.
pub const LOG_BUFFER_RETAIN_BYTES: usize = 4 * 1024 * 1024;

/// An emptied sequence index keeps its allocations for reuse up to this many entries
/// (about 100 KiB); bigger ones are freed so a purged stream holds no memory.
pub const INDEX_RETAIN_ENTRIES: usize = 1024;

/// File storage: bodies kept in memory per stream when the configuration does not say
/// (`StoreConfig::new`). Reads of older messages go to disk.
pub const CACHE_BYTES_DEFAULT: u64 = 8 * 1024 * 1024;

/// Lost sequences remembered per stream at most. Recovery infers them from damaged
/// records; the bound keeps a damaged log from costing unbounded memory (past it, lost
/// sequences are still never served, just not listed).
pub const LOST_SEQS_MAX: usize = 1 << 16;

/// Bytes of the smallest message frame (one-byte subject, no body): recovery assumes a
/// damaged stretch of `n` bytes at the end of the log may have held `n / this` messages.
pub const MSG_FRAME_MIN_BYTES: u64 = (FRAME_HEADER_BYTES + MSG_FIXED_BYTES + 1) as u64;

/// Highest sequence a stream may use (`i64::MAX`, far beyond any real stream). The
/// ceiling keeps `last_seq + 1` from overflowing whatever a client asks for
/// (STREAM.PURGE `seq`, `first_seq`); records above it do not decode.
pub const SEQ_MAX: u64 = i64::MAX as u64;
