//! The subject transforms of a mirror or source (`subject_transforms: [{src, dest}]`):
//! the wildcard-to-destination subset KV sourcing uses (ADR-57 maps `$KV.SRC.>` to
//! `$KV.DST.>`): `*` tokens captured as `$N` or `{{wildcard(N)}}`, a trailing `>` carried
//! over. A destination using other mapping functions (partition, split...) is not applied:
//! the subject is copied unchanged and the stream's log says so once.

use crate::routing::subject_matches_filter;

/// Maps `subject` by the first transform whose source matches it. `Ok(None)`: no
/// transform matches (so the subject is not taken); `Err(())`: a destination this
/// implementation can not apply.
pub fn apply(transforms: &[(String, String)], subject: &str) -> Result<Option<String>, ()> {
    for (source, destination) in transforms {
        let source = if source.is_empty() { ">" } else { source };
        if !subject_matches_filter(source.as_bytes(), subject.as_bytes()) {
            continue;
        }
        if destination.is_empty() {
            return Ok(Some(subject.to_string()));
        }
        return map_one(source, destination, subject).map(Some);
    }
    Ok(None)
}

fn map_one(source: &str, destination: &str, subject: &str) -> Result<String, ()> {
    let subject_tokens: Vec<&str> = subject.split('.').collect();
    let mut stars: Vec<&str> = Vec::new();
    let mut tail: Option<String> = None;
    for (i, token) in source.split('.').enumerate() {
        match token {
            "*" => stars.push(subject_tokens.get(i).copied().ok_or(())?),
            ">" => tail = Some(subject_tokens.get(i..).ok_or(())?.join(".")),
            _ => {}
        }
    }
    let mut out: Vec<String> = Vec::new();
    for token in destination.split('.') {
        if token == ">" {
            out.push(tail.clone().ok_or(())?);
        } else if let Some(index) = wildcard_index(token)? {
            out.push(
                stars
                    .get(index.checked_sub(1).ok_or(())?)
                    .ok_or(())?
                    .to_string(),
            );
        } else {
            out.push(token.to_string());
        }
    }
    Ok(out.join("."))
}

/// `$N` or `{{wildcard(N)}}` → Some(N); a plain token → None; another function → Err.
fn wildcard_index(token: &str) -> Result<Option<usize>, ()> {
    if let Some(number) = token.strip_prefix('$') {
        // `$1` is a wildcard reference; `$KV` is a plain token.
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            return number.parse().map(Some).map_err(|_| ());
        }
        return Ok(None);
    }
    let Some(call) = token.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) else {
        return Ok(None);
    };
    let call: String = call.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = call.to_ascii_lowercase();
    let argument = lower
        .strip_prefix("wildcard(")
        .and_then(|t| t.strip_suffix(')'))
        .ok_or(())?;
    argument.parse().map(Some).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(s, d)| (s.to_string(), d.to_string()))
            .collect()
    }

    #[test]
    fn kv_sourcing_and_wildcards() {
        let kv = t(&[("$KV.SRC.>", "$KV.DST.>")]);
        assert_eq!(apply(&kv, "$KV.SRC.a.b"), Ok(Some("$KV.DST.a.b".into())));
        assert_eq!(apply(&kv, "$KV.OTHER.a"), Ok(None));
        let swap = t(&[("orders.*.*", "by.$2.{{ wildcard(1) }}")]);
        assert_eq!(apply(&swap, "orders.eu.7"), Ok(Some("by.7.eu".into())));
        let passthrough = t(&[("x.>", "")]);
        assert_eq!(apply(&passthrough, "x.y"), Ok(Some("x.y".into())));
        let unsupported = t(&[("p.*", "q.{{partition(3,1)}}")]);
        assert_eq!(apply(&unsupported, "p.a"), Err(()));
        let first_wins = t(&[("a.*", "one.$1"), ("a.>", "two.>")]);
        assert_eq!(apply(&first_wins, "a.b"), Ok(Some("one.b".into())));
    }
}
