//! A stage with a concurrency group begins only when no other run of the repository
//! holds the group and no run that waits longer is in line before it; otherwise it
//! waits in order (`queue: true`) or is skipped (`queue: false`).

use super::Step;
use crate::config::StageSpec;
use crate::model::StageState;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::groups::group_key;

impl Step<'_> {
    /// Whether stage `index` (ready, with `spec`) may begin now. When it may not, it is
    /// marked waiting (once, with an event) or skipped.
    pub(super) fn group_admits(&mut self, spec: &StageSpec, index: usize) -> bool {
        let Some(key) = group_key(self.run, spec) else {
            return true;
        };
        let mine = self.run.stages[index].group_wait_ms.unwrap_or(self.now);
        let holder = self
            .groups
            .iter()
            .find(|u| u.key == key && u.run_id != self.run.id && u.holding)
            .map(|u| u.run_id.clone());
        let earlier = self.groups.iter().any(|u| {
            u.key == key
                && u.run_id != self.run.id
                && !u.holding
                && u.waiting_since
                    .is_some_and(|since| since < mine || (since == mine && u.run_id < self.run.id))
        });
        let group = key.rsplit('\0').next().unwrap_or_default().to_string();
        let name = self.run.stages[index].name.clone();
        if holder.is_none() && !earlier {
            if self.run.stages[index].group_wait_ms.take().is_some() {
                let message = format!("{name} takes concurrency group {group}");
                self.record(Event::new(EventKind::StageWaiting, message).stage(&name));
            }
            return true;
        }
        let queue = spec.concurrency.as_ref().is_none_or(|c| c.queue);
        let why = match &holder {
            Some(run) => format!("concurrency group {group} is held by run {run}"),
            None => format!("concurrency group {group} has an earlier run waiting"),
        };
        if !queue {
            let stage = &mut self.run.stages[index];
            stage.state = StageState::Skipped;
            stage.finished_ms = Some(self.now);
            stage.summary = format!("skipped: {why} (queue: false)");
            let message = format!("{name} skipped: {why}");
            self.record(Event::new(EventKind::StageSkipped, message).stage(&name));
            return false;
        }
        let stage = &mut self.run.stages[index];
        if stage.group_wait_ms.is_none() {
            stage.group_wait_ms = Some(self.now);
            stage.summary = format!("waiting: {why}");
            let message = format!("{name} waits: {why}");
            self.record(Event::new(EventKind::StageWaiting, message).stage(&name));
            self.save();
        }
        false
    }
}
