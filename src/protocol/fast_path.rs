//! The fast path for the frames a busy connection is made of: PUB and HPUB from a
//! client, MSG and HMSG from a server.
//!
//! When the whole frame is already in the buffer and plainly spelled, it is parsed in one
//! pass over the control line (arguments found eight bytes at a time) with no engine
//! state, then split off the buffer once; the op's `Bytes` are views of that one frozen
//! frame. A PUB costs two reference count increments (the engine's path: three, and a
//! decrement for its temporary line) and a few calls into `bytes`, whose results travel
//! through memory: slicing one frozen frame measured faster than splitting each part off
//! the `BytesMut` (more calls), or than freezing the frame and slicing every part (one
//! more increment).
//!
//! ```text
//!    PUB subject reply 5\r\nhello\r\n
//!    |----------- frame ------------|
//!        |-----| |---|      |---|
//!        subject reply      body
//!   subject: the frame narrowed in place; reply and body: slices of it
//! ```
//!
//! It is only an accelerator, never a second parser with rules of its own: it returns
//! exactly the op the engine in `parser.rs` would return for the same bytes, having
//! consumed exactly the same bytes, or it returns `None` with the buffer untouched and the
//! engine parses the op. Everything unusual goes to the engine: frames not yet complete,
//! every error, lines or sizes over the limits, a `\r` other than in the line end, control
//! bytes in arguments, a line starting with a line end, and all other ops. The proptests
//! in `tests.rs` check the two paths against each other on valid and damaged streams.

use bytes::{Buf, Bytes, BytesMut};

use super::parser::{is_blank, parse_size, ClientOp, Message, ParserLimits, Publish, ServerOp};

/// A whole PUB or HPUB frame off the front of `buf`, or None (and `buf` untouched) if the
/// engine must decide.
#[inline]
pub(super) fn client_frame(buf: &mut BytesMut, limits: &ParserLimits) -> Option<ClientOp> {
    Some(ClientOp::Pub(locate_client_frame(buf, limits)?.take(buf)))
}

/// A PUB or HPUB frame found whole at the front of a buffer and not yet taken off it.
/// The server routes most publishes from the buffer itself through it (nothing else keeps
/// them: no subscriber on another core, none internal) and then only advances past the
/// frame; a `Bytes` per part, each a reference count to take and drop, is made by
/// [`PubFrame::take`] only for a message that must outlive the buffer.
#[derive(Debug, Clone, Copy)]
pub struct PubFrame {
    subject: Token,
    reply: Option<Token>,
    header_len: Option<usize>,
    body: Token,
    frame_len: usize,
}

impl PubFrame {
    /// The subject, within the buffer the frame was found in.
    #[inline(always)]
    pub fn subject<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.subject.start..self.subject.end]
    }

    #[inline(always)]
    pub fn reply<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        self.reply.map(|reply| &buf[reply.start..reply.end])
    }

    /// Headers and payload, as [`Publish::body`].
    #[inline(always)]
    pub fn body<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.body.start..self.body.end]
    }

    pub fn header_len(&self) -> Option<usize> {
        self.header_len
    }

    /// Bytes from the op name through the body's `\r\n`: what taking or skipping it
    /// consumes.
    pub fn len(&self) -> usize {
        self.frame_len
    }

    pub fn is_empty(&self) -> bool {
        self.frame_len == 0
    }

    /// Splits the frame off `buf` (the buffer it was found in, unchanged since) as the op
    /// the parser would have returned.
    #[inline(always)]
    pub fn take(self, buf: &mut BytesMut) -> Publish {
        let frame = buf.split_to(self.frame_len).freeze();
        let body = slice(&frame, self.body);
        let reply = self.reply.map(|reply| slice(&frame, reply));
        Publish {
            subject: narrow(frame, self.subject),
            reply,
            header_len: self.header_len,
            body,
        }
    }
}

