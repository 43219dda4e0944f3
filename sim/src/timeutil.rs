//! Time helpers: epoch milliseconds <-> the RFC 3339 strings Falcon uses, and relative times.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch for a `SystemTime` (0 before the epoch).
pub(crate) fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Wall-clock now in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}

fn dt(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (hosts, incidents, groups).
pub(crate) fn rfc3339_s(ms: i64) -> String {
    dt(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (alerts, IOCs, policies).
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    dt(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (alert created/updated timestamps, RTR created_at).
pub(crate) fn rfc3339_ns(ms: i64, extra_ns: u32) -> String {
    let nanos = (ms.rem_euclid(1000) as u32) * 1_000_000 + extra_ns % 1_000_000;
    format!("{}.{nanos:09}Z", dt(ms).format("%Y-%m-%dT%H:%M:%S"))
}

/// Parses an RFC 3339 timestamp or a plain date (`2025-01-01`) into epoch ms.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    None
}

/// Parses `now`, `now-24h`, `now-7d`, `now+1h` (units s, m, h, d, w) relative to `now`.
pub(crate) fn parse_relative(s: &str, now: i64) -> Option<i64> {
    let rest = s.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(now);
    }
    let (sign, rest) = match rest.as_bytes().first()? {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => return None,
    };
    let ms = duration_ms(rest)?;
    Some(now + sign * ms)
}

/// Parses `24h`, `7d`, `15m`, `30s`, `2w` (also LogScale's `24hours`, `1day`, `7days`) to ms.
pub(crate) fn duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let unit = s[digits.len()..].trim().to_ascii_lowercase();
    let mult = match unit.as_str() {
        "ms" | "millis" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        "y" | "year" | "years" => 365 * 86_400_000,
        _ => return None,
    };
    Some(n * mult)
}

/// Parses a timestamp value as FQL sees it: RFC 3339, a date, or a relative `now-…` string.
pub(crate) fn parse_fql_time(s: &str, now: i64) -> Option<i64> {
    parse_relative(s, now).or_else(|| parse_timestamp(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let ms = 1_749_780_114_602;
        assert_eq!(rfc3339_ms(ms), "2025-06-13T02:01:54.602Z");
        assert_eq!(rfc3339_s(ms), "2025-06-13T02:01:54Z");
        assert_eq!(parse_timestamp("2025-06-13T02:01:54.602Z"), Some(ms));
        assert!(rfc3339_ns(ms, 123).starts_with("2025-06-13T02:01:54.602000123"));
        assert_eq!(parse_timestamp("2025-06-13"), Some(1_749_772_800_000));
    }

    #[test]
    fn relative_times() {
        assert_eq!(
            parse_relative("now-24h", 100_000_000),
            Some(100_000_000 - 86_400_000)
        );
        assert_eq!(parse_relative("now", 5), Some(5));
        assert_eq!(duration_ms("24hours"), Some(86_400_000));
        assert_eq!(duration_ms("7d"), Some(7 * 86_400_000));
        assert_eq!(parse_relative("now-xyz", 5), None);
    }
}
