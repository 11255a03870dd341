//! When a schedule fires: a five-field cron pattern read in an IANA time zone, and the
//! rule that a stretch of missed ticks (the orchestrator was down) fires once.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Why a schedule's timing is not usable; the message is shown after the setting's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The pattern does not parse.
    #[error(
        "{pattern:?} is not a cron pattern of five fields (minute hour day month weekday): {reason}"
    )]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// The parser's reason.
        reason: String,
    },
    /// The pattern parses but matches no time (e.g. February 30th).
    #[error("{pattern:?} matches no time, so it would never fire")]
    Never {
        /// The pattern as written.
        pattern: String,
    },
    /// The zone is not in the tz database.
    #[error("{zone:?} is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)")]
    Zone {
        /// The name as written.
        zone: String,
    },
}

/// A cron pattern and the zone its wall-clock times are read in.
#[derive(Debug, Clone)]
pub struct Timing {
    cron: Cron,
    zone: TimeZone,
    pattern: String,
}

/// The zone named `name` in the bundled tz database (`UTC` when `name` is `None`).
pub fn parse_zone(name: Option<&str>) -> Result<TimeZone, TimingError> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| TimingError::Zone {
            zone: name.chars().take(100).collect(),
        }),
    }
}

impl Timing {
    /// Parse `pattern` (five fields, or an alias such as `@daily`) to be read in `zone`,
    /// refusing one that never matches.
    pub fn parse(pattern: &str, zone: TimeZone) -> Result<Timing, TimingError> {
        let shown: String = pattern.chars().take(100).collect();
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| TimingError::Pattern {
                pattern: shown.clone(),
                reason: e.to_string().trim_end_matches('.').to_string(),
            })?;
        let timing = Timing {
            cron,
            zone,
            pattern: pattern.to_string(),
        };
        // A leap day is at most eight years off; croner's search gives up on patterns
        // that match no date at all.
        if timing.next_after(0).is_none() {
            return Err(TimingError::Never { pattern: shown });
        }
        Ok(timing)
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The zone's IANA name (`UTC` by default).
    pub fn zone_name(&self) -> &str {
        self.zone.iana_name().unwrap_or("UTC")
    }

    fn zoned(&self, ms: u64) -> Option<jiff::Zoned> {
        let ms = i64::try_from(ms).ok()?;
        Some(
            Timestamp::from_millisecond(ms)
                .ok()?
                .to_zoned(self.zone.clone()),
        )
    }

    fn millis(zoned: &jiff::Zoned) -> Option<u64> {
        u64::try_from(zoned.timestamp().as_millisecond()).ok()
    }

    /// The first tick strictly after `ms` (Unix milliseconds).
    pub fn next_after(&self, ms: u64) -> Option<u64> {
        let next = self
            .cron
            .find_next_occurrence(&self.zoned(ms)?, false)
            .ok()?;
        Self::millis(&next)
    }

    /// The latest tick at or before `ms`.
    fn latest_at_or_before(&self, ms: u64) -> Option<u64> {
        let previous = self
            .cron
            .find_previous_occurrence(&self.zoned(ms)?, true)
            .ok()?;
        Self::millis(&previous)
    }

