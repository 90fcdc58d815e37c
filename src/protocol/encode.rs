//! Encoders that append protocol lines to a caller-owned `Vec<u8>`.
//!
//! The hot path writes one control line per delivered message, so these reserve once,
//! copy slices and format integers by hand: no `format!`, no temporary allocation.
//! Arguments are written as given; validating subjects and sids is the caller's job.

/// `PING` as either side sends it.
pub const PING_LINE: &[u8] = b"PING\r\n";
/// `PONG` as either side sends it.
pub const PONG_LINE: &[u8] = b"PONG\r\n";
/// The verbose-mode acknowledgement.
pub const OK_LINE: &[u8] = b"+OK\r\n";

/// Decimal digits of `u64::MAX`.
const U64_DIGITS_MAX: usize = 20;

/// The most bytes [`encode_msg_line`] writes for these tokens (with headers, and sizes of
/// any length).
pub fn msg_line_bytes_max(subject: &[u8], sid: &[u8], reply: Option<&[u8]>) -> usize {
    "HMSG ".len()
        + subject.len()
        + 1
        + sid.len()
        + 1
        + reply.map_or(0, |reply| reply.len() + 1)
        + 2 * (U64_DIGITS_MAX + 1)
        + 2
}

/// "MSG <subject> <sid> [reply] <len>\r\n" or
/// "HMSG <subject> <sid> [reply] <hdr_len> <total_len>\r\n" (control line only; caller
/// appends body + "\r\n"). `body_len` is the total: headers plus payload.
pub fn encode_msg_line(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    body_len: usize,
) {
    debug_assert!(header_len.is_none_or(|header_len| header_len <= body_len));
    let op: &[u8] = if header_len.is_some() {
        b"HMSG "
    } else {
        b"MSG "
    };
    out.reserve(msg_line_bytes_max(subject, sid, reply));
    out.extend_from_slice(op);
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    push_reply_and_sizes(out, reply, header_len, body_len);
}

/// "PUB <subject> [reply] <len>\r\n" or
/// "HPUB <subject> [reply] <hdr_len> <total_len>\r\n", the client side of
/// [`encode_msg_line`].
pub fn encode_pub_line(
    out: &mut Vec<u8>,
    subject: &[u8],
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    body_len: usize,
) {
    debug_assert!(header_len.is_none_or(|header_len| header_len <= body_len));
    let op: &[u8] = if header_len.is_some() {
        b"HPUB "
    } else {
        b"PUB "
    };
    out.reserve(
        op.len()
            + subject.len()
            + 1
            + reply.map_or(0, |reply| reply.len() + 1)
            + 2 * (U64_DIGITS_MAX + 1)
            + 2,
    );
    out.extend_from_slice(op);
    out.extend_from_slice(subject);
    out.push(b' ');
    push_reply_and_sizes(out, reply, header_len, body_len);
}

/// "SUB <subject> [queue] <sid>\r\n".
pub fn encode_sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
    out.reserve(4 + subject.len() + 1 + queue.map_or(0, |queue| queue.len() + 1) + sid.len() + 2);
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(queue) = queue {
        out.extend_from_slice(queue);
        out.push(b' ');
    }
    out.extend_from_slice(sid);
    out.extend_from_slice(b"\r\n");
}

/// "UNSUB <sid> [max]\r\n".
pub fn encode_unsub(out: &mut Vec<u8>, sid: &[u8], max: Option<u64>) {
    out.reserve(6 + sid.len() + 1 + U64_DIGITS_MAX + 2);
    out.extend_from_slice(b"UNSUB ");
    out.extend_from_slice(sid);
    if let Some(max) = max {
        out.push(b' ');
        push_decimal(out, max);
    }
    out.extend_from_slice(b"\r\n");
}

/// "-ERR '<text>'\r\n", nats-server's `errProto`.
pub fn encode_err(out: &mut Vec<u8>, text: &str) {
    out.reserve(6 + text.len() + 3);
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

/// Header block of the no-responders status message: "NATS/1.0 503\r\n" plus
/// "Nats-Subject: <subject>\r\n" then "\r\n" (32 + subject bytes in all).
pub fn no_responders_headers(out: &mut Vec<u8>, subject: &[u8]) {
    out.reserve(32 + subject.len());
    out.extend_from_slice(b"NATS/1.0 503\r\nNats-Subject: ");
    out.extend_from_slice(subject);
    out.extend_from_slice(b"\r\n\r\n");
}

/// "[reply ]<len>\r\n" or "[reply ]<hdr_len> <total_len>\r\n".
fn push_reply_and_sizes(
    out: &mut Vec<u8>,
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    body_len: usize,
) {
    if let Some(reply) = reply {
        out.extend_from_slice(reply);
        out.push(b' ');
    }
    if let Some(header_len) = header_len {
        push_decimal(out, header_len as u64);
        out.push(b' ');
    }
    push_decimal(out, body_len as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; U64_DIGITS_MAX];
    let mut start = digits.len();
    // Invariant: a u64 has at most U64_DIGITS_MAX digits, so `start` never underflows and
    // every index is in bounds.
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_edges() {
        for value in [0, 1, 9, 10, 99, 100, 1_048_576, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
    }

    #[test]
    fn lines_are_byte_exact() {
        let mut out = Vec::new();
        encode_msg_line(&mut out, b"foo", b"1", None, None, 2);
        encode_msg_line(&mut out, b"foo", b"22", Some(b"_INBOX.x"), None, 0);
        encode_msg_line(&mut out, b"foo", b"3", None, Some(12), 14);
        encode_msg_line(&mut out, b"foo", b"4", Some(b"r"), Some(12), 12);
        assert_eq!(
            out,
            b"MSG foo 1 2\r\nMSG foo 22 _INBOX.x 0\r\nHMSG foo 3 12 14\r\nHMSG foo 4 r 12 12\r\n"
        );
        out.clear();
        encode_pub_line(&mut out, b"a.b", None, None, 5);
        encode_pub_line(&mut out, b"a.b", Some(b"r"), Some(0), 7);
        assert_eq!(out, b"PUB a.b 5\r\nHPUB a.b r 0 7\r\n");
        out.clear();
        encode_sub(&mut out, b"a.>", None, b"1");
        encode_sub(&mut out, b"a.*", Some(b"q"), b"2");
        encode_unsub(&mut out, b"1", None);
        encode_unsub(&mut out, b"2", Some(10));
        assert_eq!(
            out,
            b"SUB a.> 1\r\nSUB a.* q 2\r\nUNSUB 1\r\nUNSUB 2 10\r\n".as_slice()
        );
        out.clear();
        encode_err(&mut out, "Unknown Protocol Operation");
        assert_eq!(out, b"-ERR 'Unknown Protocol Operation'\r\n");
    }

    #[test]
    fn no_responders_block_matches_the_spec_length() {
        let mut out = Vec::new();
        no_responders_headers(&mut out, b"svc.echo");
        assert_eq!(out, b"NATS/1.0 503\r\nNats-Subject: svc.echo\r\n\r\n");
        assert_eq!(out.len(), 32 + b"svc.echo".len());
    }
}
