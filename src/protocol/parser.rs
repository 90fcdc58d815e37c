//! Incremental parsers for both directions of the NATS text protocol.
//!
//! One engine, [`Engine`], does the framing; a [`Dialect`] says which op names a direction
//! accepts and how a complete control line becomes an op. The engine keeps only where it
//! is in the current op, so a frame split over many reads is scanned once.
//!
//! Before the engine looks at a new op, [`Dialect::whole_frame`] tries the fast path
//! (`fast_path.rs`): a PUB/HPUB (MSG/HMSG) frame that is entirely in the buffer and plainly
//! spelled is taken in one pass. It yields exactly what the engine would, or leaves the
//! op to the engine, so everything below describes both.
//!
//! Bytes of an op the engine has committed to (the op name, blanks after it, the ignored
//! rest of a `PING` line) are consumed from the caller's buffer as soon as they are seen.
//! What stays buffered is therefore bounded: at most `max_control_line_bytes` + 1 of an
//! unfinished control line, at most `max_payload_bytes` + 2 of an unfinished payload.
//!
//! Observed behaviour of nats-server 2.9.10 (raw bytes over TCP, default limits), which
//! the client parser follows; "closed" means closed without any `-ERR`:
//!
//! | client sends                                  | nats-server 2.9.10 answers                  |
//! |-----------------------------------------------|---------------------------------------------|
//! | `PUB foo\r\n`                                 | closed (wrong argument count)               |
//! | `PUB foo bar baz qux 1\r\n`                   | closed (wrong argument count)               |
//! | `PUB \r\n`                                    | closed: `\r` is taken as the first argument |
//! | `PUB foo -1\r\n`, `PUB foo +2\r\n`            | closed (bad size)                           |
//! | `PUB foo 0000000002\r\n` (10 digits)          | closed: sizes are 1 to 9 digits             |
//! | `PUB foo 000000002\r\nhi\r\n` (9 digits)      | accepted                                    |
//! | `PUB foo 1000000000\r\n`, 30-digit size       | closed (bad size)                           |
//! | `PUB foo 1048577\r\n` (before the payload)    | `-ERR 'Maximum Payload Violation'`, closed  |
//! | `PUB foo 2\r\nhiXX`                           | `-ERR 'Unknown Protocol Operation'`, closed |
//! | `PUB foo 2\nhi\nPING\r\n`                     | `-ERR 'Unknown Protocol Operation'`, closed |
//! | `PUB foo 0\r\n\r\n`                           | accepted (empty payload)                    |
//! | `PUB\tfoo\t \t2\r\nhi\r\n`                    | accepted: runs of spaces/tabs separate args |
//! | `pub foo 2 ..`, `SuB foo 1`, `ping`           | accepted: op names are case-insensitive     |
//! | `PING\n`                                      | `PONG`: a bare `\n` ends a control line     |
//! | `PINGxyz\r\n`, `PING foo\r\n`, 10 kB junk     | `PONG`: the rest of a PING/PONG/+OK line is ignored, not limited |
//! | `PIN\r\n`, `\r\n`, ` PING\r\n`, `MSG ..`      | `-ERR 'Unknown Protocol Operation'`, closed |
//! | `SUB\r\n`, `UNSUB\r\n`, `-ERR\r\n`, `-ERRx`   | `-ERR 'Unknown Protocol Operation'`, closed (a blank must follow these names) |
//! | `SUB foo\r\n`, `SUB foo q 1 x\r\n`            | closed (wrong argument count)               |
//! | `UNSUB 1 2 3\r\n`                             | closed (wrong argument count)               |
//! | `UNSUB 1 abc\r\n`, `UNSUB 1 -5\r\n`           | accepted as `UNSUB 1` (bad max = no max)    |
//! | `HPUB foo 10 5\r\n` (with or without headers) | closed (header size > total / no headers)   |
//! | `HPUB foo 1048577 1048577\r\n`                | `-ERR 'Maximum Payload Violation'`, closed  |
//! | `CONNECT{..}\r\n`                             | accepted: the blank after CONNECT/INFO is optional |
//! | `CONNECT\r\n`, `CONNECT {bad\r\n`, `CONNECT {} x` | closed (JSON error)                     |
//! | `CONNECT null`, `{"verbose":null}`            | accepted, defaults kept                     |
//! | `{"Verbose":false}`, duplicate keys           | accepted: keys case-insensitive, last wins  |
//! | `CONNECT []`, `{"verbose":"x"}`               | closed (JSON type error)                    |
//! | `CONNECT {"protocol":2}`                      | `-ERR 'invalid client protocol'`, closed    |
//! | `INFO {}\r\n`, `+OK\r\n`                      | ignored; `INFO garbage` closed (JSON error) |
//! | `-ERR foo\r\n`                                | closed without reply                        |
//! | 4096 bytes of arguments, then `\r\n`          | accepted                                    |
//! | 4097 bytes of arguments (whole or partial)    | `-ERR 'maximum control line exceeded'`, closed |
//! | `PUB` + 10 000 blanks + `foo 0\r\n\r\n`       | accepted: blanks after the op name do not count |
//!
//! Deliberate differences: a client's `HMSG` is refused with `Unknown Protocol Operation`
//! (2.9.10 half-parses it); a `\r` inside the arguments is kept as an argument byte (2.9.10
//! drops the last argument byte when any `\r` was seen, differently on split reads); the
//! limit on a partial line is checked on every call rather than once per read.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtocolError;
use super::fast_path::{self, PubFrame};

