//! Subject grammar (nats-server `sublist.go`): what a filter, a publish subject and a
//! queue name may look like, and the naive token-by-token matcher that the trie and
//! the cache invalidation are checked against.

/// Separates tokens; a subject never starts or ends with it and never repeats it.
pub(super) const TOKEN_SEPARATOR: u8 = b'.';
/// Matches exactly one token, and only when it is a whole token.
pub(super) const WILDCARD_ONE: &[u8] = b"*";
/// Matches one or more trailing tokens; only legal as the last token of a filter.
pub(super) const WILDCARD_TAIL: &[u8] = b">";

/// The bytes nats-server refuses inside a subject token (`"\t\n\f\r "`).
fn is_subject_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> {
    subject.split(|&byte| byte == TOKEN_SEPARATOR)
}

/// Where the token starting at `start` ends (exclusive): the next separator or the end.
pub(super) fn token_end(subject: &[u8], start: usize) -> usize {
    subject
        .get(start..)
        .and_then(|rest| rest.iter().position(|&byte| byte == TOKEN_SEPARATOR))
        .map_or(subject.len(), |offset| start + offset)
}

/// A SUB filter: non-empty, no empty token, no whitespace, `>` only as the last token.
/// Wildcards count only as whole tokens, so `foo*` and `f>o` are ordinary literals.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut seen_tail = false;
    for token in tokens(subject) {
        if token.is_empty() || seen_tail {
            return false;
        }
        if token.iter().any(|&byte| is_subject_whitespace(byte)) {
            return false;
        }
        seen_tail = token == WILDCARD_TAIL;
    }
    true
}

/// The pedantic PUB check, exactly nats-server's `IsValidLiteralSubject`: no empty token
/// and no wildcard token. Like nats-server it does not look for whitespace, because the
/// protocol parser has already split the control line on it.
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    tokens(subject)
        .all(|token| !token.is_empty() && token != WILDCARD_ONE && token != WILDCARD_TAIL)
}

/// A queue group name: non-empty and free of the whitespace the parser splits on.
pub fn is_valid_queue_name(queue: &[u8]) -> bool {
    !queue.is_empty() && !queue.iter().any(|&byte| is_subject_whitespace(byte))
}

/// True when the filter contains no wildcard token, so the only subject it matches is
/// itself. Assumes a valid filter.
pub(super) fn is_literal_filter(filter: &[u8]) -> bool {
    tokens(filter).all(|token| token != WILDCARD_ONE && token != WILDCARD_TAIL)
}

/// A publish subject with an empty token (or no bytes at all) matches nothing, as in
/// nats-server's `match`, which returns the empty result before touching the trie.
pub(super) fn has_empty_token(subject: &[u8]) -> bool {
    tokens(subject).any(<[u8]>::is_empty)
}

/// The reference matcher: does the valid filter `filter` match the published `subject`?
/// Subject tokens are compared literally, so a published `*` token is matched by a `*`
/// filter token (or `>`) but never by a literal filter token, as in the trie.
pub fn subject_matches_filter(filter: &[u8], subject: &[u8]) -> bool {
    is_valid_subject(filter) && filter_matches_unchecked(filter, subject)
}

/// [`subject_matches_filter`] without re-validating a filter the caller already checked
/// (cache invalidation runs this once per cached subject).
pub(super) fn filter_matches_unchecked(filter: &[u8], subject: &[u8]) -> bool {
    if has_empty_token(subject) {
        return false;
    }
    let mut subject_tokens = tokens(subject);
    for filter_token in tokens(filter) {
        if filter_token == WILDCARD_TAIL {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            None => return false,
            Some(subject_token) => {
                if filter_token != WILDCARD_ONE && filter_token != subject_token {
                    return false;
                }
            }
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_filters() {
        for subject in [
            "foo",
            "foo.bar",
            "*",
            ">",
            "foo.*",
            "foo.>",
            "*.*.>",
            "foo*",
            "f>o",
            "foo.b*r.>",
            "$SYS.>",
            "_INBOX.abc.*",
            "ünïcödé.tøken",
            "a.*.c",
        ] {
            assert!(
                is_valid_subject(subject.as_bytes()),
                "{subject:?} should be valid"
            );
        }
    }

    #[test]
    fn invalid_filters() {
        for subject in [
            "",
            ".",
            "..",
            ".foo",
            "foo.",
            "foo..bar",
            ">.foo",
            "foo.>.bar",
            "foo.>.>",
            "foo bar",
            "foo\tbar",
            "foo\rbar",
            "foo\nbar",
            "foo\x0cbar",
            " ",
            "foo. ",
            "\t",
        ] {
            assert!(
                !is_valid_subject(subject.as_bytes()),
                "{subject:?} should be invalid"
            );
        }
    }

    #[test]
    fn literal_subjects() {
        for subject in ["foo", "foo.bar", "foo*", "f>o", "a.b.c.d.e", "foo\x0cbar"] {
            assert!(is_valid_literal_subject(subject.as_bytes()), "{subject:?}");
        }
        for subject in [
            "", "*", ">", "foo.*", "foo.>", "*.bar", "foo..bar", ".foo", "foo.",
        ] {
            assert!(!is_valid_literal_subject(subject.as_bytes()), "{subject:?}");
        }
    }

    #[test]
    fn queue_names() {
        assert!(is_valid_queue_name(b"workers"));
        assert!(is_valid_queue_name(b"q.with.dots"));
        assert!(is_valid_queue_name(b"*"));
        for queue in ["", " ", "a b", "a\tb", "a\r", "\na", "a\x0cb"] {
            assert!(!is_valid_queue_name(queue.as_bytes()), "{queue:?}");
        }
    }

    #[test]
    fn naive_matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "bar", false),
            ("foo", "foo.bar", false),
            ("foo.bar", "foo", false),
            ("*", "foo", true),
            ("*", "foo.bar", false),
            (">", "foo", true),
            (">", "foo.bar.baz", true),
            ("foo.>", "foo", false),
            ("foo.>", "foo.a", true),
            ("foo.>", "foo.a.b", true),
            ("foo.*.baz", "foo.x.baz", true),
            ("foo.*.baz", "foo.x.y.baz", false),
            ("foo*", "foox", false),
            ("foo*", "foo*", true),
            ("*.*", "a.b", true),
            ("*.*", "a", false),
            ("foo.*", "foo.*", true),
            ("foo.bar", "foo.*", false),
            ("foo.>", "foo..a", false),
            (">", "", false),
            ("*", ".", false),
            ("foo.", "foo.", false),
            ("foo.>.bar", "foo.a.bar", false),
        ];
        for &(filter, subject, expected) in cases {
            assert_eq!(
                subject_matches_filter(filter.as_bytes(), subject.as_bytes()),
                expected,
                "filter {filter:?} subject {subject:?}"
            );
        }
    }

    #[test]
    fn token_end_scans_to_separator_or_end() {
        assert_eq!(token_end(b"ab.cd", 0), 2);
        assert_eq!(token_end(b"ab.cd", 3), 5);
        assert_eq!(token_end(b"ab", 0), 2);
    }
}