/// Finds a whole PUB or HPUB frame at the front of `buf` without consuming it, or None if
/// the engine must decide.
#[inline(always)]
pub(super) fn locate_client_frame(buf: &[u8], limits: &ParserLimits) -> Option<PubFrame> {
    let with_headers = match buf.first()? | 0x20 {
        b'p' => false,
        b'h' => true,
        _ => return None,
    };
    let name: &[u8] = if with_headers { b"hpub" } else { b"pub" };
    let mut args = Args::after_name(buf, name, limits.max_control_line_bytes)?;
    let subject = args.token()?;
    let second = args.token()?;
    let (reply, header_len, total, end) = if with_headers {
        let third = args.token()?;
        match args.next()? {
            Next::End(end) => (None, Some(second), third, end),
            Next::Token(fourth) => (Some(second), Some(third), fourth, args.line_end()?),
        }
    } else {
        match args.next()? {
            Next::End(end) => (None, None, second, end),
            Next::Token(third) => (Some(second), None, third, args.line_end()?),
        }
    };
    let (header_len, total) = sizes(buf, header_len, total, limits)?;
    let (body, frame_len) = frame_body(buf, end.body_start, total)?;
    Some(PubFrame {
        subject,
        reply,
        header_len,
        body,
        frame_len,
    })
}

/// A whole MSG or HMSG frame off the front of `buf`, or None (and `buf` untouched) if the
/// engine must decide.
#[inline]
pub(super) fn server_frame(buf: &mut BytesMut, limits: &ParserLimits) -> Option<ServerOp> {
    let with_headers = match buf.first()? | 0x20 {
        b'm' => false,
        b'h' => true,
        _ => return None,
    };
    let name: &[u8] = if with_headers { b"hmsg" } else { b"msg" };
    let mut args = Args::after_name(buf, name, limits.max_control_line_bytes)?;
    let subject = args.token()?;
    let sid = args.token()?;
    let third = args.token()?;
    let (reply, header_len, total, end) = if with_headers {
        let fourth = args.token()?;
        match args.next()? {
            Next::End(end) => (None, Some(third), fourth, end),
            Next::Token(fifth) => (Some(third), Some(fourth), fifth, args.line_end()?),
        }
    } else {
        match args.next()? {
            Next::End(end) => (None, None, third, end),
            Next::Token(fourth) => (Some(third), None, fourth, args.line_end()?),
        }
    };
    let (header_len, total) = sizes(buf, header_len, total, limits)?;
    let (body, frame_end) = frame_body(buf, end.body_start, total)?;
    let frame = buf.split_to(frame_end).freeze();
    let body = slice(&frame, body);
    let sid = slice(&frame, sid);
    let reply = reply.map(|reply| slice(&frame, reply));
    Some(ServerOp::Msg(Message {
        subject: narrow(frame, subject),
        sid,
        reply,
        header_len,
        body,
    }))
}

/// Start and end of one argument within the frame.
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
}

/// What follows in a control line: an argument, or the line end.
#[derive(Debug, Clone, Copy)]
enum Next {
    Token(Token),
    /// The line end, `\r\n` or a bare `\n`.
    End(LineEnd),
}

#[derive(Debug, Clone, Copy)]
struct LineEnd {
    /// Index just past the `\n`: where the body starts.
    body_start: usize,
}

/// A cursor over the arguments of one control line, which it reads only up to where the
/// line end has to be, so a line the engine will refuse costs no more than a valid one.
struct Args<'a> {
    line: &'a [u8],
    /// Index of the first argument byte.
    start: usize,
    max_control_line_bytes: usize,
    /// Where reading continues.
    at: usize,
}

impl<'a> Args<'a> {
    /// The arguments after `name` (in lower case, matched case-insensitively as the engine
    /// does) and the blank the engine requires after it; None if `bytes` starts otherwise.
    #[inline(always)]
    fn after_name(bytes: &'a [u8], name: &[u8], max_control_line_bytes: usize) -> Option<Self> {
        // Setting bit 5 lower-cases a letter and maps no other byte onto one.
        let name_matches = bytes
            .get(..name.len())?
            .iter()
            .zip(name)
            .all(|(&byte, &lower)| byte | 0x20 == lower);
        if !name_matches || !is_blank(*bytes.get(name.len())?) {
            return None;
        }
        let mut at = name.len() + 1;
        while is_blank(*bytes.get(at)?) {
            at += 1;
        }
        // At most `max_control_line_bytes` of arguments, then `\r\n`.
        let line_bytes_max = at.saturating_add(max_control_line_bytes).saturating_add(2);
        Some(Self {
            line: bytes.get(..line_bytes_max).unwrap_or(bytes),
            start: at,
            max_control_line_bytes,
            at,
        })
    }

