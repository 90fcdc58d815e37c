//! NATS header blocks: looking a header up the way nats-server does, and building blocks
//! (plain and with a status line) for stored-message replies.
//!
//! ```text
//! NATS/1.0\r\n                      NATS/1.0 404 Message Not Found\r\n
//! Nats-Msg-Id: abc\r\n              Nats-Pending-Messages: 3\r\n
//! \r\n                              \r\n
//! ```

use bytes::Bytes;

/// The version line every header block starts with.
pub const HEADER_LINE: &[u8] = b"NATS/1.0";

const CRLF: &[u8] = b"\r\n";

/// The publish header carrying a message's de-duplication id.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// The publish header asking for a rollup after the message is stored.
pub const ROLLUP: &str = "Nats-Rollup";

/// The value of the first `name` header in `block`, or `None`.
///
/// nats-server's `sliceHeader` semantics: the name matches case-sensitively only where it
/// starts a line (`\r\n` before it) and is followed directly by `:`; spaces after the
/// colon are skipped; the value runs to the next `\r\n` (or the end of the block) and is
/// not otherwise trimmed. Never panics, whatever the bytes.
pub fn get_header<'a>(block: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    if name.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(found) = find(&block[from..], name) {
        let start = from + found;
        let after_name = start + name.len();
        let at_line_start = start >= 2 && &block[start - 2..start] == CRLF;
        if at_line_start && block.get(after_name) == Some(&b':') {
            let mut value_start = after_name + 1;
            while block.get(value_start) == Some(&b' ') {
                value_start += 1;
            }
            let value_len = find(&block[value_start..], CRLF).unwrap_or(block.len() - value_start);
            return Some(&block[value_start..value_start + value_len]);
        }
        from = start + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Builds a header block: the version line (optionally with a status), headers, and the
/// closing empty line.
#[derive(Clone, Debug)]
pub struct HeaderBuilder {
    block: Vec<u8>,
}

impl Default for HeaderBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderBuilder {
    /// `NATS/1.0\r\n`.
    pub fn new() -> Self {
        let mut block = Vec::with_capacity(64);
        block.extend_from_slice(HEADER_LINE);
        block.extend_from_slice(CRLF);
        Self { block }
    }

    /// `NATS/1.0 <code> <description>\r\n` (no description when it is empty), e.g.
    /// `NATS/1.0 404 Message Not Found`.
    pub fn status(code: u16, description: &str) -> Self {
        let mut block = Vec::with_capacity(64);
        block.extend_from_slice(HEADER_LINE);
        block.push(b' ');
        block.extend_from_slice(code.to_string().as_bytes());
        if !description.is_empty() {
            block.push(b' ');
            block.extend_from_slice(description.as_bytes());
        }
        block.extend_from_slice(CRLF);
        Self { block }
    }

    /// Continues an existing block (a stored message's headers) so more headers can be
    /// appended, as Direct Get does. An empty or malformed block starts a fresh one.
    pub fn extend(block: &[u8]) -> Self {
        match block.strip_suffix(CRLF) {
            Some(open) if block.starts_with(HEADER_LINE) && open.ends_with(CRLF) => Self {
                block: open.to_vec(),
            },
            _ => Self::new(),
        }
    }

    /// Appends `name: value`. Both come from the server (names are constants, values are
    /// numbers, subjects and timestamps), so a CR or LF in them is a bug, not input.
    pub fn header(&mut self, name: &str, value: &[u8]) -> &mut Self {
        debug_assert!(!name.bytes().any(|b| b == b'\r' || b == b'\n' || b == b':'));
        debug_assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n'));
        self.block.extend_from_slice(name.as_bytes());
        self.block.extend_from_slice(b": ");
        self.block.extend_from_slice(value);
        self.block.extend_from_slice(CRLF);
        self
    }

    /// The finished block, ending with the empty line.
    pub fn finish(mut self) -> Bytes {
        self.block.extend_from_slice(CRLF);
        Bytes::from(self.block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_nats_server() {
        let block = b"NATS/1.0\r\nNats-Msg-Id:   abc \r\nX-Nats-Msg-Id: no\r\nB:2\r\n\r\n";
        assert_eq!(get_header(block, "Nats-Msg-Id"), Some(&b"abc "[..]));
        assert_eq!(get_header(block, "B"), Some(&b"2"[..]));
        assert_eq!(get_header(block, "nats-msg-id"), None, "case-sensitive");
        assert_eq!(get_header(block, "Msg-Id"), None, "must start a line");
        assert_eq!(
            get_header(block, "Nats-Msg"),
            None,
            "must be followed by ':'"
        );
        assert_eq!(get_header(b"", "A"), None);
        assert_eq!(get_header(b"NATS/1.0\r\nA:", "A"), Some(&b""[..]));
        assert_eq!(get_header(b"NATS/1.0\r\nA: x", "A"), Some(&b"x"[..]));
        // First match wins.
        assert_eq!(
            get_header(b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n", "A"),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn builder_writes_blocks() {
        let mut plain = HeaderBuilder::new();
        plain
            .header("Nats-Stream", b"S")
            .header("Nats-Sequence", b"5");
        assert_eq!(
            &plain.finish()[..],
            b"NATS/1.0\r\nNats-Stream: S\r\nNats-Sequence: 5\r\n\r\n"
        );
        assert_eq!(
            &HeaderBuilder::status(404, "Message Not Found").finish()[..],
            b"NATS/1.0 404 Message Not Found\r\n\r\n"
        );
        assert_eq!(
            &HeaderBuilder::status(408, "").finish()[..],
            b"NATS/1.0 408\r\n\r\n"
        );
        let mut extended = HeaderBuilder::extend(b"NATS/1.0\r\nA: 1\r\n\r\n");
        extended.header("B", b"2");
        assert_eq!(&extended.finish()[..], b"NATS/1.0\r\nA: 1\r\nB: 2\r\n\r\n");
        let block = HeaderBuilder::extend(b"garbage").finish();
        assert_eq!(&block[..], b"NATS/1.0\r\n\r\n");
        assert_eq!(get_header(&block, "A"), None);
    }
}
