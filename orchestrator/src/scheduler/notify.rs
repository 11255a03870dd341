//! A finished run's wrap-up: the `run.finished` pipeline event, the notification the
//! notifier is asked to format when the run's rules want one, and what became of it.

use super::event::{Event, EventKind};
use super::journal::{Journal, Write};
use super::{Effect, Scheduler, SchedulerError, summary};
use crate::model::RunStatus;
use bosun_bus::messages::{self, MESSAGE_VERSION};
use bosun_bus::notify::NotifyTaskMessage;
use bosun_bus::topics;

impl Scheduler {
    /// A finished run leaves memory; its notification goes out if the rules ask for it.
    pub(super) fn wrap_up(
        &mut self,
        run_id: &str,
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let Some(active) = self.active.remove(run_id) else {
            return Ok(Vec::new());
        };
        let mut record = active.record;
        let mut effects = vec![Effect::Publish {
            topic: topics::PIPELINE_EVENTS.to_string(),
            key: record.id.clone(),
            payload: serde_json::to_vec(&serde_json::json!({
                "version": MESSAGE_VERSION,
                "kind": "run.finished",
                "run_id": record.id,
                "status": record.status.as_str(),
                "at_ms": now,
            }))
            .unwrap_or_default(),
        }];
        let Some(config) = active.config else {
            return Ok(effects);
        };
        let wanted = if record.status == RunStatus::Success {
            config.notify.on_success
        } else {
            config.notify.on_failure
        };
        let has_target = self
            .settings
            .tenant(&record.trigger.tenant)
            .and_then(|t| t.slack_webhook.resolve())
            .is_some();
        if !wanted || !has_target || record.notified {
            return Ok(effects);
        }
        let attempts = self.store.attempts(run_id)?;
        let summary = summary::run_summary(&record, &attempts, &self.settings.base_url());
        let task = NotifyTaskMessage {
            version: MESSAGE_VERSION,
            request_id: format!("{run_id}/notify/1"),
            notifier: config.notify.notifier.clone(),
            config: config.notify.with.clone(),
            summary,
            deadline_unix_ms: now + self.settings.gate_timeout().as_millis() as u64,
        };
        record.notified = true;
        let mut journal = Journal::default();
        let asked = format!("report asked of notifier {}", config.notify.notifier);
        journal.event(run_id, now, Event::new(EventKind::NotifyRequested, asked));
        journal.writes.push(Write::SaveRun(Box::new(record)));
        self.store.write(|w| journal.apply(w))?;
        effects.push(Effect::Publish {
            topic: topics::AGENT_NOTIFY.to_string(),
            key: run_id.to_string(),
            payload: messages::encode(&task),
        });
        Ok(effects)
    }

    /// Record what became of a notification or commit status.
    pub fn notification_done(
        &mut self,
        run_id: &str,
        channel: &str,
        sent: bool,
        attempts: u32,
        detail: &str,
        now: u64,
    ) -> Result<(), SchedulerError> {
        let status = if sent { "sent" } else { "failed" };
        let mut journal = Journal::default();
        journal.writes.push(Write::Notification {
            run_id: run_id.to_string(),
            channel: channel.to_string(),
            status: status.to_string(),
            attempts,
            detail: detail.to_string(),
            at_ms: now,
        });
        let kind = if sent {
            EventKind::NotifySent
        } else {
            EventKind::NotifyFailed
        };
        journal.event(
            run_id,
            now,
            Event::new(kind, format!("{channel}: {detail}")),
        );
        self.store.write(|w| journal.apply(w))?;
        Ok(())
    }
}