/// nats-server's `MAX_CONTROL_LINE_SIZE`.
pub const MAX_CONTROL_LINE_BYTES_DEFAULT: usize = 4096;
/// nats-server's `MAX_PAYLOAD_SIZE`.
pub const MAX_PAYLOAD_BYTES_DEFAULT: usize = 1_048_576;
/// nats-server's `parseSize` accepts at most this many digits, which also makes overflow
/// impossible (999_999_999 fits in a 32-bit `usize`).
const SIZE_DIGITS_MAX: usize = 9;

/// The two bounds that keep a client from making the server buffer without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest argument part of a control line (after the op name and its blanks,
    /// before `\r\n`).
    pub max_control_line_bytes: usize,
    /// Largest announced PUB/HPUB/MSG/HMSG size (headers included).
    pub max_payload_bytes: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            max_control_line_bytes: MAX_CONTROL_LINE_BYTES_DEFAULT,
            max_payload_bytes: MAX_PAYLOAD_BYTES_DEFAULT,
        }
    }
}

/// Operations a client sends to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// The JSON text after `CONNECT` (see `ConnectOptions::from_json`).
    Connect(Bytes),
    /// `PUB` and `HPUB`.
    Pub(Publish),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject or wildcard filter, not validated here.
        subject: Bytes,
        /// Queue group name.
        queue: Option<Bytes>,
        /// Client-chosen subscription id.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max_msgs]`. An unparseable `max_msgs` is `None`, as in nats-server.
    Unsub {
        /// Subscription id.
        sid: Bytes,
        /// Total deliveries after which the subscription goes away.
        max_msgs: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `INFO <json>`: nats-server closes a client whose INFO JSON does not parse.
    Info(Bytes),
    /// `+OK`, ignored by nats-server.
    Ok,
    /// `-ERR <text>` with one pair of surrounding single quotes removed; nats-server closes
    /// the connection.
    Err(Bytes),
}

/// A published message: `PUB` (no headers) or `HPUB`.
///
/// ```text
/// PUB <subject> [reply] <total>\r\n<payload>\r\n
/// HPUB <subject> [reply] <header_len> <total>\r\n<headers><payload>\r\n
///                                                |<-------- body ------->|
///                                                |<- header_len ->|
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Subject as sent; nats-server validates it only in pedantic mode.
    pub subject: Bytes,
    /// Reply subject.
    pub reply: Option<Bytes>,
    /// Some(n) for HPUB: the first n bytes of `body` are the header block.
    pub header_len: Option<usize>,
    /// headers + payload exactly as received (without the trailing CRLF). Zero-copy: a
    /// slice of the read buffer.
    pub body: Bytes,
}

impl Publish {
    /// The header block, if this was an HPUB.
    pub fn headers(&self) -> Option<&[u8]> {
        self.header_len.and_then(|len| self.body.get(..len))
    }

    /// The payload after any header block.
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len.unwrap_or(0);
        self.body.get(start..).unwrap_or_default()
    }
}