    /// The tick to fire at `now` when the last one fired (or the schedule was first
    /// seen) at `last`: none when no tick passed since, else the latest one that did,
    /// so ticks missed while the orchestrator was down fire once, not once each.
    pub fn due(&self, last: u64, now: u64) -> Option<u64> {
        let next = self.next_after(last)?;
        if next > now {
            return None;
        }
        // The backward search may place a tick in a skipped hour differently from the
        // forward one; the forward tick is the floor, so a slot never repeats.
        Some(self.latest_at_or_before(now).map_or(next, |t| t.max(next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn paris() -> TimeZone {
        parse_zone(Some("Europe/Paris")).unwrap()
    }

    /// Unix milliseconds of a wall-clock time in `zone` (the earlier of a repeated one).
    fn at(zone: &TimeZone, y: i16, m: i8, d: i8, hh: i8, mm: i8) -> u64 {
        let zoned = zone
            .to_ambiguous_zoned(date(y, m, d).at(hh, mm, 0, 0))
            .compatible()
            .unwrap();
        zoned.timestamp().as_millisecond() as u64
    }

    const HOUR: u64 = 3_600_000;

    #[test]
    fn a_nightly_tick_is_read_in_the_tenants_zone() {
        let zone = paris();
        let nightly = Timing::parse("0 3 * * *", zone.clone()).unwrap();
        let evening = at(&zone, 2025, 1, 14, 20, 0);
        let next = nightly.next_after(evening).unwrap();
        assert_eq!(next, at(&zone, 2025, 1, 15, 3, 0));
        // 03:00 in Paris in winter is 02:00 UTC.
        let utc = at(&TimeZone::UTC, 2025, 1, 15, 2, 0);
        assert_eq!(next, utc);
        assert_eq!(nightly.zone_name(), "Europe/Paris");
    }

    #[test]
    fn a_nightly_tick_keeps_its_wall_clock_time_across_a_dst_change() {
        let zone = paris();
        let nightly = Timing::parse("0 3 * * *", zone.clone()).unwrap();
        // Clocks go forward on 2025-03-30 at 02:00 (CET → CEST): the night is an hour
        // shorter, and 03:00 is 01:00 UTC afterwards instead of 02:00.
        let before = nightly.next_after(at(&zone, 2025, 3, 29, 12, 0)).unwrap();
        let after = nightly.next_after(before).unwrap();
        assert_eq!(before, at(&TimeZone::UTC, 2025, 3, 30, 1, 0));
        assert_eq!(after, at(&TimeZone::UTC, 2025, 3, 31, 1, 0));
        let before_change = nightly.next_after(at(&zone, 2025, 3, 28, 12, 0)).unwrap();
        assert_eq!(before - before_change, 23 * HOUR, "the short night");
        // And back on 2025-10-26 at 03:00 (CEST → CET): a 25-hour day.
        let autumn = nightly.next_after(at(&zone, 2025, 10, 25, 12, 0)).unwrap();
        let next = nightly.next_after(autumn).unwrap();
        assert_eq!(autumn, at(&TimeZone::UTC, 2025, 10, 26, 2, 0));
        assert_eq!(
            next - autumn,
            24 * HOUR,
            "03:00 comes after the repeated hour"
        );
    }

    #[test]
    fn a_tick_in_the_skipped_hour_fires_once_just_after_it() {
        let zone = paris();
        let half_two = Timing::parse("30 2 * * *", zone.clone()).unwrap();
        let eve = at(&zone, 2025, 3, 29, 12, 0);
        let next = half_two.next_after(eve).unwrap();
        // 02:30 does not exist on 2025-03-30; it fires at 03:00 CEST, once.
        assert_eq!(next, at(&TimeZone::UTC, 2025, 3, 30, 1, 0));
        let following = half_two.next_after(next).unwrap();
        assert_eq!(following, at(&zone, 2025, 3, 31, 2, 30));
        // A tick in the repeated hour in autumn fires once too.
        let autumn = half_two.next_after(at(&zone, 2025, 10, 25, 12, 0)).unwrap();
        let after = half_two.next_after(autumn).unwrap();
        assert_eq!(after, at(&zone, 2025, 10, 27, 2, 30));
    }

    #[test]
    fn ticks_missed_during_downtime_fire_once_at_the_latest() {
        let zone = paris();
        let nightly = Timing::parse("0 3 * * *", zone.clone()).unwrap();
        let fired = at(&zone, 2025, 3, 27, 3, 0);
        // Down from the 27th's run to the 31st at 09:00: four ticks missed, across the
        // DST change; one fire, for the 31st's 03:00.
        let back = at(&zone, 2025, 3, 31, 9, 0);
        let slot = nightly.due(fired, back).unwrap();
        assert_eq!(slot, at(&zone, 2025, 3, 31, 3, 0));
        // Having fired that slot, nothing more is due until the next night.
        assert_eq!(nightly.due(slot, back), None);
        assert_eq!(nightly.due(slot, at(&zone, 2025, 4, 1, 2, 59)), None);
        assert_eq!(
            nightly.due(slot, at(&zone, 2025, 4, 1, 3, 0)),
            Some(at(&zone, 2025, 4, 1, 3, 0))
        );
    }

    #[test]
    fn nothing_is_due_before_the_first_tick_after_the_last() {
        let nightly = Timing::parse("0 3 * * *", TimeZone::UTC).unwrap();
        let seen = at(&TimeZone::UTC, 2025, 5, 1, 3, 30);
        assert_eq!(nightly.due(seen, seen + HOUR), None);
        let slot = at(&TimeZone::UTC, 2025, 5, 2, 3, 0);
        assert_eq!(
            nightly.due(seen, slot),
            Some(slot),
            "due at its very minute"
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_refused_with_the_reason() {
        let err = Timing::parse("0 25 * * *", TimeZone::UTC).unwrap_err();
        assert!(err.to_string().contains("\"0 25 * * *\""), "{err}");
        let seconds = Timing::parse("0 0 3 * * *", TimeZone::UTC).unwrap_err();
        assert!(seconds.to_string().contains("five fields"), "{seconds}");
        let never = Timing::parse("0 0 30 2 *", TimeZone::UTC).unwrap_err();
        assert!(never.to_string().contains("never fire"), "{never}");
        let zone = parse_zone(Some("Mars/Olympus")).unwrap_err();
        assert!(zone.to_string().contains("\"Mars/Olympus\""), "{zone}");
        assert!(Timing::parse("@daily", TimeZone::UTC).is_ok());
    }
}
