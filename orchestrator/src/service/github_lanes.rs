//! GitHub check runs and pull-request comments leave on lanes: one task per check run
//! (or pull request) sends its updates in order, so a completion waits for its
//! creation's id and uses it, while the scheduler and every other lane go on; a
//! rate-limited lane waits on its own task. An update that still fails after the retry
//! loop's attempts is tried again a few rounds later rather than dropped.

use super::command::Command;
use crate::notify::{CheckRunFinish, CheckRunStart, GitHubStatuses, NotifyError};
use crate::store::GitHubObject;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Rounds of the retry loop one update gets before it is recorded as failed.
const ROUNDS: u32 = 3;
/// Ids kept in memory past their lane; a busy server clears them now and then (the
/// store has them too).
const MAX_REMEMBERED: usize = 10_000;

/// One update on a lane.
pub(super) enum Job {
    /// Create the check run `in_progress`.
    Start { start: CheckRunStart },
    /// Complete it; `known_id` is the store's, read when the effect left.
    Finish {
        start: CheckRunStart,
        finish: Box<CheckRunFinish>,
        known_id: Option<u64>,
    },
    /// Create or edit the pull request's comment.
    Comment {
        number: u64,
        body: String,
        known_id: Option<u64>,
    },
}

/// Who a lane speaks for.
pub(super) struct LaneTarget {
    pub run_id: String,
    pub token: String,
    pub repository: String,
}

struct Lane {
    jobs: mpsc::UnboundedSender<(LaneTarget, Job)>,
}

/// The open lanes by key (`check:<external id>`, `comment:<repo>#<n>`), and the ids
/// lanes learnt, shared so a lane opened later (after one ended) still finds them.
#[derive(Clone)]
pub(super) struct GitHubLanes {
    github: Arc<GitHubStatuses>,
    commands: mpsc::Sender<Command>,
    lanes: Arc<Mutex<HashMap<String, Lane>>>,
    ids: Arc<Mutex<HashMap<String, u64>>>,
    round_wait: Duration,
}

impl GitHubLanes {
    pub(super) fn new(
        github: Arc<GitHubStatuses>,
        commands: mpsc::Sender<Command>,
        round_wait: Duration,
    ) -> Self {
        GitHubLanes {
            github,
            commands,
            lanes: Arc::default(),
            ids: Arc::default(),
            round_wait,
        }
    }

    /// Queue `job` on `key`'s lane, opening it when it is not open. Never waits.
    pub(super) fn send(&self, key: String, target: LaneTarget, job: Job) {
        let Ok(mut lanes) = self.lanes.lock() else {
            return;
        };
        let job = match lanes.get(&key) {
            Some(lane) => match lane.jobs.send((target, job)) {
                Ok(()) => return,
                // The lane ended between its last look and now: open a new one.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => (target, job),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(job);
        lanes.insert(key.clone(), Lane { jobs: tx });
        tokio::spawn(self.clone().drive(key, rx));
    }

    async fn drive(self, key: String, mut rx: mpsc::UnboundedReceiver<(LaneTarget, Job)>) {
        loop {
            let next = {
                let Ok(mut lanes) = self.lanes.lock() else {
                    return;
                };
                match rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(_) => {
                        // Nothing queued: close under the lock, so a sender either got
                        // its job in before or opens a new lane.
                        lanes.remove(&key);
                        None
                    }
                }
            };
            let Some((target, job)) = next else { return };
            self.run(&key, target, job).await;
        }
    }

    async fn run(&self, key: &str, target: LaneTarget, job: Job) {
        let mut round = 1;
        loop {
            let outcome = self.attempt(key, &target, &job).await;
            match outcome {
                Err(NotifyError::GaveUp { .. }) if round < ROUNDS => {
                    tokio::time::sleep(self.round_wait).await;
                    round += 1;
                }
                outcome => {
                    let (channel, sent, attempts, detail) = match outcome {
                        Ok((channel, attempts, detail)) => (channel, true, attempts, detail),
                        Err(e) => (job_channel(&job), false, 0, e.to_string()),
                    };
                    let _ = self
                        .commands
                        .send(Command::NotificationDone {
                            run_id: target.run_id.clone(),
                            channel,
                            sent,
                            attempts,
                            detail,
                        })
                        .await;
                    return;
                }
            }
        }
    }

    /// One try of `job`: the channel, attempts and what happened, for the run's record.
    async fn attempt(
        &self,
        key: &str,
        target: &LaneTarget,
        job: &Job,
    ) -> Result<(&'static str, u32, String), NotifyError> {
        let (token, repository) = (&target.token, &target.repository);
        match job {
            Job::Start { start } => {
                let id = self
                    .github
                    .start_check_run(token, repository, start)
                    .await?;
                self.learnt(
                    key,
                    GitHubObject::CheckRun,
                    &start.external_id,
                    id,
                    &target.run_id,
                )
                .await;
                Ok((
                    "github-check",
                    1,
                    format!("{} in_progress (check run {id})", start.name),
                ))
            }
            Job::Finish {
                start,
                finish,
                known_id,
            } => {
                let id = self.known(key).or(*known_id);
                let done = self
                    .github
                    .finish_check_run(token, repository, id, start, finish)
                    .await?;
                if id.is_none() {
                    self.learnt(
                        key,
                        GitHubObject::CheckRun,
                        &start.external_id,
                        done.id,
                        &target.run_id,
                    )
                    .await;
                }
                // The check run is done: no later update needs its id in memory.
                if let Ok(mut ids) = self.ids.lock() {
                    ids.remove(key);
                }
                let conclusion = serde_json::to_value(finish.conclusion)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok((
                    "github-check",
                    done.attempts,
                    format!(
                        "{} completed {conclusion} with {} annotations in {} requests (check run {})",
                        start.name,
                        finish.output.annotations.len(),
                        done.requests,
                        done.id
                    ),
                ))
            }
            Job::Comment {
                number,
                body,
                known_id,
            } => {
                let id = self.known(key).or(*known_id);
                let posted = self
                    .github
                    .upsert_pull_request_comment(token, repository, *number, id, body)
                    .await?;
                if id != Some(posted.id) {
                    let store_key = comment_key(repository, *number);
                    self.learnt(
                        key,
                        GitHubObject::PullRequestComment,
                        &store_key,
                        posted.id,
                        &target.run_id,
                    )
                    .await;
                }
                let how = if posted.edited { "edited" } else { "created" };
                Ok((
                    "github-comment",
                    posted.attempts,
                    format!("summary comment {} {how} on #{number}", posted.id),
                ))
            }
        }
    }

    fn known(&self, key: &str) -> Option<u64> {
        self.ids.lock().ok()?.get(key).copied()
    }

    /// Keep a new id in memory at once (a completion may be queued right behind) and
    /// in the store through the owner task.
    async fn learnt(&self, key: &str, kind: GitHubObject, store_key: &str, id: u64, run_id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            if ids.len() >= MAX_REMEMBERED {
                ids.clear();
            }
            ids.insert(key.to_string(), id);
        }
        let _ = self
            .commands
            .send(Command::GitHubObject {
                run_id: run_id.to_string(),
                kind,
                key: store_key.to_string(),
                id,
            })
            .await;
    }
}

fn job_channel(job: &Job) -> &'static str {
    match job {
        Job::Comment { .. } => "github-comment",
        _ => "github-check",
    }
}

/// The store's key for a pull request's comment.
pub(super) fn comment_key(repository: &str, number: u64) -> String {
    format!("{}#{number}", repository.to_ascii_lowercase())
}
