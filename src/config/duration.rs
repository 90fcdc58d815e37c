//! Go's `time.ParseDuration`, which nats-server uses for every duration
//! option, so `"1h30m"`, `"1.5s"`, `"500ms"` and `"-2m"` mean the same here.

/// Parses a Go duration into nanoseconds. Errors read like Go's, since
/// nats-server users search for them: `time: unknown unit "x" in duration "1x"`. One
/// implementation serves the config file and JetStream's `-NAK <duration>` acks.
pub(super) fn parse_go_duration(text: &str) -> Result<i64, String> {
    crate::jetstream::api::duration::parse_go_duration(text).map_err(|e| e.to_string())
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
