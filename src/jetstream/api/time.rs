//! Go's `time.Time` as JetStream JSON carries it.
//!
//! nats-server marshals times with Go's RFC 3339 "nano" layout in UTC:
//!
//! ```text
//! 2024-01-02T03:04:05.1234Z      fraction trimmed of trailing zeros
//! 2024-01-02T03:04:05Z           no fraction when it is zero
//! 0001-01-01T00:00:00Z           Go's zero time ("never", e.g. first_ts of an empty stream)
//! ```
//!
//! Go's zero time lies far before what `i64` unix nanoseconds can hold (1677..2262), so a
//! [`GoTime`] keeps whole seconds and nanoseconds apart, like Go does. Clients send times
//! (`opt_start_time`, `start_time`, `pause_until`) with any UTC offset; [`GoTime::parse_rfc3339`]
//! accepts what Go's `time.Time.UnmarshalJSON` accepts for RFC 3339, and like Go it keeps
//! the offset, so a config echoes `2024-01-02T03:04:05.123+02:00` back as it came (nats-server
//! 2.9.10 does). Times the server makes up itself are UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// Unix seconds of 0001-01-01T00:00:00Z, Go's zero `time.Time`.
const GO_ZERO_UNIX_SECONDS: i64 = -62_135_596_800;

/// A point in time with nanosecond precision and the UTC offset it was written with, as
/// Go's `time.Time`. Equality, like Go's `==`, also compares the offset; compare
/// [`GoTime::to_utc`] values for "same instant". Ordering is by instant first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoTime {
    unix_seconds: i64,
    /// Always < 1e9.
    subsec_nanos: u32,
    /// Seconds east of UTC the time was written in; |offset| < 24 h.
    offset_seconds: i32,
}

/// Why a time string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    #[error("parsing time {0:?}: not RFC 3339")]
    Syntax(String),
    #[error("parsing time {text:?}: {field} out of range")]
    OutOfRange { text: String, field: &'static str },
}

impl Default for GoTime {
    fn default() -> Self {
        Self::ZERO
    }
}

impl GoTime {
    /// Go's zero time, `0001-01-01T00:00:00Z`.
    pub const ZERO: GoTime = GoTime {
        unix_seconds: GO_ZERO_UNIX_SECONDS,
        subsec_nanos: 0,
        offset_seconds: 0,
    };

    /// The instant `unix_nanos` nanoseconds after 1970-01-01T00:00:00Z (may be negative).
    pub fn from_unix_nanos(unix_nanos: i64) -> Self {
        let unix_seconds = unix_nanos.div_euclid(NANOS_PER_SECOND);
        // rem_euclid of a positive modulus is in 0..1e9, so it fits u32.
        let subsec_nanos = unix_nanos.rem_euclid(NANOS_PER_SECOND) as u32;
        Self {
            unix_seconds,
            subsec_nanos,
            offset_seconds: 0,
        }
    }

    /// Like [`GoTime::from_unix_nanos`], but a stored timestamp of 0 means "no time" and
    /// becomes Go's zero time, as in nats-server's stream state for an empty stream.
    pub fn from_unix_nanos_or_zero(unix_nanos: i64) -> Self {
        if unix_nanos == 0 {
            Self::ZERO
        } else {
            Self::from_unix_nanos(unix_nanos)
        }
    }

    /// Seconds since the Unix epoch (floor) and the nanoseconds past that second.
    pub fn from_unix_parts(unix_seconds: i64, subsec_nanos: u32) -> Option<Self> {
        (subsec_nanos < NANOS_PER_SECOND as u32).then_some(Self {
            unix_seconds,
            subsec_nanos,
            offset_seconds: 0,
        })
    }

    /// The same instant written in UTC.
    pub fn to_utc(self) -> Self {
        Self {
            offset_seconds: 0,
            ..self
        }
    }

    /// Seconds east of UTC this time was written with (0 for UTC).
    pub fn offset_seconds(self) -> i32 {
        self.offset_seconds
    }

    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    pub fn subsec_nanos(self) -> u32 {
        self.subsec_nanos
    }

    /// Go's `IsZero`: the instant is 0001-01-01T00:00:00Z, whatever the offset.
    pub fn is_zero(self) -> bool {
        self.to_utc() == Self::ZERO
    }

    /// Unix nanoseconds, or `None` when the time lies outside what `i64` holds
    /// (before 1677-09-21 or after 2262-04-11; Go's zero time is such a case).
    pub fn unix_nanos(self) -> Option<i64> {
        self.unix_seconds
            .checked_mul(NANOS_PER_SECOND)?
            .checked_add(i64::from(self.subsec_nanos))
    }