    /// The next argument or the line end; None where the engine must decide: a `\r` not
    /// followed by `\n`, a control byte, no line end within the limit.
    #[inline(always)]
    fn next(&mut self) -> Option<Next> {
        loop {
            match *self.line.get(self.at)? {
                b' ' | b'\t' => self.at += 1,
                byte if byte > b' ' => break,
                b'\n' => return self.end(1),
                b'\r' if self.line.get(self.at + 1) == Some(&b'\n') => return self.end(2),
                _ => return None,
            }
        }
        let start = self.at;
        self.at = token_end(self.line, start);
        Some(Next::Token(Token {
            start,
            end: self.at,
        }))
    }

    /// The line end at `at`, `line_end_bytes` long, if the arguments before it are within
    /// the limit.
    #[inline(always)]
    fn end(&self, line_end_bytes: usize) -> Option<Next> {
        if self.at - self.start > self.max_control_line_bytes {
            return None;
        }
        Some(Next::End(LineEnd {
            body_start: self.at + line_end_bytes,
        }))
    }

    #[inline(always)]
    fn token(&mut self) -> Option<Token> {
        match self.next()? {
            Next::Token(token) => Some(token),
            Next::End(_) => None,
        }
    }

    #[inline(always)]
    fn line_end(&mut self) -> Option<LineEnd> {
        match self.next()? {
            Next::Token(_) => None,
            Next::End(end) => Some(end),
        }
    }
}

/// Index of the first byte at or after `at` that cannot be in an argument (a blank, a
/// line end or a control byte), or `line.len()`. Eight bytes at a time: the classic
/// "has a byte less than n" word trick, whose lowest flagged byte is exact.
#[inline(always)]
fn token_end(line: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    while let Some(chunk) = line.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let below = word.wrapping_sub(ONES * u64::from(b' ' + 1)) & !word & HIGHS;
        if below != 0 {
            return at + (below.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while line.get(at).is_some_and(|&byte| byte > b' ') {
        at += 1;
    }
    at
}

/// The header length (if any) and total size, where the engine would accept them.
#[inline(always)]
fn sizes(
    bytes: &[u8],
    header_len: Option<Token>,
    total: Token,
    limits: &ParserLimits,
) -> Option<(Option<usize>, usize)> {
    let total = parse_size(bytes.get(total.start..total.end)?)?;
    let header_len = match header_len {
        None => None,
        Some(token) => Some(parse_size(bytes.get(token.start..token.end)?)?),
    };
    if header_len.is_some_and(|header_len| header_len > total) || total > limits.max_payload_bytes {
        return None;
    }
    Some((header_len, total))
}

/// Where the body of `total` bytes that starts at `body_start` lies, and the length of
/// the frame, if all of it is in `bytes` and ends in `\r\n`.
#[inline(always)]
fn frame_body(bytes: &[u8], body_start: usize, total: usize) -> Option<(Token, usize)> {
    let body_end = body_start.checked_add(total)?;
    let frame_end = body_end.checked_add(2)?;
    if bytes.get(body_end..frame_end)? != b"\r\n" {
        return None;
    }
    let body = Token {
        start: body_start,
        end: body_end,
    };
    Some((body, frame_end))
}

/// `part` of `frame` as a `Bytes` of its own: one reference count increment.
#[inline(always)]
fn slice(frame: &Bytes, part: Token) -> Bytes {
    frame.slice(part.start..part.end)
}

/// `frame` narrowed to `part`, in place: no reference count traffic.
#[inline(always)]
fn narrow(mut frame: Bytes, part: Token) -> Bytes {
    frame.truncate(part.end);
    frame.advance(part.start);
    frame
}
