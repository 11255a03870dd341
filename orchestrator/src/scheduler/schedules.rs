//! Where schedules stand, kept in the run store beside the runs they start; the runs
//! themselves come in through [`Scheduler::accept`] like any trigger.

use super::{Scheduler, SchedulerError};
use crate::store::ScheduleMark;

impl Scheduler {
    /// Every schedule's stored mark.
    pub fn schedule_marks(&self) -> Result<Vec<ScheduleMark>, SchedulerError> {
        Ok(self.store.schedule_marks()?)
    }

    /// Record where a schedule stands (first seen, or the tick it fired for).
    pub fn mark_schedule(&mut self, mark: &ScheduleMark, now: u64) -> Result<(), SchedulerError> {
        Ok(self.store.write(|w| w.mark_schedule(mark, now))?)
    }
}