    /// Unix nanoseconds clamped to the `i64` range: a very old start time means "from the
    /// first message", a very late one "after the last".
    pub fn unix_nanos_saturating(self) -> i64 {
        self.unix_nanos().unwrap_or(if self.unix_seconds < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
    }

    /// Parses RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`) as Go's JSON decoder does:
    /// `T` and `Z` upper case, one or more fraction digits (beyond nine are dropped), a
    /// `Z` or `+hh:mm`/`-hh:mm` offset, every field range-checked.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeParseError> {
        let syntax = || TimeParseError::Syntax(text.to_owned());
        let range = |field| TimeParseError::OutOfRange {
            text: text.to_owned(),
            field,
        };
        let bytes = text.as_bytes();
        // "2006-01-02T15:04:05" is 19 bytes, then fraction and zone.
        if bytes.len() < 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || bytes[10] != b'T'
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return Err(syntax());
        }
        let year = digits(&bytes[0..4]).ok_or_else(syntax)?;
        let month = digits(&bytes[5..7]).ok_or_else(syntax)?;
        let day = digits(&bytes[8..10]).ok_or_else(syntax)?;
        let hour = digits(&bytes[11..13]).ok_or_else(syntax)?;
        let minute = digits(&bytes[14..16]).ok_or_else(syntax)?;
        let second = digits(&bytes[17..19]).ok_or_else(syntax)?;
        if !(1..=12).contains(&month) {
            return Err(range("month"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(range("day"));
        }
        if hour > 23 {
            return Err(range("hour"));
        }
        if minute > 59 {
            return Err(range("minute"));
        }
        if second > 59 {
            return Err(range("second"));
        }

        let mut rest = &bytes[19..];
        let mut subsec_nanos: u32 = 0;
        // Go accepts ',' as well as '.' before the fraction.
        if let [b'.' | b',', tail @ ..] = rest {
            let count = tail.iter().take_while(|b| b.is_ascii_digit()).count();
            if count == 0 {
                return Err(syntax());
            }
            // Go keeps nine digits and drops the rest.
            for &digit in tail[..count].iter().take(9) {
                subsec_nanos = subsec_nanos * 10 + u32::from(digit - b'0');
            }
            for _ in count.min(9)..9 {
                subsec_nanos *= 10;
            }
            rest = &tail[count..];
        }

        let offset_seconds = match rest {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = digits(&[*h1, *h2]).ok_or_else(syntax)?;
                let minutes = digits(&[*m1, *m2]).ok_or_else(syntax)?;
                if hours > 23 {
                    return Err(range("time zone offset hour"));
                }
                if minutes > 59 {
                    return Err(range("time zone offset minute"));
                }
                let magnitude = hours * 3600 + minutes * 60;
                if *sign == b'-' {
                    -magnitude
                } else {
                    magnitude
                }
            }
            _ => return Err(syntax()),
        };

        let days = days_from_civil(year, month, day);
        let local_seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
        Ok(Self {
            unix_seconds: local_seconds - offset_seconds,
            subsec_nanos,
            // |offset| <= 23:59, so it fits.
            offset_seconds: offset_seconds as i32,
        })
    }

    /// Go's `time.RFC3339Nano`, e.g. `2024-01-02T03:04:05.1234Z` or `...05+02:00`.
    pub fn to_rfc3339_nanos(self) -> String {
        self.to_string()
    }
}

/// Parses a short run of ASCII digits (the four-digit year keeps times in Go's
/// marshalable range 0000..=9999); `None` on anything else.
fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0, |value, &digit| value * 10 + i64::from(digit - b'0')),
    )
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Counts in 400-year eras of
/// 146 097 days from a year that starts in March, so the leap day is the era's last.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let march_year = if month <= 2 { year - 1 } else { year };
    let era = march_year.div_euclid(400);
    let year_of_era = march_year.rem_euclid(400);
    // Months counted from March: Mar=0 .. Feb=11; (153*m+2)/5 is the days before month m.
    let march_month = (month + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
pub(crate) fn civil_from_days(days_since_epoch: i64) -> (i64, i64, i64) {
    let days = days_since_epoch + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    // Remove the leap days (every 4 years, not 100, yes 400) to find the year in the era.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for GoTime {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local_seconds = self.unix_seconds + i64::from(self.offset_seconds);
        let days = local_seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = local_seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            year,
            month,
            day,
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )?;
        if self.subsec_nanos != 0 {
            let mut fraction = self.subsec_nanos;
            let mut width = 9;
            while fraction % 10 == 0 {
                fraction /= 10;
                width -= 1;
            }
            write!(out, ".{fraction:0width$}")?;
        }
        if self.offset_seconds == 0 {
            return out.write_str("Z");
        }
        let sign = if self.offset_seconds < 0 { '-' } else { '+' };
        let magnitude = self.offset_seconds.unsigned_abs();
        write!(
            out,
            "{sign}{:02}:{:02}",
            magnitude / 3600,
            magnitude / 60 % 60
        )
    }
}

