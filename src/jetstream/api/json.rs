//! JSON encoding and decoding details that make tern's bytes look like nats-server's.
//!
//! Go's `encoding/json` escapes `<`, `>` and `&` (as `\u003c`, `\u003e`, `\u0026`) and the
//! line/paragraph separators U+2028/U+2029 inside strings, so a stream capturing `orders.>`
//! comes back as `"orders.\u003e"`. serde_json does not; [`to_vec`] adds those escapes so
//! responses are byte-identical where field order also matches.
//!
//! On input Go treats `null` as "leave the zero value", which serde refuses for
//! non-`Option` fields; [`null_as_default`] restores Go's behaviour.

use serde::{Deserialize, Deserializer, Serialize};
use std::io;

/// A serde_json formatter that escapes strings the way Go's encoder does.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, character) in fragment.char_indices() {
            let escape = match character {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escape.as_bytes())?;
            start = index + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Encodes `value` as compact JSON with Go's string escaping.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Invariant: every API type serializes infallibly (string map keys only, no custom
    // Serialize impl that errors) and writing into a Vec cannot fail.
    value
        .serialize(&mut serializer)
        .expect("JetStream API types always serialize");
    out
}

/// Deserializes a field that Go would leave at its zero value when the JSON says `null`.
pub(super) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `skip_serializing_if` helper for Go's `omitempty` on numbers and bools.
pub(super) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let bytes = to_vec(&serde_json::json!({"d": "<a&b> \u{2028}\u{2029}", "s": "orders.>"}));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"d":"\u003ca\u0026b\u003e \u2028\u2029","s":"orders.\u003e"}"#
        );
        // serde_json's own escapes are left alone.
        assert_eq!(
            String::from_utf8(to_vec("q\"\\\n\t\u{1}é")).unwrap(),
            r#""q\"\\\n\t\u0001é""#
        );
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Nullable {
        #[serde(default, deserialize_with = "null_as_default")]
        list: Vec<String>,
        #[serde(default, deserialize_with = "null_as_default")]
        count: i64,
    }

    #[test]
    fn null_is_the_zero_value() {
        let parsed: Nullable = serde_json::from_str(r#"{"list":null,"count":null}"#).unwrap();
        assert_eq!(parsed, Nullable::default());
        let parsed: Nullable = serde_json::from_str(r#"{"list":["a"],"count":3}"#).unwrap();
        assert_eq!(parsed.list, ["a"]);
        assert_eq!(parsed.count, 3);
        assert!(is_default(&0u64) && !is_default(&true));
    }
}
