//! Go's `time.ParseDuration`, for the `-NAK <duration>` ack form (`-NAK 5s`,
//! `-NAK 1m30s`, `-NAK 250ms`). [`super::time::go_duration_string`] is the inverse.
//!
//! The grammar is Go's: an optional sign, then one or more `<number><unit>` terms, where a
//! number is `[0-9]*(\.[0-9]*)?` with at least one digit and the unit is one of `ns`, `us`,
//! `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`, `h`. A lone `0` needs no unit. Totals
//! beyond `i64` nanoseconds are refused, except exactly `-2^63`.

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// 2^63: the magnitude of the most negative duration, one past the most positive.
const MAGNITUDE_MAX: u64 = 1 << 63;

/// Why a duration string was refused; the texts are Go's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        // "µs" with U+00B5 MICRO SIGN or U+03BC GREEK SMALL LETTER MU, as UTF-8.
        b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => NANOS_PER_MICRO,
        b"ms" => NANOS_PER_MILLI,
        b"s" => NANOS_PER_SECOND,
        b"m" => 60 * NANOS_PER_SECOND,
        b"h" => 3_600 * NANOS_PER_SECOND,
        _ => return None,
    })
}

/// Leading `[0-9]*` as an integer; `None` when it exceeds 2^63 (Go's `leadingInt`).
fn leading_int(text: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    let mut index = 0;
    while index < text.len() && text[index].is_ascii_digit() {
        if value > MAGNITUDE_MAX / 10 {
            return None;
        }
        value = value * 10 + u64::from(text[index] - b'0');
        if value > MAGNITUDE_MAX {
            return None;
        }
        index += 1;
    }
    Some((value, &text[index..]))
}

/// Leading `[0-9]*` after a `.`, as `value / scale`; stops gaining precision instead of
/// overflowing (Go's `leadingFraction`).
fn leading_fraction(text: &[u8]) -> (u64, f64, &[u8]) {
    let mut value: u64 = 0;
    let mut scale = 1.0_f64;
    let mut overflowed = false;
    let mut index = 0;
    while index < text.len() && text[index].is_ascii_digit() {
        if !overflowed {
            if value > (MAGNITUDE_MAX - 1) / 10 {
                overflowed = true;
            } else {
                let next = value * 10 + u64::from(text[index] - b'0');
                if next > MAGNITUDE_MAX {
                    overflowed = true;
                } else {
                    value = next;
                    scale *= 10.0;
                }
            }
        }
        index += 1;
    }
    (value, scale, &text[index..])
}

/// Parses Go duration text into nanoseconds, exactly as Go's `time.ParseDuration`.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationParseError> {
    let invalid = || DurationParseError::Invalid(text.to_owned());
    let mut rest = text.as_bytes();
    let mut negative = false;
    if let [sign @ (b'-' | b'+'), tail @ ..] = rest {
        negative = *sign == b'-';
        rest = tail;
    }
    if rest == b"0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !(rest[0] == b'.' || rest[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let before_int = rest.len();
        let (mut value, after_int) = leading_int(rest).ok_or_else(invalid)?;
        let has_int = after_int.len() != before_int;
        rest = after_int;

        let (mut fraction, mut scale, mut has_fraction) = (0, 1.0, false);
        if let [b'.', tail @ ..] = rest {
            let (digits, digits_scale, after) = leading_fraction(tail);
            has_fraction = after.len() != tail.len();
            (fraction, scale) = (digits, digits_scale);
            rest = after;
        }
        if !has_int && !has_fraction {
            return Err(invalid());
        }

        let unit_len = rest
            .iter()
            .position(|&byte| byte == b'.' || byte.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationParseError::MissingUnit(text.to_owned()));
        }
        let (unit_text, after_unit) = rest.split_at(unit_len);
        rest = after_unit;
        let unit = unit_nanos(unit_text).ok_or_else(|| DurationParseError::UnknownUnit {
            unit: String::from_utf8_lossy(unit_text).into_owned(),
            text: text.to_owned(),
        })?;
        if value > MAGNITUDE_MAX / unit {
            return Err(invalid());
        }
        value *= unit;
        if fraction > 0 {
            // Go uses float64 here too: nanosecond exact for fractions of an hour.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > MAGNITUDE_MAX {
                return Err(invalid());
            }
        }
        total += value;
        if total > MAGNITUDE_MAX {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 2^63, so the negation fits (2^63 becomes i64::MIN).
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::super::time::go_duration_string;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_examples() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0s", 0),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.0s", 1_000_000_000),
            ("1.00s", 1_000_000_000),
            ("1.004s", 1_004_000_000),
            ("1.0040s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 360_000_000_000),
            ("0.830103483285477580700h", 2_988_372_539_827),
        ];
        for &(text, nanos) in cases {
            assert_eq!(parse_go_duration(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn go_failures() {
        for text in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{FFFD}",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            "1.5",
            "5s ",
            " 5s",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?}");
        }
        assert_eq!(
            parse_go_duration("5").unwrap_err().to_string(),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            parse_go_duration("5d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"5d\""
        );
        assert_eq!(
            parse_go_duration("x").unwrap_err().to_string(),
            "time: invalid duration \"x\""
        );
    }

    proptest! {
        /// Go's String() output parses back to the same duration.
        #[test]
        fn formatter_round_trips(nanos in any::<i64>()) {
            let text = go_duration_string(nanos);
            prop_assert_eq!(parse_go_duration(&text), Ok(nanos), "{}", text);
        }

        #[test]
        fn never_panics(text in ".{0,24}") {
            let _ = parse_go_duration(&text);
        }
    }
}
