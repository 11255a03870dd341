//! The schedules the service watches: when each is next due, which are being fired
//! (their branch head is being read), and which wait to try again after that failed.

use crate::settings::CheckedSchedule;
use crate::store::ScheduleMark;

/// A schedule to fire now, for one tick.
#[derive(Debug, Clone)]
pub struct Due {
    /// The schedule.
    pub schedule: CheckedSchedule,
    /// Its identity in the run store.
    pub key: String,
    /// The tick it fires for (Unix milliseconds).
    pub slot_ms: u64,
}

impl Due {
    /// The delivery id its run is recorded under: one run per schedule and tick, even
    /// when a crash comes between starting the run and marking the tick.
    pub fn delivery_id(&self) -> String {
        format!("schedule:{}:{}", self.key, self.slot_ms)
    }

    /// The mark to store once the tick's run is recorded.
    pub fn mark(&self, run_id: Option<String>) -> ScheduleMark {
        mark(&self.schedule, &self.key, self.slot_ms, run_id)
    }
}

/// What a poll asks the owner to do.
#[derive(Debug, Default)]
pub struct Poll {
    /// Schedules seen for the first time: store these marks, so only ticks after now
    /// are due, across restarts too.
    pub first_seen: Vec<ScheduleMark>,
    /// Schedules to fire.
    pub due: Vec<Due>,
}

struct Entry {
    schedule: CheckedSchedule,
    key: String,
    /// The tick last fired for, or when first seen; `None` until it is seen.
    last_slot_ms: Option<u64>,
    /// The first tick after `last_slot_ms`.
    next_due_ms: Option<u64>,
    /// Its branch head is being read and its run started.
    firing: bool,
    /// Not before this (after a failed fire).
    retry_at_ms: u64,
}

fn mark(schedule: &CheckedSchedule, key: &str, slot: u64, run_id: Option<String>) -> ScheduleMark {
    ScheduleMark {
        key: key.to_string(),
        tenant: schedule.tenant.clone(),
        repository: schedule.repository.clone(),
        branch: schedule.branch.clone(),
        last_slot_ms: slot,
        run_id,
    }
}

/// Every schedule of every tenant, with where each stands.
pub struct Schedules {
    entries: Vec<Entry>,
}

impl Schedules {
    /// The schedules, picking up where the stored marks say each one stands.
    pub fn new(schedules: Vec<CheckedSchedule>, marks: &[ScheduleMark]) -> Schedules {
        let entries = schedules
            .into_iter()
            .map(|schedule| {
                let key = schedule.key();
                let last_slot_ms = marks.iter().find(|m| m.key == key).map(|m| m.last_slot_ms);
                let next_due_ms = last_slot_ms.and_then(|t| schedule.timing.next_after(t));
                Entry {
                    schedule,
                    key,
                    last_slot_ms,
                    next_due_ms,
                    firing: false,
                    retry_at_ms: 0,
                }
            })
            .collect();
        Schedules { entries }
    }

    /// No schedules at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What is due at `now`: each schedule whose next tick has come fires once, for
    /// the latest tick that passed (however many passed since its last one).
    pub fn poll(&mut self, now: u64) -> Poll {
        let mut poll = Poll::default();
        for entry in &mut self.entries {
            if entry.firing || now < entry.retry_at_ms {
                continue;
            }
            let Some(last) = entry.last_slot_ms else {
                entry.last_slot_ms = Some(now);
                entry.next_due_ms = entry.schedule.timing.next_after(now);
                poll.first_seen
                    .push(mark(&entry.schedule, &entry.key, now, None));
                continue;
            };
            if entry.next_due_ms.is_none_or(|t| t > now) {
                continue;
            }
            match entry.schedule.timing.due(last, now) {
                Some(slot_ms) => {
                    entry.firing = true;
                    poll.due.push(Due {
                        schedule: entry.schedule.clone(),
                        key: entry.key.clone(),
                        slot_ms,
                    });
                }
                None => entry.next_due_ms = entry.schedule.timing.next_after(now),
            }
        }
        poll
    }