impl std::str::FromStr for GoTime {
    type Err = TimeParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(text)
    }
}

impl Serialize for GoTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Go leaves a time untouched on `null`, i.e. it stays the zero time.
        let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(deserializer)?;
        match text {
            None => Ok(Self::ZERO),
            Some(text) => Self::parse_rfc3339(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Go's `time.Duration.String()` for a count of nanoseconds, as nats-server puts it in
/// error texts: `0s`, `750ms`, `1.5µs`, `1m0s`, `2h0m30.5s`.
pub fn go_duration_string(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    const NANOS: u64 = NANOS_PER_SECOND as u64;
    if magnitude < NANOS {
        // Below a second Go picks the largest unit that keeps the integer part non-zero.
        let (unit, scale, digits) = match magnitude {
            0..=999 => ("ns", 1, 0),
            1_000..=999_999 => ("µs", 1_000, 3),
            _ => ("ms", 1_000_000, 6),
        };
        return format!(
            "{sign}{}{}{unit}",
            magnitude / scale,
            fraction_text(magnitude % scale, digits)
        );
    }
    let whole_seconds = magnitude / NANOS;
    let seconds = format!(
        "{}{}s",
        whole_seconds % 60,
        fraction_text(magnitude % NANOS, 9)
    );
    let minutes = whole_seconds / 60 % 60;
    let hours = whole_seconds / 3600;
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}")
    } else {
        format!("{sign}{seconds}")
    }
}

