//! How a step's committed effects leave the owner task: tasks on the bus in order,
//! commit statuses, Slack posts and emails on tasks of their own that report back when
//! done.

use super::command::Command;
use super::github_lanes::{Job, LaneTarget, comment_key};
use super::worker::Worker;
use crate::notify::CheckRunStart;
use crate::notify::{CommitStatus, StatusState as GitHubState};
use crate::scheduler::CheckPhase;
use crate::scheduler::{EMAIL_CHANNEL, Effect, StatusState};
use crate::store::GitHubObject;
use std::sync::Arc;

impl Worker {
    fn github_token(&self, tenant: &str) -> Option<String> {
        self.settings
            .tenant(tenant)
            .and_then(|t| t.github_token.resolve())
    }

    /// Queue a check run's start or completion on its lane; the completion's output is
    /// read from the store now, after the stage's writes committed.
    fn check_run(
        &mut self,
        run_id: String,
        tenant: &str,
        repository: String,
        commit: String,
        stage: String,
        phase: CheckPhase,
    ) {
        let Some(token) = self.github_token(tenant) else {
            return;
        };
        let external_id = format!("{run_id}/{stage}");
        let start = |at_ms| CheckRunStart {
            name: format!("bosun/{stage}"),
            head_sha: commit.clone(),
            external_id: external_id.clone(),
            details_url: Some(format!("{}/runs/{run_id}", self.settings.base_url())),
            started_at_ms: at_ms,
        };
        let job = match phase {
            CheckPhase::Started { at_ms } => Job::Start {
                start: start(at_ms),
            },
            CheckPhase::Completed { at_ms } => {
                let finish = match self.scheduler.check_finish(&run_id, &stage, at_ms) {
                    Ok(Some(finish)) => finish,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(run = %run_id, %stage, error = %e, "could not read a check run's output");
                        return;
                    }
                };
                let started = self
                    .scheduler
                    .store()
                    .run(&run_id)
                    .ok()
                    .flatten()
                    .and_then(|r| r.stage(&stage).and_then(|s| s.started_ms))
                    .unwrap_or(at_ms);
                let known_id = self
                    .scheduler
                    .store()
                    .github_object(GitHubObject::CheckRun, &external_id)
                    .unwrap_or_default();
                Job::Finish {
                    start: start(started),
                    finish: Box::new(finish),
                    known_id,
                }
            }
        };
        let target = LaneTarget {
            run_id,
            token,
            repository,
        };
        self.github_lanes
            .send(format!("check:{external_id}"), target, job);
    }

    pub(super) async fn execute(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Publish {
                    topic,
                    key,
                    payload,
                } => {
                    self.pools.note_topic(&topic);
                    if let Err(e) = self.bus.publish(&topic, &key, payload).await {
                        // The store says it went out; the reaper fails the attempt at its
                        // deadline and the retry rules take over.
                        tracing::error!(%topic, run = %key, error = %e, "publish failed");
                    }
                }
                Effect::Status {
                    run_id,
                    tenant,
                    repository,
                    commit,
                    update,
                } => {
                    let Some(token) = self
                        .settings
                        .tenant(&tenant)
                        .and_then(|t| t.github_token.resolve())
                    else {
                        continue;
                    };
                    let github = Arc::clone(&self.github);
                    let tx = self.commands_tx.clone();
                    tokio::spawn(async move {
                        let status = CommitStatus {
                            state: match update.state {
                                StatusState::Pending => GitHubState::Pending,
                                StatusState::Success => GitHubState::Success,
                                StatusState::Failure => GitHubState::Failure,
                                StatusState::Error => GitHubState::Error,
                            },
                            context: update.context.clone(),
                            description: update.description,
                            target_url: Some(update.target_url),
                        };
                        let outcome = github.set_as(&token, &repository, &commit, &status).await;
                        let (sent, attempts, detail) = match outcome {
                            Ok(d) => (
                                true,
                                d.attempts,
                                format!("{} {:?}", status.context, status.state),
                            ),
                            Err(e) => (false, 0, format!("{}: {e}", status.context)),
                        };
                        let _ = tx
                            .send(Command::NotificationDone {
                                run_id,
                                channel: "github",
                                sent,
                                attempts,
                                detail,
                            })
                            .await;
                    });
                }
                Effect::Notify {
                    run_id,
                    tenant,
                    body,
                } => {
                    let Some(url) = self
                        .settings
                        .tenant(&tenant)
                        .and_then(|t| t.slack_webhook.resolve())
                    else {
                        continue;
                    };
                    let slack = Arc::clone(&self.slack);
                    let tx = self.commands_tx.clone();
                    tokio::spawn(async move {
                        let (sent, attempts, detail) =
                            match slack.post(&format!("tenant {tenant}"), &url, &body).await {
                                Ok(d) => (true, d.attempts, format!("Slack answered {}", d.status)),
                                Err(e) => (false, 0, e.to_string()),
                            };
                        let _ = tx
                            .send(Command::NotificationDone {
                                run_id,
                                channel: "slack",
                                sent,
                                attempts,
                                detail,
                            })
                            .await;
                    });
                }
                Effect::Check {
                    run_id,
                    tenant,
                    repository,
                    commit,
                    stage,
                    phase,
                } => self.check_run(run_id, &tenant, repository, commit, stage, phase),
                Effect::Comment {
                    run_id,
                    tenant,
                    repository,
                    pull_request,
                    body,
                } => {
                    let Some(token) = self.github_token(&tenant) else {
                        continue;
                    };
                    let key = comment_key(&repository, pull_request);
                    let known_id = self
                        .scheduler
                        .store()
                        .github_object(GitHubObject::PullRequestComment, &key)
                        .unwrap_or_default();
                    let target = LaneTarget {
                        run_id,
                        token,
                        repository,
                    };
                    let job = Job::Comment {
                        number: pull_request,
                        body,
                        known_id,
                    };
                    self.github_lanes
                        .send(format!("comment:{key}"), target, job);
                }
                Effect::Email {
                    run_id,
                    tenant,
                    content,
                } => {
                    let Some(email) = self.settings.tenant(&tenant).and_then(|t| t.email.clone())
                    else {
                        continue;
                    };
                    let client = Arc::clone(&self.email);
                    let tx = self.commands_tx.clone();
                    tokio::spawn(async move {
                        let label = format!("tenant {tenant}");
                        let (sent, attempts, detail) =
                            match client.send(&label, &email, &content).await {
                                Ok(d) => (
                                    true,
                                    d.attempts,
                                    format!(
                                        "sent to {} recipient(s); the relay answered {}",
                                        email.to.len(),
                                        d.status
                                    ),
                                ),
                                Err(e) => {
                                    tracing::warn!(run = %run_id, error = %e, "email not sent");
                                    (false, 0, e.to_string())
                                }
                            };
                        let _ = tx
                            .send(Command::NotificationDone {
                                run_id,
                                channel: EMAIL_CHANNEL,
                                sent,
                                attempts,
                                detail,
                            })
                            .await;
                    });
                }
                Effect::Finished { .. } => {}
            }
        }
    }
}
