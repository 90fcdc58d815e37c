//! Every bound in one place, with its unit in its name. Client-facing defaults are
//! nats-server's (const.go); the rest are tern's own and say why they are what they are.

/// Bytes read from a socket per `read` call at most. One read's worth is the most a client
/// can make us buffer beyond a frame's own limits.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Bytes read per `read` call at first. Like nats-server's read loop, the size doubles after
/// a read that fills it and halves after repeated short reads, so an idle connection holds
/// half a KiB instead of 64 KiB, and small-message traffic does not clear 64 KiB per read.
pub const READ_CHUNK_MIN_BYTES: usize = 512;

/// Consecutive reads under half the current size before it halves.
pub const SHORT_READS_BEFORE_SHRINK: u32 = 2;

/// A connection's read buffer is shrunk back to this after a large frame passes.
pub const READ_BUFFER_RETAIN_BYTES: usize = 256 * 1024;

/// Allocations at least this large are mapped on their own by glibc (and unmapped when
/// freed); smaller ones come from a thread's heap and are reused. glibc's largest allowed
/// value on 64-bit: an output buffer of a subscriber behind by up to this much is reused
/// (see `server::allocator`).
pub const MALLOC_MMAP_THRESHOLD_BYTES: usize = 32 * 1024 * 1024;

/// Free memory a heap keeps at its top before glibc gives it back to the kernel.
pub const MALLOC_TRIM_THRESHOLD_BYTES: usize = 64 * 1024 * 1024;

/// A connection's pending output is queued in chunks of this size (`server::outbound`), and
/// one chunk is written per syscall: one connection's flush does not hog its core, and the
/// bytes in flight (which count against max_pending and for the stall) are at most one
/// chunk. Not a power of two: chunks allocated one after another then start in different
/// cache sets, and a fan-out that fills 200 of them at the same offset moved 5-13% more
/// messages than with exactly 32 KiB, and 3-11% more than with 64 KiB - 1000
/// (`benches/RESULTS.md`, "Chunked output").
pub const OUTBOUND_CHUNK_BYTES: usize = 32 * 1024 - 512;

/// The first chunk of an empty output queue: a connection with a few messages pending holds
/// this much, not a full chunk (10 000 subscribers of one fan-out: 40 MiB, not 320 MiB).
pub const OUTBOUND_FIRST_CHUNK_BYTES: usize = 4 * 1024;

/// Written chunks a core keeps for reuse, per size (16 MiB of full chunks, 4 MiB of first
/// ones). Past that they go back to the allocator, which keeps them too, up to
/// `MALLOC_TRIM_THRESHOLD_BYTES` at the top of its heap.
pub const OUTBOUND_POOL_CHUNKS_MAX: usize = 512;
pub const OUTBOUND_POOL_FIRST_CHUNKS_MAX: usize = 1024;

/// Events queued for one peer core before the publishing connections that fill the queue stop
/// being read (backpressure). One ring item carries at most about this many (plus what one
/// read batch adds past the check), which amortises a ring hand-off over many messages.
pub const OUTBOX_EVENTS_MAX: usize = 1024;

/// Bytes of payload queued for one peer core before backpressure, whatever the event count.
pub const OUTBOX_BYTES_MAX: usize = 1024 * 1024;

/// Items (batches) per SPSC ring between two cores. With batches bounded as above, what is in
/// flight from one core to another is at most about MESH_RING_BATCHES x OUTBOX_BYTES_MAX
/// (32 MiB) plus the outbox itself, so a core whose consumers are stalled pushes back on the
/// publishing core within that much. Per-item ring cost is irrelevant at these batch sizes
/// (glommio's ring moves 13-30M items/s).
pub const MESH_RING_BATCHES: usize = 32;

/// Subscriptions per connection when `max_subscriptions` is 0 (nats-server: unlimited). A
/// hard ceiling still applies so that one client cannot exhaust memory with SUBs.
pub const SUBSCRIPTIONS_PER_CONNECTION_HARD_MAX: usize = 1_000_000;

/// Bytes of a `sid` token. nats-server has no limit but the control line's; we keep the same.
pub const SID_BYTES_MAX: usize = 4096;

/// Control-plane polling period: how often shards look at shutdown / lame-duck requests.
pub const CONTROL_POLL_MS: u64 = 50;

