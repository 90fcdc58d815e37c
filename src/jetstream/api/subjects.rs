//! Relations between subject filters that stream and consumer configs need.
//!
//! * [`subjects_collide`]: some concrete subject is matched by both filters (nats-server
//!   `SubjectsCollide`), e.g. two streams may not both capture it (10065).
//! * [`is_subset`]: every subject matched by one filter is matched by the other
//!   (nats-server `subjectIsSubsetMatch`), e.g. `$JS.EVENT.>` is allowed inside `$JS.>`.
//!
//! Both work token by token; `*` matches one token and `>` one or more trailing tokens.
//! Only whole tokens are wildcards, so `foo*` is a literal. Inputs are assumed valid
//! filters ([`is_valid_subject`]); the property tests check both against a brute-force
//! enumeration of concrete subjects.

const SEPARATOR: char = '.';
const WILDCARD_ONE: &str = "*";
const WILDCARD_TAIL: &str = ">";

/// A filter as nats-server's `IsValidSubject` judges it (non-empty tokens, no whitespace,
/// `>` only last).
pub fn is_valid_subject(subject: &str) -> bool {
    crate::routing::is_valid_subject(subject.as_bytes())
}

/// True when no token is a wildcard (nats-server `subjectIsLiteral`).
pub fn is_literal(subject: &str) -> bool {
    subject
        .split(SEPARATOR)
        .all(|token| token != WILDCARD_ONE && token != WILDCARD_TAIL)
}

/// A valid subject without wildcards (nats-server `IsValidPublishSubject`).
pub fn is_valid_publish_subject(subject: &str) -> bool {
    is_valid_subject(subject) && is_literal(subject)
}

/// Does the filter match the concrete subject?
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    crate::routing::subject_matches_filter(filter.as_bytes(), subject.as_bytes())
}

fn is_wildcard(token: &str) -> bool {
    token == WILDCARD_ONE || token == WILDCARD_TAIL
}

/// Can one concrete subject match both filters?
pub fn subjects_collide(first: &str, second: &str) -> bool {
    if first == second {
        return true;
    }
    let mut first_tokens = first.split(SEPARATOR);
    let mut second_tokens = second.split(SEPARATOR);
    loop {
        match (first_tokens.next(), second_tokens.next()) {
            // Both ended together: every position was compatible.
            (None, None) => return true,
            // One is longer and the shorter had no `>` to absorb the rest.
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(a), Some(b)) => {
                // `>` takes this and all later tokens; the other side has at least this one,
                // and any valid remainder matches some tokens.
                if a == WILDCARD_TAIL || b == WILDCARD_TAIL {
                    return true;
                }
                if !is_wildcard(a) && !is_wildcard(b) && a != b {
                    return false;
                }
            }
        }
    }
}

