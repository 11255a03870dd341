//! A finished run's wrap-up: the `run.finished` pipeline event, the notifications the
//! notifiers are asked to format when the run's rules want them (Slack, email: one
//! request per channel the tenant has), the answers routed back to their channel, and
//! what became of them.

use super::event::{Event, EventKind};
use super::journal::{Journal, Write};
use super::{Effect, Scheduler, SchedulerError, summary};
use crate::config::PipelineConfig;
use crate::model::{RunRecord, RunStatus};
use crate::notify::{CheckRunFinish, EmailContent};
use crate::store::GitHubObject;
use bosun_bus::messages::{self, MESSAGE_VERSION};
use bosun_bus::notify::{NotifyReplyMessage, NotifyTaskMessage};
use bosun_bus::{NotifyChannel, NotifyRequestId, topics};

/// The channel of an email request (`run/email/1`) and of its recorded outcome.
pub const EMAIL_CHANNEL: &str = "email";

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
        if let Some(comment) = self.pull_request_comment(&record, &config)? {
            effects.push(comment);
        }
        let wanted = if record.status == RunStatus::Success {
            config.notify.on_success
        } else {
            config.notify.on_failure
        };
        let tenant = self.settings.tenant(&record.trigger.tenant);
        let slack = tenant.and_then(|t| t.slack_webhook.resolve()).is_some();
        let email = tenant.and_then(|t| t.email.as_ref());
        if !wanted || !(slack || email.is_some()) || record.notified {
            return Ok(effects);
        }
        let attempts = self.store.attempts(run_id)?;
        let summary = summary::run_summary(&record, &attempts, &self.settings.base_url());
        let deadline_unix_ms = now + self.settings.gate_timeout().as_millis() as u64;
        // One request per channel, told apart by the id the reply carries back. The
        // email notifier gets the summary alone: recipients and the relay's login stay
        // here.
        let mut requests = Vec::new();
        if slack {
            requests.push(NotifyTaskMessage {
                version: MESSAGE_VERSION,
                request_id: NotifyRequestId::new(run_id, NotifyChannel::Slack, 1).to_string(),
                notifier: config.notify.notifier.clone(),
                config: config.notify.with.clone(),
                summary: summary.clone(),
                deadline_unix_ms,
            });
        }
        if let Some(email) = email {
            requests.push(NotifyTaskMessage {
                version: MESSAGE_VERSION,
                request_id: NotifyRequestId::new(run_id, NotifyChannel::Email, 1).to_string(),
                notifier: email.notifier.clone(),
                config: Vec::new(),
                summary,
                deadline_unix_ms,
            });
        }
        record.notified = true;
        let mut journal = Journal::default();
        for request in &requests {
            let asked = match request.request_id.parse::<NotifyRequestId>() {
                Ok(id) if id.channel == NotifyChannel::Email => {
                    format!("email asked of notifier {}", request.notifier)
                }
                _ => format!("report asked of notifier {}", request.notifier),
            };
            journal.event(run_id, now, Event::new(EventKind::NotifyRequested, asked));
        }
        let key = super::ownership::run_key(&record);
        journal.writes.push(Write::SaveRun(Box::new(record)));
        self.write_under(Some(&key), |w| journal.apply(w))?;
        effects.extend(requests.iter().map(|request| Effect::Publish {
            topic: topics::AGENT_NOTIFY.to_string(),
            key: run_id.to_string(),
            payload: messages::encode(request),
        }));
        Ok(effects)
    }

    /// The pull request's summary comment for a finished run, when its tenant keeps one.
    fn pull_request_comment(
        &self,
        record: &RunRecord,
        config: &PipelineConfig,
    ) -> Result<Option<Effect>, SchedulerError> {
        let Some(number) = record.trigger.pull_request else {
            return Ok(None);
        };
        let wanted = self
            .settings
            .tenant(&record.trigger.tenant)
            .is_some_and(|t| t.pull_request_comments && t.github_token.resolve().is_some());
        if !wanted {
            return Ok(None);
        }
        let attempts = self.store.attempts(&record.id)?;
        let url = format!("{}/runs/{}", self.settings.base_url(), record.id);
        Ok(Some(Effect::Comment {
            run_id: record.id.clone(),
            tenant: record.trigger.tenant.clone(),
            repository: record.trigger.repository.clone(),
            pull_request: number,
            body: summary::checks::pull_request_comment(record, Some(config), &attempts, &url),
        }))
    }

    /// What a settled stage's check run shows, read from the store (the stage's last
    /// attempt is committed by the time its effect runs); `None` for an unknown run or
    /// stage.
    pub fn check_finish(
        &self,
        run_id: &str,
        stage: &str,
        at_ms: u64,
    ) -> Result<Option<CheckRunFinish>, SchedulerError> {
        let record = match self.active.get(run_id) {
            Some(active) => Some(active.record.clone()),
            None => self.store.run(run_id)?,
        };
        let Some(record) = record else {
            return Ok(None);
        };
        let Some(stage_record) = record.stage(stage) else {
            return Ok(None);
        };
        // The stage's settings (`allow_failure`, `min_coverage`): the run's config,
        // read again from its stored text once the run has left memory.
        let parsed = match self.active.get(run_id).and_then(|a| a.config.clone()) {
            Some(config) => Some(config),
            None => record.config_source.as_deref().and_then(|text| {
                let origin = record
                    .config_origin
                    .as_deref()
                    .unwrap_or(crate::config::CONFIG_FILE);
                crate::config::parse(origin, text)
                    .ok()
                    .map(std::sync::Arc::new)
            }),
        };
        let spec = parsed.as_deref().and_then(|c| c.stage(stage));
        let attempts = self.store.attempts(run_id)?;
        let url = format!("{}/runs/{}", self.settings.base_url(), run_id);
        Ok(Some(CheckRunFinish {
            conclusion: summary::checks::conclusion(stage_record, spec, &attempts),
            completed_at_ms: at_ms,
            output: summary::checks::check_output(stage_record, spec, &attempts, &url),
        }))
    }

    /// Remember the GitHub id of something Bosun made there (a check run, a comment),
    /// so it is edited, not made again, after a restart.
    pub fn remember_github_object(
        &mut self,
        kind: GitHubObject,
        key: &str,
        id: u64,
        now: u64,
    ) -> Result<(), SchedulerError> {
        self.store
            .write(|w| w.remember_github_object(kind, key, id, now))?;
        Ok(())
    }

    /// A notifier's answer: the message to post or send, or what went wrong, recorded
    /// on the channel the request was for.
    pub(super) fn on_notify_reply(
        &mut self,
        message: NotifyReplyMessage,
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let Some(run) = self.store.run(&message.run_id)? else {
            return Ok(Vec::new());
        };
        // The id went out with the request; one that does not read back came from a
        // broken or hostile agent, and is not guessed at.
        let channel = match message.request_id.parse::<NotifyRequestId>() {
            Ok(id) if id.run_id == run.id => id.channel.as_str(),
            Ok(_) | Err(_) => {
                tracing::warn!(run = %run.id, request = %message.request_id, "a notifier's answer with a request id Bosun did not send; ignored");
                return Ok(Vec::new());
            }
        };
        let body = match (message.body, message.error) {
            (Some(body), _) => body,
            (None, error) => {
                let detail = error.unwrap_or_else(|| "the notifier returned nothing".into());
                self.notification_done(&run.id, channel, false, 0, &detail, now)?;
                return Ok(Vec::new());
            }
        };
        if channel != EMAIL_CHANNEL {
            return Ok(vec![Effect::Notify {
                run_id: run.id,
                tenant: run.trigger.tenant,
                body,
            }]);
        }
        let notifier = message.notifier.map_or_else(|| "?".to_string(), |p| p.name);
        match EmailContent::parse(&body, &notifier) {
            Ok(content) => Ok(vec![Effect::Email {
                run_id: run.id,
                tenant: run.trigger.tenant,
                content,
            }]),
            Err(detail) => {
                self.notification_done(&run.id, EMAIL_CHANNEL, false, 0, &detail, now)?;
                Ok(Vec::new())
            }
        }
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
