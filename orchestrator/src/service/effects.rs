//! How a step's committed effects leave the owner task: tasks on the bus in order,
//! commit statuses, Slack posts and emails on tasks of their own that report back when
//! done.

use super::command::Command;
use super::worker::Worker;
use crate::notify::{CommitStatus, StatusState as GitHubState};
use crate::scheduler::{EMAIL_CHANNEL, Effect, StatusState};
use std::sync::Arc;

impl Worker {
    pub(super) async fn execute(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Publish {
                    topic,
                    key,
                    payload,
                } => {
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
                        let (sent, attempts, detail) = match slack
                            .post(
                                &format!("the Slack webhook for tenant {tenant}"),
                                &url,
                                &body,
                            )
                            .await
                        {
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