/// Is every subject matched by `sub` also matched by `of`?
pub fn is_subset(sub: &str, of: &str) -> bool {
    let mut sub_tokens = sub.split(SEPARATOR);
    let mut of_tokens = of.split(SEPARATOR);
    loop {
        match (sub_tokens.next(), of_tokens.next()) {
            (None, None) => return true,
            // `of` needs more tokens than `sub` guarantees, or cannot take `sub`'s extra ones.
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(sub_token), Some(of_token)) => {
                if of_token == WILDCARD_TAIL {
                    return true;
                }
                if sub_token == WILDCARD_TAIL {
                    // `sub` matches any number of tokens here, `of` a fixed count.
                    return false;
                }
                if of_token == WILDCARD_ONE {
                    continue;
                }
                // `of` is literal here: `sub` must be the same literal (a `*` would also
                // match other tokens).
                if sub_token != of_token {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn collisions() {
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "bar", false),
            ("foo.*", "foo.bar", true),
            ("foo.*", "foo.bar.baz", false),
            ("foo.>", "foo", false),
            ("foo.>", "foo.bar.baz", true),
            ("*.bar", "foo.*", true),
            ("*.bar", "foo.baz", false),
            ("a.>", "a.b.>", true),
            ("a.*.c", "a.>", true),
            ("*", ">", true),
            (">", "a.b.c", true),
            ("a.*", "*.b.c", false),
            ("foo*", "foo.bar", false),
            ("foo*", "*", true),
            ("$JS.API.>", "$JS.>", true),
            ("$SYS.ACCOUNT.x", "$SYS.>", true),
            ("orders.*", "orders.a", true),
        ];
        for &(a, b, expected) in cases {
            assert_eq!(subjects_collide(a, b), expected, "{a} vs {b}");
            assert_eq!(subjects_collide(b, a), expected, "{b} vs {a}");
        }
    }

    #[test]
    fn subsets() {
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "*", true),
            ("foo.bar", ">", true),
            ("foo.*", ">", true),
            ("foo.*", "*.*", true),
            ("foo.*", "foo.*", true),
            ("foo.*", "foo.bar", false),
            ("foo.>", "foo.*", false),
            ("foo.*", "foo.>", true),
            ("foo.>", "foo.>", true),
            ("foo", "foo.>", false),
            ("*", "foo", false),
            ("$JS.EVENT.ADVISORY.>", "$JS.EVENT.>", true),
            ("$JS.>", "$JS.EVENT.>", false),
            (">", "*", false),
            ("a.b", "a.b.c", false),
        ];
        for &(sub, of, expected) in cases {
            assert_eq!(is_subset(sub, of), expected, "{sub} in {of}");
        }
    }

    #[test]
    fn literals() {
        assert!(is_literal("foo.bar") && is_literal("foo*") && is_literal("f>o"));
        assert!(!is_literal("foo.*") && !is_literal(">") && !is_literal("*.a"));
        assert!(is_valid_publish_subject("a.b"));
        assert!(!is_valid_publish_subject("a.*") && !is_valid_publish_subject("a..b"));
        assert!(subject_matches("a.*", "a.b") && !subject_matches("a.*", "a"));
    }

    // Brute-force model: filters over tokens {a, b, *, >}; concrete subjects over {a, b, c}
    // ("c" stands for every token neither filter names). A witness or counterexample, if
    // one exists, exists with at most one token more than the longer filter.
    const FILTER_TOKENS: &[&str] = &["a", "b", "*", ">"];
    const CONCRETE_TOKENS: &[&str] = &["a", "b", "c"];
    const FILTER_TOKENS_MAX: usize = 4;

    fn filter_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(0..FILTER_TOKENS.len(), 1..=FILTER_TOKENS_MAX).prop_map(|picks| {
            let mut tokens: Vec<&str> = picks.iter().map(|&i| FILTER_TOKENS[i]).collect();
            // `>` is only legal last: drop anything after the first one.
            if let Some(position) = tokens.iter().position(|&t| t == ">") {
                tokens.truncate(position + 1);
            }
            tokens.join(".")
        })
    }

    fn concrete_subjects(len_max: usize) -> Vec<String> {
        let mut all = Vec::new();
        let mut current: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..len_max {
            let mut next = Vec::new();
            for prefix in &current {
                for &token in CONCRETE_TOKENS {
                    let mut longer = prefix.clone();
                    longer.push(token);
                    all.push(longer.join("."));
                    next.push(longer);
                }
            }
            current = next;
        }
        all
    }

    proptest! {
        #[test]
        fn collide_matches_model(a in filter_strategy(), b in filter_strategy()) {
            prop_assert!(is_valid_subject(&a) && is_valid_subject(&b));
            let subjects = concrete_subjects(FILTER_TOKENS_MAX + 1);
            let model = subjects.iter().any(|s| subject_matches(&a, s) && subject_matches(&b, s));
            prop_assert_eq!(subjects_collide(&a, &b), model, "{} vs {}", a, b);
        }

        #[test]
        fn subset_matches_model(sub in filter_strategy(), of in filter_strategy()) {
            let subjects = concrete_subjects(FILTER_TOKENS_MAX + 1);
            let model = subjects
                .iter()
                .filter(|s| subject_matches(&sub, s))
                .all(|s| subject_matches(&of, s));
            prop_assert_eq!(is_subset(&sub, &of), model, "{} in {}", sub, of);
        }
    }
}