    /// The schedule `key` fired for `slot_ms` (its run is recorded).
    pub fn fired(&mut self, key: &str, slot_ms: u64) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.key == key) {
            entry.firing = false;
            entry.retry_at_ms = 0;
            entry.last_slot_ms = Some(slot_ms);
            entry.next_due_ms = entry.schedule.timing.next_after(slot_ms);
        }
    }

    /// The schedule `key` could not fire; it is tried again from `at_ms` (for the
    /// latest tick then).
    pub fn retry(&mut self, key: &str, at_ms: u64) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.key == key) {
            entry.firing = false;
            entry.retry_at_ms = at_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Timing, parse_zone};

    const HOUR: u64 = 3_600_000;
    const DAY: u64 = 24 * HOUR;
    /// 2025-01-15T00:00:00Z.
    const JAN_15: u64 = 1_736_899_200_000;

    fn nightly() -> CheckedSchedule {
        // 03:00 in New York is 08:00 UTC in January.
        let zone = parse_zone(Some("America/New_York")).unwrap();
        CheckedSchedule {
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            clone_url: "https://github.com/acme/shop.git".into(),
            branch: "main".into(),
            default_branch: None,
            timing: Timing::parse("0 3 * * *", zone).unwrap(),
        }
    }

    #[test]
    fn a_new_schedule_is_marked_when_first_seen_and_fires_from_its_next_tick() {
        let mut table = Schedules::new(vec![nightly()], &[]);
        let poll = table.poll(JAN_15);
        assert_eq!(poll.first_seen.len(), 1);
        assert_eq!(poll.first_seen[0].last_slot_ms, JAN_15);
        assert!(poll.due.is_empty(), "ticks before it was set up never fire");
        assert!(table.poll(JAN_15 + 7 * HOUR).due.is_empty());
        let due = table.poll(JAN_15 + 8 * HOUR).due;
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].slot_ms, JAN_15 + 8 * HOUR);
    }

    #[test]
    fn ticks_missed_during_downtime_fire_once() {
        let schedule = nightly();
        let key = schedule.key();
        let stored = ScheduleMark {
            key: key.clone(),
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            branch: "main".into(),
            last_slot_ms: JAN_15 + 8 * HOUR,
            run_id: Some("r1".into()),
        };
        // Back four days and an hour later: four ticks passed.
        let now = JAN_15 + 4 * DAY + 9 * HOUR;
        let mut table = Schedules::new(vec![schedule], &[stored]);
        let poll = table.poll(now);
        assert!(poll.first_seen.is_empty());
        assert_eq!(poll.due.len(), 1, "one run, not four");
        let due = &poll.due[0];
        assert_eq!(due.slot_ms, JAN_15 + 4 * DAY + 8 * HOUR, "the latest tick");
        assert_eq!(due.delivery_id(), format!("schedule:{key}:{}", due.slot_ms));
        // While its run is being started, later polls do not fire it again.
        assert!(table.poll(now + 1).due.is_empty());
        table.fired(&key, due.slot_ms);
        assert!(table.poll(now + HOUR).due.is_empty());
        assert_eq!(table.poll(JAN_15 + 5 * DAY + 8 * HOUR).due.len(), 1);
    }

    #[test]
    fn a_failed_fire_is_tried_again_after_its_pause() {
        let schedule = nightly();
        let key = schedule.key();
        let mut table = Schedules::new(vec![schedule], &[]);
        table.poll(JAN_15);
        let tick = JAN_15 + 8 * HOUR;
        assert_eq!(table.poll(tick).due.len(), 1);
        table.retry(&key, tick + 60_000);
        assert!(table.poll(tick + 30_000).due.is_empty());
        let again = table.poll(tick + 60_000).due;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].slot_ms, tick, "still the tick that was missed");
    }
}
