//! Go's `time.ParseDuration`, which nats-server uses for every duration
//! option, so `"1h30m"`, `"1.5s"`, `"500ms"` and `"-2m"` mean the same here.

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration into nanoseconds. Errors read like Go's, since
/// nats-server users search for them: `time: unknown unit "x" in duration "1x"`.
pub(super) fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let integer_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (integer, after) = rest.split_at(integer_len);
        rest = after;
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            let (digits, after) = after_dot.split_at(fraction_len);
            fraction = digits;
            rest = after;
            if integer.is_empty() && fraction.is_empty() {
                return Err(invalid());
            }
        } else if integer.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(at, _)| at);
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        let Some(&(_, nanos_per_unit)) = NANOS_PER_UNIT.iter().find(|(name, _)| *name == unit)
        else {
            return Err(format!("time: unknown unit {unit:?} in duration {text:?}"));
        };
        let whole: u128 = if integer.is_empty() {
            0
        } else {
            integer.parse().map_err(|_| invalid())?
        };
        let mut nanos = whole
            .checked_mul(u128::from(nanos_per_unit))
            .ok_or_else(invalid)?;
        // Go keeps fraction digits while they can still matter (at most 19
        // for nanosecond precision) and truncates the result.
        let mut scale: u128 = 1;
        let mut numerator: u128 = 0;
        for digit in fraction.bytes().take(19) {
            numerator = numerator * 10 + u128::from(digit - b'0');
            scale *= 10;
        }
        nanos += numerator * u128::from(nanos_per_unit) / scale;
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return Err(invalid());
        }
    }
    let signed = i128::try_from(total).map_err(|_| invalid())?;
    let signed = if negative { -signed } else { signed };
    i64::try_from(signed).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;

    #[test]
    fn accepts_what_go_accepts() {
        let second = 1_000_000_000;
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("10s"), Ok(10 * second));
        assert_eq!(parse_go_duration("2m"), Ok(120 * second));
        assert_eq!(parse_go_duration("1h30m"), Ok(5400 * second));
        assert_eq!(parse_go_duration("500ms"), Ok(second / 2));
        assert_eq!(parse_go_duration("1.5s"), Ok(3 * second / 2));
        assert_eq!(parse_go_duration(".5s"), Ok(second / 2));
        assert_eq!(parse_go_duration("1.s"), Ok(second));
        assert_eq!(parse_go_duration("-2m"), Ok(-120 * second));
        assert_eq!(parse_go_duration("+3us"), Ok(3_000));
        assert_eq!(parse_go_duration("7\u{b5}s"), Ok(7_000));
        assert_eq!(parse_go_duration("1h2m3s4ms5us6ns"), Ok(3_723_004_005_006));
        assert_eq!(parse_go_duration("-9223372036854775808ns"), Ok(i64::MIN));
    }

    #[test]
    fn rejects_with_go_messages() {
        assert_eq!(
            parse_go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".to_string())
        );
        assert_eq!(
            parse_go_duration("10"),
            Err("time: missing unit in duration \"10\"".to_string())
        );
        for bad in [
            "",
            "-",
            "s",
            ".s",
            "1s.",
            "9223372036854775808ns",
            "3000000h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