/// The first server PING is sent about this long after CONNECT (nats-server: 2 s + jitter).
pub const FIRST_PING_DELAY_MS: u64 = 2_000;

/// Fast-producer stall (nats-server's, since 2.10): when a consumer's pending output passes
/// half of its `max_pending`, whoever feeds it waits for it to drain, at least this long...
pub const STALL_WAIT_MIN_US: u64 = 2_000;
/// ...rising linearly to this long as the consumer nears `max_pending`...
pub const STALL_WAIT_MAX_US: u64 = 5_000;
/// ...and at most this long in total per read batch, so a stuck consumer slows producers
/// down but cannot stop them (it is cut off as a slow consumer instead).
pub const STALL_TOTAL_PER_BATCH_US: u64 = 10_000;
/// Producers wait only for stalled consumers whose socket took output this recently, or
/// that have read `max_pending` bytes since they connected (a tern departure from
/// nats-server, which waits for any stalled consumer until it is cut off). A consumer that
/// subscribes and never reads would otherwise slow its publishers for as long as it takes
/// to reach `max_pending` at stalled speed; readers that reconnect and stop again cost a
/// publisher 80% of its throughput that way (tests/TORTURE.md, "fast clients under
/// attack"). Every millisecond of the window is one a publisher may lose to each new dead
/// reader: with three reconnecting at once, on one core, 100 ms cost the fast clients
/// 25-27% and 50 ms 13% (no window at all: 15%, the rest being delivery), since a reader
/// with `max_pending` 64 MB reaches half of it about 50 ms after its socket stopped taking
/// output. A window this short is safe only because a reader's socket is served at least
/// every time slice (`Options::time_slice_us`): with glommio's 100 ms slice, a busy core
/// left the fast subscriber's socket unwritten for a whole window and it was cut in 1-3
/// of 9 attacked cells; with 500 us and this window, in none of 9 on two cores.
pub const STALL_DRAIN_WINDOW_MS: u64 = 50;
/// Stalled consumers one producer notes between two waits: one wait budget
/// (`STALL_TOTAL_PER_BATCH_US`) covers at most five at `STALL_WAIT_MIN_US` each, and the
/// list is scanned on every delivery to a stalled consumer, so it stays short.
pub const STALLED_PER_PRODUCER_MAX: usize = 8;

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

/// Ciphertext bytes read from a TLS connection's socket per read, and the most held before
/// rustls takes them: one full TLS record (16 KiB of plaintext) per read, so a read
/// normally yields whole records without making each idle TLS connection hold more.
pub const TLS_READ_CHUNK_BYTES: usize = 16 * 1024;

/// Records rustls may hold for sending before they are written to the socket (its own
/// default, set explicitly): the writer encrypts at most this much, writes it, then
/// encrypts more, so a large pending output is never doubled in memory.
pub const TLS_OUTPUT_BUFFER_BYTES: usize = 64 * 1024;

/// A TLS writer's reusable record buffer is dropped after a write grew it past this, so an
/// idle TLS connection does not keep a burst's worth of records allocated.
pub const TLS_OUTPUT_RETAIN_BYTES: usize = 32 * 1024;

// ---------------------------------------------------------------------------------------
// JetStream
// ---------------------------------------------------------------------------------------

/// Bytes read per io_uring read when a stream's segments are scanned at start.
pub const JS_RECOVERY_READ_CHUNK_BYTES: usize = 1024 * 1024;

/// A segment file is closed and a new one started past this size. Small enough that dead
/// head segments are reclaimed promptly, large enough that a busy stream opens few files.
pub const JS_SEGMENT_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Message bodies of a file stream kept in memory (newest first) so reads of recent
/// messages do not touch the disk; older bodies are read back from their segment.
pub const JS_STREAM_CACHE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// Publishes (payload bytes) waiting for a stream's writer. Past this the stream answers
/// publishers with an error instead of queueing more: the writer is behind the disk, and
/// an unbounded queue would only turn that into memory exhaustion.
pub const JS_STREAM_INBOX_BYTES_MAX: usize = 64 * 1024 * 1024;

/// How long the meta core waits for a stream's owning core to carry out a create, update,
/// delete or info request before answering the client with a temporary failure.
pub const JS_OWNER_REQUEST_TIMEOUT_MS: u64 = 5_000;
/// How often JetStream's meta core looks for a new authentication version installed off
/// the cores (a config reload), to enable the accounts it gives JetStream.
pub const JS_AUTH_POLL_MS: u64 = 50;
/// How long a login or a claims update waits for JetStream to take a new account version
/// in before it goes on without (the account's API may answer "not enabled" a moment).
pub const JS_AUTH_APPLY_WAIT_MS: u64 = 2_000;

