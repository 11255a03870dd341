//! Durations as written in the config (`500ms`, `2s`, `1m30s`) and retry backoff delays.

use super::Backoff;
use std::time::Duration;

/// Parses `500ms`, `2s`, `1m`, `1h`, or a combination such as `1m30s`; the error says why
/// the text is not a duration.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty text is not a duration".into());
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "'{text}' is not a duration: expected a whole number at '{rest}'"
            ));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.chars().take_while(char::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let unit_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if after.starts_with('.') => {
                return Err(format!(
                    "'{text}' is not a duration: use whole numbers, such as '1500ms' for 1.5s"
                ));
            }
            "" => {
                return Err(format!(
                    "'{text}' is not a duration: '{number}' needs a unit (ms, s, m or h)"
                ));
            }
            other => {
                return Err(format!(
                    "'{text}' is not a duration: unknown unit '{other}' (use ms, s, m or h)"
                ));
            }
        };
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_ms))
            .and_then(|ms| total_ms.checked_add(ms));
        total_ms = part.ok_or_else(|| format!("'{text}' is far too long"))?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Writes a duration the way the config does: `1m30s`, `500ms`, `15m`.
pub(crate) fn format_duration(duration: Duration) -> String {
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{duration:?}");
    }
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            text.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    text
}

/// Serializes a duration as config text, for the plan's JSON form.
pub(crate) fn serialize<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

impl Backoff {
    /// The delay before retry number `retry`: retry 1 waits `initial`, each later retry
    /// `factor` times longer, never more than `max`. Retry 0 (the first attempt) waits
    /// nothing.
    pub fn delay(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(retry - 1).unwrap_or(i32::MAX).min(10_000);
        let seconds = self.initial.as_secs_f64() * self.factor.powi(exponent);
        if !seconds.is_finite() || seconds >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::try_from_secs_f64(seconds).unwrap_or(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            factor: 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_combinations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(" 1h "), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_refused_with_reasons() {
        let cases = [
            ("", "empty"),
            ("30", "'30' needs a unit"),
            ("1.5s", "whole numbers"),
            ("10x", "unknown unit 'x'"),
            ("5 min", "needs a unit"),
            ("s", "expected a whole number"),
            ("-1s", "expected a whole number"),
            ("99999999999999999999h", "far too long"),
        ];
        for (text, reason) in cases {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn durations_format_as_written() {
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_micros(1)), "1µs");
    }

    #[test]
    fn backoff_doubles_from_initial_and_caps_at_max() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(0), Duration::ZERO);
        assert_eq!(backoff.delay(1), Duration::from_secs(1));
        assert_eq!(backoff.delay(2), Duration::from_secs(2));
        assert_eq!(backoff.delay(3), Duration::from_secs(4));
        assert_eq!(backoff.delay(6), Duration::from_secs(32));
        assert_eq!(backoff.delay(7), Duration::from_secs(60));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn backoff_with_factor_one_stays_at_initial() {
        let backoff = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            factor: 1.0,
        };
        assert_eq!(backoff.delay(1), Duration::from_millis(500));
        assert_eq!(backoff.delay(50), Duration::from_millis(500));
    }

    #[test]
    fn backoff_with_a_nonsense_factor_waits_max() {
        let backoff = Backoff {
            factor: f64::NAN,
            ..Backoff::default()
        };
        assert_eq!(backoff.delay(2), Duration::from_secs(60));
    }
}