/// `.ddd` for a fraction with `digits` decimal places, trailing zeros dropped; empty for 0.
fn fraction_text(mut fraction: u64, mut digits: usize) -> String {
    if fraction == 0 {
        return String::new();
    }
    while fraction % 10 == 0 {
        fraction /= 10;
        digits -= 1;
    }
    format!(".{fraction:0digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_durations() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (100_000_000, "100ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (120_000_000_000, "2m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (7_230_500_000_000, "2h0m30.5s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ];
        for &(nanos, text) in cases {
            assert_eq!(go_duration_string(nanos), text);
        }
    }

    fn time(text: &str) -> GoTime {
        GoTime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn formats_like_go_rfc3339_nano() {
        assert_eq!(
            GoTime::from_unix_nanos(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(GoTime::ZERO.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(GoTime::default(), GoTime::ZERO);
        assert_eq!(
            GoTime::from_unix_nanos(1_704_164_645_123_400_000).to_string(),
            "2024-01-02T03:04:05.1234Z"
        );
        assert_eq!(
            GoTime::from_unix_nanos(1_704_164_645_000_000_001).to_string(),
            "2024-01-02T03:04:05.000000001Z"
        );
        assert_eq!(
            GoTime::from_unix_nanos(-1).to_string(),
            "1969-12-31T23:59:59.999999999Z"
        );
        // Captured from nats-server 2.9.10 (stream created_ts).
        assert_eq!(
            time("2026-11-22T00:39:07.529511636Z").to_string(),
            "2026-11-22T00:39:07.529511636Z"
        );
        assert_eq!(
            GoTime::from_unix_nanos(i64::MAX).to_string(),
            "2262-04-11T23:47:16.854775807Z"
        );
        assert_eq!(
            GoTime::from_unix_nanos(i64::MIN).to_string(),
            "1677-09-21T00:12:43.145224192Z"
        );
    }

    #[test]
    fn zero_time_and_store_zero() {
        assert!(GoTime::from_unix_nanos_or_zero(0).is_zero());
        assert!(!GoTime::from_unix_nanos(0).is_zero());
        assert_eq!(GoTime::ZERO.unix_nanos(), None);
        assert_eq!(GoTime::ZERO.unix_nanos_saturating(), i64::MIN);
        assert_eq!(time("0001-01-01T00:00:00Z"), GoTime::ZERO);
        assert_eq!(
            time("9999-12-31T23:59:59Z").unix_nanos_saturating(),
            i64::MAX
        );
    }

    #[test]
    fn parses_offsets_and_fractions() {
        // opt_start_time as sent to nats-server 2.9.10 (which echoed it back unchanged).
        let with_offset = time("2024-01-02T03:04:05.123+02:00");
        assert_eq!(with_offset.to_string(), "2024-01-02T03:04:05.123+02:00");
        assert_eq!(with_offset.to_utc().to_string(), "2024-01-02T01:04:05.123Z");
        assert_eq!(with_offset.offset_seconds(), 7200);
        assert_eq!(
            time("2024-01-01T23:30:00-01:30").to_utc().to_string(),
            "2024-01-02T01:00:00Z"
        );
        assert_eq!(
            time("2024-01-01T23:30:00-01:30").to_string(),
            "2024-01-01T23:30:00-01:30"
        );
        // Go prints a zero offset as Z, however it was written.
        assert_eq!(
            time("2024-01-01T23:30:00+00:00").to_string(),
            "2024-01-01T23:30:00Z"
        );
        assert!(time("0001-01-01T02:00:00+02:00").is_zero());
        assert!(with_offset > time("2024-01-02T01:04:05.122Z"));
        assert_eq!(
            time("2024-01-02T03:04:05,5Z").to_string(),
            "2024-01-02T03:04:05.5Z"
        );
        assert_eq!(
            time("2024-01-02T03:04:05.1234567891234Z").subsec_nanos(),
            123_456_789
        );
        assert_eq!(
            time("2000-02-29T00:00:00Z").to_string(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in [
            "",
            "2024-01-02",
            "2024-01-02 03:04:05Z",
            "2024-01-02t03:04:05Z",
            "2024-01-02T03:04:05z",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+0200",
            "2024-01-02T03:04:05+02",
            "24-01-02T03:04:05Z",
            "2024-1-02T03:04:05Z",
            "2024-01-02T03:04:05ZZ",
            "+024-01-02T03:04:05Z",
        ] {
            assert!(
                matches!(GoTime::parse_rfc3339(text), Err(TimeParseError::Syntax(_))),
                "{text:?}"
            );
        }
        for text in [
            "2024-13-02T03:04:05Z",
            "2024-00-02T03:04:05Z",
            "2023-02-29T03:04:05Z",
            "2024-04-31T03:04:05Z",
            "2024-01-02T24:00:00Z",
            "2024-01-02T23:60:00Z",
            "2024-01-02T23:59:60Z",
            "2024-01-02T23:59:59+24:00",
            "2024-01-02T23:59:59+01:60",
        ] {
            assert!(
                matches!(
                    GoTime::parse_rfc3339(text),
                    Err(TimeParseError::OutOfRange { .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&GoTime::from_unix_nanos(1_500_000_000)).unwrap();
        assert_eq!(json, r#""1970-01-01T00:00:01.5Z""#);
        let back: GoTime = serde_json::from_str(&json).unwrap();
        assert_eq!(back, GoTime::from_unix_nanos(1_500_000_000));
        let null: GoTime = serde_json::from_str("null").unwrap();
        assert!(null.is_zero());
        assert!(serde_json::from_str::<GoTime>(r#""yesterday""#).is_err());
        assert!(serde_json::from_str::<GoTime>("12").is_err());
    }

    /// A slow model: days since the epoch by walking whole years and months.
    fn model_days(year: i64, month: i64, day: i64) -> i64 {
        let mut days = 0;
        if year >= 1970 {
            for y in 1970..year {
                days += if is_leap_year(y) { 366 } else { 365 };
            }
        } else {
            for y in year..1970 {
                days -= if is_leap_year(y) { 366 } else { 365 };
            }
        }
        for m in 1..month {
            days += days_in_month(year, m);
        }
        days + day - 1
    }

    proptest! {
        #[test]
        fn unix_nanos_round_trip_through_text(unix_nanos in any::<i64>()) {
            let time = GoTime::from_unix_nanos(unix_nanos);
            prop_assert_eq!(time.unix_nanos(), Some(unix_nanos));
            let text = time.to_string();
            prop_assert_eq!(GoTime::parse_rfc3339(&text).unwrap(), time);
        }

        #[test]
        fn civil_round_trip(days in -800_000i64..3_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!(day >= 1 && day <= days_in_month(year, month));
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }

        #[test]
        fn civil_matches_slow_model(year in 1i64..=9999, month in 1i64..=12, day in 1i64..=28) {
            prop_assert_eq!(days_from_civil(year, month, day), model_days(year, month, day));
        }

        #[test]
        fn offsets_shift_the_instant(
            unix_seconds in 0i64..4_000_000_000,
            offset_minutes in -1439i64..=1439,
        ) {
            let utc = GoTime::from_unix_parts(unix_seconds, 0).unwrap();
            let local = GoTime::from_unix_parts(unix_seconds + offset_minutes * 60, 0).unwrap();
            let local_text = local.to_string();
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let magnitude = offset_minutes.abs();
            let text = format!(
                "{}{}{:02}:{:02}",
                &local_text[..local_text.len() - 1],
                sign,
                magnitude / 60,
                magnitude % 60
            );
            let parsed = GoTime::parse_rfc3339(&text).unwrap();
            prop_assert_eq!(parsed.to_utc(), utc);
            if offset_minutes != 0 {
                prop_assert_eq!(parsed.to_string(), text);
            }
        }
    }
}