/// Names per page of `STREAM.NAMES` and `CONSUMER.NAMES` (nats-server's `JSApiNamesLimit`).
pub const JS_API_NAMES_PAGE: usize = 1024;
/// Infos per page of `STREAM.LIST` and `CONSUMER.LIST` (nats-server's `JSApiListLimit`).
pub const JS_API_LIST_PAGE: usize = 256;

/// After a failed write or fsync, how long a stream waits before trying its disk again.
pub const JS_DISK_RETRY_MS: u64 = 1_000;

/// How often, at most, a file stream makes its synced-point record durable (one fsync of
/// a small file; see `jetstream::store::synced` for the trade-off). Also at clean shutdown.
pub const JS_SYNCED_POINT_INTERVAL_MS: u64 = 1_000;

// ---------------------------------------------------------------------------------------
// Authentication and permissions
// ---------------------------------------------------------------------------------------

/// Publish (and delivery) permission decisions cached per connection, by subject
/// (nats-server's `maxPermCacheSize`). Past it the cache starts over.
pub const PERMISSION_CACHE_SUBJECTS_MAX: usize = 128;

/// Reply subjects one connection may answer under `allow_responses` (nats-server's
/// `replyPermLimit`). Past it expired grants are dropped, then the oldest half.
pub const RESPONSE_PERMISSIONS_MAX: usize = 4096;

/// bcrypt comparisons running at once over the whole server, each on its own helper thread
/// (one takes tens of milliseconds at the usual costs; the cores never wait for it).
pub const BCRYPT_VERIFICATIONS_CONCURRENT_MAX: usize = 4;

/// How often a connection waiting for a bcrypt verdict (or a free bcrypt slot) looks again.
pub const BCRYPT_POLL_MS: u64 = 2;

/// Random bytes of the nonce in INFO for NKey signatures (nats-server's `nonceRawLen`).
pub const NKEY_NONCE_BYTES: usize = 11;

/// Characters of a CONNECT `sig` accepted for decoding: a 64-byte Ed25519 signature is 86
/// in base64url, 88 in padded base64; anything much longer is refused unread.
pub const NKEY_SIGNATURE_TEXT_BYTES_MAX: usize = 128;

/// Service requests one core has sent into other accounts (service imports) whose reply
/// has not come back yet. Past it the oldest are forgotten (their late replies dropped).
pub const SERVICE_REPLIES_PENDING_MAX: usize = 65_536;

/// How long a service import's reply mapping lives (nats-server's default response
/// threshold, 2 minutes); a later reply is dropped.
pub const SERVICE_REPLY_TTL_MS: u64 = 2 * 60_000;

/// How long a core waits for the answer to a `$SYS.REQ` request before giving up (the
/// monitoring side itself waits at most `CORE_QUERY_TIMEOUT_MS` for the cores).
pub const SYSTEM_REQUEST_TIMEOUT_MS: u64 = 5_000;
/// `$SYS.REQ` requests waiting for the monitoring side at once; more are dropped.
pub const SYSTEM_REQUESTS_QUEUED_MAX: usize = 64;

/// Bytes of one JWT (operator, account, user or activation) accepted for decoding. A user
/// JWT arrives in CONNECT, already bounded by `max_control_line`; account JWTs come from
/// the config, the resolver directory or `$SYS` claim updates (bounded by max_payload).
/// nats-server's decoder has no own bound; 1 MiB is far above any real account JWT.
pub const JWT_BYTES_MAX: usize = 1024 * 1024;

/// Account JWT files read from a resolver directory at start, at most: a directory
/// holding more is refused rather than read without bound.
pub const RESOLVER_DIR_FILES_MAX: usize = 100_000;

/// A JWT login's expiry timer sleeps at most this long before it looks again, so the
/// timer of a connection that already ended goes away within this time.
pub const JWT_EXPIRY_CHECK_S: u64 = 60;

/// How long a starting core waits for its startup subscriptions to reach every peer's ring
/// before accepting clients regardless (see `ShardState::interest_settled`).
pub const INTEREST_SETTLE_MAX_MS: u64 = 5_000;