/// Operations a server sends to a client (used by the bundled bench tool and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// The JSON text after `INFO` (see `ServerInfo::from_json`).
    Info(Bytes),
    /// `MSG` and `HMSG`.
    Msg(Message),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`, the text without its single quotes.
    Err(Bytes),
}

/// A delivered message: `MSG` (no headers) or `HMSG`, laid out as [`Publish`] with a sid
/// after the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Subject the message was published to.
    pub subject: Bytes,
    /// Subscription id it is delivered for.
    pub sid: Bytes,
    /// Reply subject.
    pub reply: Option<Bytes>,
    /// Some(n) for HMSG: the first n bytes of `body` are the header block.
    pub header_len: Option<usize>,
    /// headers + payload without the trailing CRLF.
    pub body: Bytes,
}

impl Message {
    /// The header block, if this was an HMSG.
    pub fn headers(&self) -> Option<&[u8]> {
        self.header_len.and_then(|len| self.body.get(..len))
    }

    /// The payload after any header block.
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len.unwrap_or(0);
        self.body.get(start..).unwrap_or_default()
    }
}

/// Parses what a client sends. Stateful only to avoid re-scanning a half-received frame;
/// the caller owns the buffer.
#[derive(Debug)]
pub struct ClientParser {
    engine: Engine<ClientDialect>,
}

impl ClientParser {
    /// A parser at the start of a connection.
    pub fn new(limits: ParserLimits) -> Self {
        Self {
            engine: Engine::new(limits),
        }
    }

    /// Takes one complete op off the front of `buf` (splitting it off, so payloads are
    /// zero-copy `Bytes` sharing the read buffer's allocation), Ok(None) if more bytes are
    /// needed. Bytes of an unfinished op may already have been consumed; keep appending
    /// reads to the same buffer. After an error the connection is dead and every later
    /// call returns the same error.
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ProtocolError> {
        self.engine.next_op(buf)
    }

    /// [`Self::next_op`] without the fast path, for tests that compare the two.
    #[cfg(test)]
    pub(super) fn next_op_general(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<ClientOp>, ProtocolError> {
        self.engine.next_op_general(buf)
    }

    /// The PUB or HPUB frame whole at the front of `buf`, found but not consumed: the
    /// caller either takes it ([`PubFrame::take`], the op `next_op` would return) or
    /// advances `buf` past it. None leaves the op to `next_op`.
    #[inline]
    pub fn whole_pub(&self, buf: &[u8]) -> Option<PubFrame> {
        if !matches!(self.engine.stage, Stage::OpName) {
            return None;
        }
        fast_path::locate_client_frame(buf, &self.engine.limits)
    }

    /// Changes the limits for the rest of the connection (e.g. an account's max_payload
    /// once CONNECT is processed); an op whose size was already accepted is not rechecked.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.engine.limits = limits;
    }
}

/// Parses what a server sends; the counterpart of [`ClientParser`].
#[derive(Debug)]
pub struct ServerParser {
    engine: Engine<ServerDialect>,
}

impl ServerParser {
    /// A parser at the start of a connection.
    pub fn new(limits: ParserLimits) -> Self {
        Self {
            engine: Engine::new(limits),
        }
    }

    /// As [`ClientParser::next_op`], for server-to-client traffic.
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtocolError> {
        self.engine.next_op(buf)
    }

    /// [`Self::next_op`] without the fast path, for tests that compare the two.
    #[cfg(test)]
    pub(super) fn next_op_general(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<ServerOp>, ProtocolError> {
        self.engine.next_op_general(buf)
    }

    /// Changes the limits for the rest of the connection.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.engine.limits = limits;
    }
}

/// What may follow an op name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterName {
    /// At least one space or tab, then arguments (`PUB`, `SUB`, `-ERR`, ...).
    Blank,
    /// Optional blanks, then arguments (`CONNECT`, `INFO`).
    OptionalBlank,
    /// Anything up to `\n` is ignored (`PING`, `PONG`, `+OK`).
    IgnoreRest,
}

/// One op name of a dialect, in upper case.
#[derive(Debug)]
struct OpSpec<V> {
    name: &'static [u8],
    verb: V,
    after: AfterName,
}

/// A control line turned into either a finished op or a wait for its payload.
enum Step<P, O> {
    Done(O),
    Payload(P),
}

/// The parts that differ between the two directions.
trait Dialect {
    type Verb: Copy + std::fmt::Debug + 'static;
    /// Control-line arguments of an op whose payload has not arrived yet.
    type Pending: std::fmt::Debug;
    type Op;

    /// Op names accepted; no name may be a prefix of another.
    const OPS: &'static [OpSpec<Self::Verb>];

    /// Interprets a complete control line; `args` excludes the op name and the line end.
    fn line(
        verb: Self::Verb,
        args: Bytes,
        limits: &ParserLimits,
    ) -> Result<Step<Self::Pending, Self::Op>, ProtocolError>;

    /// Payload bytes still to come, the `\r\n` after them excluded.
    fn payload_bytes(pending: &Self::Pending) -> usize;

    fn finish(pending: Self::Pending, body: Bytes) -> Self::Op;

    /// The op at the front of `buf` if the fast path (`fast_path.rs`) can take it whole:
    /// then exactly what the engine would return, with the same bytes consumed. None,
    /// with `buf` untouched, leaves the op to the engine.
    fn whole_frame(buf: &mut BytesMut, limits: &ParserLimits) -> Option<Self::Op>;
}

/// Where the engine is within the current op. The front of the caller's buffer is always
/// the first byte not yet consumed.
#[derive(Debug)]
enum Stage<V, P> {
    /// The buffer starts with an op name (or is empty).
    OpName,
    /// The op name is consumed; blanks before the first argument byte are skipped.
    BeforeArgs(V),
    /// The buffer starts with the argument text; its first `scanned` bytes hold no line
    /// end (the very first byte is never one: nats-server takes it as an argument).
    Args { verb: V, scanned: usize },
    /// Discarding the rest of a PING/PONG/+OK line up to `\n`.
    SkipLine(V),
    /// The control line is parsed; the buffer starts with the payload.
    Payload(P),
    /// A protocol error happened; the connection is unusable.
    Failed(ProtocolError),
}

#[derive(Debug)]
struct Engine<D: Dialect> {
    limits: ParserLimits,
    stage: Stage<D::Verb, D::Pending>,
}

impl<D: Dialect> Engine<D> {
    fn new(limits: ParserLimits) -> Self {
        Self {
            limits,
            stage: Stage::OpName,
        }
    }

    #[inline]
    fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<D::Op>, ProtocolError> {
        if let Stage::OpName = self.stage {
            if let Some(op) = D::whole_frame(buf, &self.limits) {
                return Ok(Some(op));
            }
        }
        self.next_op_general(buf)
    }

    // Out of line, so the fast path does not pay for its registers and stack.
    #[inline(never)]
    fn next_op_general(&mut self, buf: &mut BytesMut) -> Result<Option<D::Op>, ProtocolError> {
        if let Stage::Failed(err) = &self.stage {
            return Err(err.clone());
        }
        let result = self.advance(buf);
        if let Err(err) = &result {
            self.stage = Stage::Failed(err.clone());
        }
        result
    }

    fn advance(&mut self, buf: &mut BytesMut) -> Result<Option<D::Op>, ProtocolError> {
        loop {
            // Taken by value so a pending payload can move into the finished op; every
            // path below either puts a stage back or returns (errors are recorded by
            // `next_op`).
            match std::mem::replace(&mut self.stage, Stage::OpName) {
                Stage::OpName => match match_op_name(D::OPS, buf)? {
                    None => return Ok(None),
                    Some((spec, consumed)) => {
                        buf.advance(consumed);
                        self.stage = match spec.after {
                            AfterName::IgnoreRest => Stage::SkipLine(spec.verb),
                            AfterName::Blank | AfterName::OptionalBlank => {
                                Stage::BeforeArgs(spec.verb)
                            }
                        };
                    }
                },
                Stage::BeforeArgs(verb) => {
                    let blanks = buf.iter().take_while(|&&byte| is_blank(byte)).count();
                    buf.advance(blanks);
                    if buf.is_empty() {
                        self.stage = Stage::BeforeArgs(verb);
                        return Ok(None);
                    }
                    self.stage = Stage::Args { verb, scanned: 1 };
                }
                Stage::Args { verb, scanned } => {
                    let limit_bytes = self.limits.max_control_line_bytes;
                    let from = scanned.min(buf.len());
                    let rest = buf.get(from..).unwrap_or_default();
                    let Some(offset) = memchr::memchr(b'\n', rest) else {
                        if partial_args_bytes(buf) > limit_bytes {
                            return Err(ProtocolError::ControlLineTooLong { limit_bytes });
                        }
                        self.stage = Stage::Args {
                            verb,
                            scanned: buf.len(),
                        };
                        return Ok(None);
                    };
                    let newline = from + offset;
                    let args_end = match buf.get(..newline) {
                        Some([_, .., b'\r']) => newline - 1,
                        _ => newline,
                    };
                    if args_end > limit_bytes {
                        return Err(ProtocolError::ControlLineTooLong { limit_bytes });
                    }
                    let mut line = buf.split_to(newline + 1);
                    line.truncate(args_end);
                    match D::line(verb, line.freeze(), &self.limits)? {
                        Step::Done(op) => return Ok(Some(op)),
                        Step::Payload(pending) => self.stage = Stage::Payload(pending),
                    }
                }
                Stage::SkipLine(verb) => {
                    let Some(newline) = memchr::memchr(b'\n', buf) else {
                        buf.advance(buf.len());
                        self.stage = Stage::SkipLine(verb);
                        return Ok(None);
                    };
                    buf.advance(newline + 1);
                    match D::line(verb, Bytes::new(), &self.limits)? {
                        Step::Done(op) => return Ok(Some(op)),
                        Step::Payload(pending) => self.stage = Stage::Payload(pending),
                    }
                }
                Stage::Payload(pending) => {
                    let size = D::payload_bytes(&pending);
                    // Checked as soon as each byte is there, as nats-server does, so the
                    // outcome does not depend on how the input was split.
                    if let Some(&byte) = buf.get(size) {
                        if byte != b'\r' {
                            return Err(ProtocolError::MissingPayloadTerminator { byte });
                        }
                    }
                    match buf.get(size.saturating_add(1)) {
                        None => {
                            self.stage = Stage::Payload(pending);
                            return Ok(None);
                        }
                        Some(&byte) if byte != b'\n' => {
                            return Err(ProtocolError::MissingPayloadTerminator { byte });
                        }
                        Some(_) => {}
                    }
                    let body = buf.split_to(size).freeze();
                    buf.advance(2);
                    return Ok(Some(D::finish(pending, body)));
                }
                Stage::Failed(err) => {
                    self.stage = Stage::Failed(err.clone());
                    return Err(err);
                }
            }
        }
    }
}

/// Finds the op name at the front of `buf`: the spec and how many bytes to consume (the
/// name, plus the one required blank), None while `buf` is still a prefix of some name.
fn match_op_name<'a, V>(
    ops: &'a [OpSpec<V>],
    buf: &[u8],
) -> Result<Option<(&'a OpSpec<V>, usize)>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut longest_common = 0;
    let mut is_prefix_of_a_name = false;
    for spec in ops {
        let common = spec
            .name
            .iter()
            .zip(buf.iter())
            .take_while(|(name_byte, byte)| byte.to_ascii_uppercase() == **name_byte)
            .count();
        if common == spec.name.len() {
            if spec.after != AfterName::Blank {
                return Ok(Some((spec, common)));
            }
            return match buf.get(common) {
                None => Ok(None),
                Some(&byte) if is_blank(byte) => Ok(Some((spec, common + 1))),
                Some(&byte) => Err(ProtocolError::UnknownOperation { byte }),
            };
        }
        is_prefix_of_a_name |= common == buf.len();
        longest_common = longest_common.max(common);
    }
    if is_prefix_of_a_name {
        return Ok(None);
    }
    // No name matched `longest_common + 1` bytes, so that byte exists in `buf`.
    let byte = buf.get(longest_common).copied().unwrap_or_default();
    Err(ProtocolError::UnknownOperation { byte })
}

/// Argument bytes of an unfinished line, as nats-server counts them: a trailing `\r`
/// (other than the first byte) is the start of the line end, not an argument.
fn partial_args_bytes(buf: &[u8]) -> usize {
    match buf {
        [_, .., b'\r'] => buf.len() - 1,
        _ => buf.len(),
    }
}

pub(super) fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// nats-server's `splitArg` (SUB, UNSUB, MSG) also splits on CR and LF.
fn is_blank_or_line_end(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// The non-empty tokens of `args`; None if there are more than `N`.
fn split_args<const N: usize>(
    args: &[u8],
    separator: impl Fn(u8) -> bool,
) -> Option<Tokens<'_, N>> {
    let mut tokens = Tokens {
        slots: [&[][..]; N],
        count: 0,
    };
    for token in args.split(|&byte| separator(byte)) {
        if !token.is_empty() {
            *tokens.slots.get_mut(tokens.count)? = token;
            tokens.count += 1;
        }
    }
    Some(tokens)
}

/// Fixed-capacity token list: splitting a control line allocates nothing.
struct Tokens<'a, const N: usize> {
    slots: [&'a [u8]; N],
    count: usize,
}

impl<'a, const N: usize> Tokens<'a, N> {
    fn as_slice(&self) -> &[&'a [u8]] {
        self.slots.get(..self.count).unwrap_or_default()
    }
}

/// nats-server's `parseSize`: 1 to 9 ASCII digits, nothing else.
pub(super) fn parse_size(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > SIZE_DIGITS_MAX {
        return None;
    }
    digits.iter().try_fold(0usize, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + usize::from(digit - b'0'))
    })
}

/// A token of `args` as a zero-copy `Bytes`.
fn token_bytes(args: &Bytes, token: &[u8]) -> Bytes {
    // Invariant: every token comes from `split_args(&args, ..)`, so it lies within `args`
    // as `slice_ref` requires.
    args.slice_ref(token)
}

fn check_payload_limit(size_bytes: usize, limits: &ParserLimits) -> Result<(), ProtocolError> {
    if size_bytes > limits.max_payload_bytes {
        return Err(ProtocolError::PayloadTooLarge {
            size_bytes,
            limit_bytes: limits.max_payload_bytes,
        });
    }
    Ok(())
}

/// Sizes of a message: `header_len` (HPUB/HMSG only) and the total size.
fn parse_sizes(
    op: &'static str,
    header_len: Option<&[u8]>,
    total: &[u8],
    limits: &ParserLimits,
) -> Result<(Option<usize>, usize), ProtocolError> {
    let header_len = match header_len {
        None => None,
        Some(digits) => Some(parse_size(digits).ok_or(ProtocolError::BadHeaderSize { op })?),
    };
    let total = parse_size(total).ok_or(ProtocolError::BadSize { op })?;
    if header_len.is_some_and(|header_len| header_len > total) {
        return Err(ProtocolError::HeaderSizeExceedsTotal { op });
    }
    check_payload_limit(total, limits)?;
    Ok((header_len, total))
}

/// `'text'` -> `text`; blanks before the line end are dropped first.
fn unquote(args: Bytes) -> Bytes {
    let trimmed = args.len()
        - args
            .iter()
            .rev()
            .take_while(|&&byte| is_blank(byte))
            .count();
    match args.get(..trimmed) {
        Some([b'\'', inner @ .., b'\'']) => args.slice_ref(inner),
        _ => args.slice(..trimmed),
    }
}

#[derive(Debug, Clone, Copy)]
enum ClientVerb {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Connect,
    Info,
    Ok,
    Err,
}

/// A PUB/HPUB control line waiting for its body.
#[derive(Debug)]
struct PendingPublish {
    subject: Bytes,
    reply: Option<Bytes>,
    header_len: Option<usize>,
    size: usize,
}

#[derive(Debug)]
struct ClientDialect;

impl Dialect for ClientDialect {
    type Verb = ClientVerb;
    type Pending = PendingPublish;
    type Op = ClientOp;

    // PUB first: it is the op a busy connection sends most.
    const OPS: &'static [OpSpec<ClientVerb>] = &[
        OpSpec {
            name: b"PUB",
            verb: ClientVerb::Pub,
            after: AfterName::Blank,
        },
        OpSpec {
            name: b"HPUB",
            verb: ClientVerb::Hpub,
            after: AfterName::Blank,
        },
        OpSpec {
            name: b"SUB",
            verb: ClientVerb::Sub,
            after: AfterName::Blank,
        },
        OpSpec {
            name: b"UNSUB",
            verb: ClientVerb::Unsub,
            after: AfterName::Blank,
        },
        OpSpec {
            name: b"PING",
            verb: ClientVerb::Ping,
            after: AfterName::IgnoreRest,
        },
        OpSpec {
            name: b"PONG",
            verb: ClientVerb::Pong,
            after: AfterName::IgnoreRest,
        },
        OpSpec {
            name: b"CONNECT",
            verb: ClientVerb::Connect,
            after: AfterName::OptionalBlank,
        },
        OpSpec {
            name: b"INFO",
            verb: ClientVerb::Info,
            after: AfterName::OptionalBlank,
        },
        OpSpec {
            name: b"+OK",
            verb: ClientVerb::Ok,
            after: AfterName::IgnoreRest,
        },
        OpSpec {
            name: b"-ERR",
            verb: ClientVerb::Err,
            after: AfterName::Blank,
        },
    ];

    fn line(
        verb: ClientVerb,
        args: Bytes,
        limits: &ParserLimits,
    ) -> Result<Step<PendingPublish, ClientOp>, ProtocolError> {
        let op = match verb {
            ClientVerb::Pub => return parse_pub(args, limits).map(Step::Payload),
            ClientVerb::Hpub => return parse_hpub(args, limits).map(Step::Payload),
            ClientVerb::Sub => parse_sub(args)?,
            ClientVerb::Unsub => parse_unsub(args)?,
            ClientVerb::Ping => ClientOp::Ping,
            ClientVerb::Pong => ClientOp::Pong,
            ClientVerb::Connect => ClientOp::Connect(args),
            ClientVerb::Info => ClientOp::Info(args),
            ClientVerb::Ok => ClientOp::Ok,
            ClientVerb::Err => ClientOp::Err(unquote(args)),
        };
        Ok(Step::Done(op))
    }

    fn payload_bytes(pending: &PendingPublish) -> usize {
        pending.size
    }

    fn finish(pending: PendingPublish, body: Bytes) -> ClientOp {
        ClientOp::Pub(Publish {
            subject: pending.subject,
            reply: pending.reply,
            header_len: pending.header_len,
            body,
        })
    }

    #[inline(always)]
    fn whole_frame(buf: &mut BytesMut, limits: &ParserLimits) -> Option<ClientOp> {
        fast_path::client_frame(buf, limits)
    }
}

/// `PUB <subject> [reply] <size>`; only spaces and tabs separate (nats-server `processPub`).
fn parse_pub(args: Bytes, limits: &ParserLimits) -> Result<PendingPublish, ProtocolError> {
    const OP: &str = "PUB";
    let tokens = split_args::<3>(&args, is_blank).ok_or(ProtocolError::ArgumentCount { op: OP })?;
    let (subject, reply, size) = match tokens.as_slice() {
        [subject, size] => (*subject, None, *size),
        [subject, reply, size] => (*subject, Some(*reply), *size),
        _ => return Err(ProtocolError::ArgumentCount { op: OP }),
    };
    let (header_len, size) = parse_sizes(OP, None, size, limits)?;
    Ok(PendingPublish {
        subject: token_bytes(&args, subject),
        reply: reply.map(|reply| token_bytes(&args, reply)),
        header_len,
        size,
    })
}

/// `HPUB <subject> [reply] <header_len> <total>` (nats-server `processHeaderPub`).
fn parse_hpub(args: Bytes, limits: &ParserLimits) -> Result<PendingPublish, ProtocolError> {
    const OP: &str = "HPUB";
    let tokens = split_args::<4>(&args, is_blank).ok_or(ProtocolError::ArgumentCount { op: OP })?;
    let (subject, reply, header_len, size) = match tokens.as_slice() {
        [subject, header_len, size] => (*subject, None, *header_len, *size),
        [subject, reply, header_len, size] => (*subject, Some(*reply), *header_len, *size),
        _ => return Err(ProtocolError::ArgumentCount { op: OP }),
    };
    let (header_len, size) = parse_sizes(OP, Some(header_len), size, limits)?;
    Ok(PendingPublish {
        subject: token_bytes(&args, subject),
        reply: reply.map(|reply| token_bytes(&args, reply)),
        header_len,
        size,
    })
}

/// `SUB <subject> [queue] <sid>` (nats-server `parseSub`).
fn parse_sub(args: Bytes) -> Result<ClientOp, ProtocolError> {
    const OP: &str = "SUB";
    let tokens = split_args::<3>(&args, is_blank_or_line_end)
        .ok_or(ProtocolError::ArgumentCount { op: OP })?;
    let (subject, queue, sid) = match tokens.as_slice() {
        [subject, sid] => (*subject, None, *sid),
        [subject, queue, sid] => (*subject, Some(*queue), *sid),
        _ => return Err(ProtocolError::ArgumentCount { op: OP }),
    };
    Ok(ClientOp::Sub {
        subject: token_bytes(&args, subject),
        queue: queue.map(|queue| token_bytes(&args, queue)),
        sid: token_bytes(&args, sid),
    })
}

/// `UNSUB <sid> [max_msgs]` (nats-server `processUnsub`: a bad max means no max).
fn parse_unsub(args: Bytes) -> Result<ClientOp, ProtocolError> {
    const OP: &str = "UNSUB";
    let tokens = split_args::<2>(&args, is_blank_or_line_end)
        .ok_or(ProtocolError::ArgumentCount { op: OP })?;
    let (sid, max_msgs) = match tokens.as_slice() {
        [sid] => (*sid, None),
        [sid, max_msgs] => (*sid, parse_size(max_msgs).map(|max| max as u64)),
        _ => return Err(ProtocolError::ArgumentCount { op: OP }),
    };
    Ok(ClientOp::Unsub {
        sid: token_bytes(&args, sid),
        max_msgs,
    })
}

#[derive(Debug, Clone, Copy)]
enum ServerVerb {
    Msg,
    Hmsg,
    Ping,
    Pong,
    Info,
    Ok,
    Err,
}

/// A MSG/HMSG control line waiting for its body.
#[derive(Debug)]
struct PendingMessage {
    subject: Bytes,
    sid: Bytes,
    reply: Option<Bytes>,
    header_len: Option<usize>,
    size: usize,
}

#[derive(Debug)]
struct ServerDialect;

impl Dialect for ServerDialect {
    type Verb = ServerVerb;
    type Pending = PendingMessage;
    type Op = ServerOp;

    const OPS: &'static [OpSpec<ServerVerb>] = &[
        OpSpec {
            name: b"MSG",
            verb: ServerVerb::Msg,
            after: AfterName::Blank,
        },
        OpSpec {
            name: b"HMSG",
            verb: ServerVerb::Hmsg,
            after: AfterName::Blank,
        },
        OpSpec {
            name: b"PING",
            verb: ServerVerb::Ping,
            after: AfterName::IgnoreRest,
        },
        OpSpec {
            name: b"PONG",
            verb: ServerVerb::Pong,
            after: AfterName::IgnoreRest,
        },
        OpSpec {
            name: b"INFO",
            verb: ServerVerb::Info,
            after: AfterName::OptionalBlank,
        },
        OpSpec {
            name: b"+OK",
            verb: ServerVerb::Ok,
            after: AfterName::IgnoreRest,
        },
        OpSpec {
            name: b"-ERR",
            verb: ServerVerb::Err,
            after: AfterName::Blank,
        },
    ];

    fn line(
        verb: ServerVerb,
        args: Bytes,
        limits: &ParserLimits,
    ) -> Result<Step<PendingMessage, ServerOp>, ProtocolError> {
        let op = match verb {
            ServerVerb::Msg => return parse_msg(args, false, limits).map(Step::Payload),
            ServerVerb::Hmsg => return parse_msg(args, true, limits).map(Step::Payload),
            ServerVerb::Ping => ServerOp::Ping,
            ServerVerb::Pong => ServerOp::Pong,
            ServerVerb::Info => ServerOp::Info(args),
            ServerVerb::Ok => ServerOp::Ok,
            ServerVerb::Err => ServerOp::Err(unquote(args)),
        };
        Ok(Step::Done(op))
    }

    fn payload_bytes(pending: &PendingMessage) -> usize {
        pending.size
    }

    fn finish(pending: PendingMessage, body: Bytes) -> ServerOp {
        ServerOp::Msg(Message {
            subject: pending.subject,
            sid: pending.sid,
            reply: pending.reply,
            header_len: pending.header_len,
            body,
        })
    }

    #[inline(always)]
    fn whole_frame(buf: &mut BytesMut, limits: &ParserLimits) -> Option<ServerOp> {
        fast_path::server_frame(buf, limits)
    }
}

/// `MSG <subject> <sid> [reply] <size>` or
/// `HMSG <subject> <sid> [reply] <header_len> <total>` (nats.go `processMsgArgs`).
fn parse_msg(
    args: Bytes,
    with_headers: bool,
    limits: &ParserLimits,
) -> Result<PendingMessage, ProtocolError> {
    let op = if with_headers { "HMSG" } else { "MSG" };
    let count_error = ProtocolError::ArgumentCount { op };
    let tokens = split_args::<5>(&args, is_blank_or_line_end).ok_or(count_error.clone())?;
    let (subject, sid, reply, header_len, size) = match (with_headers, tokens.as_slice()) {
        (false, [subject, sid, size]) => (*subject, *sid, None, None, *size),
        (false, [subject, sid, reply, size]) => (*subject, *sid, Some(*reply), None, *size),
        (true, [subject, sid, header_len, size]) => {
            (*subject, *sid, None, Some(*header_len), *size)
        }
        (true, [subject, sid, reply, header_len, size]) => {
            (*subject, *sid, Some(*reply), Some(*header_len), *size)
        }
        _ => return Err(count_error),
    };
    let (header_len, size) = parse_sizes(op, header_len, size, limits)?;
    Ok(PendingMessage {
        subject: token_bytes(&args, subject),
        sid: token_bytes(&args, sid),
        reply: reply.map(|reply| token_bytes(&args, reply)),
        header_len,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_prefix_free<V>(ops: &[OpSpec<V>]) {
        for (index, a) in ops.iter().enumerate() {
            assert!(a.name.iter().all(|byte| !byte.is_ascii_lowercase()));
            for b in ops.iter().skip(index + 1) {
                assert!(
                    !a.name.starts_with(b.name) && !b.name.starts_with(a.name),
                    "{:?} / {:?}",
                    a.name,
                    b.name
                );
            }
        }
    }

    #[test]
    fn op_tables_are_upper_case_and_prefix_free() {
        assert_prefix_free(ClientDialect::OPS);
        assert_prefix_free(ServerDialect::OPS);
    }

    #[test]
    fn sizes_are_one_to_nine_digits() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"000000002"), Some(2));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        for bad in [
            &b""[..],
            b"0000000002",
            b"1000000000",
            b"-1",
            b"+1",
            b"1a",
            b" 1",
            b"\xff",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unquote_strips_one_pair_and_trailing_blanks() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"'x'", b"x"),
            (b"'x' \t", b"x"),
            (b"''", b""),
            (b"'", b"'"),
            (b"a 'b'", b"a 'b'"),
        ];
        for (input, expected) in cases {
            assert_eq!(&unquote(Bytes::from_static(input))[..], expected);
        }
    }
}
