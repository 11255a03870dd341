//! GitHub check runs: one per stage, created `in_progress` when the stage starts and
//! completed with a conclusion, a markdown summary and annotations on the findings'
//! lines, within the Checks API's documented limits (summary at most 65,535
//! characters, at most 50 annotations per request: the rest go in further updates,
//! which GitHub appends).

use reqwest::Url;
use reqwest::header::ACCEPT;
use serde::Serialize;

use super::NotifyError;
use super::github::{API_VERSION, GitHubStatuses, check_sha, split_repository};

/// The longest `output.summary` GitHub accepts, in characters.
pub const MAX_SUMMARY_CHARS: usize = 65_535;
/// The most annotations one create or update request may carry.
pub const MAX_ANNOTATIONS_PER_REQUEST: usize = 50;

/// A completed check run's conclusion: the values GitHub documents for an app to set
/// (`stale` is GitHub's own, never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    ActionRequired,
    Cancelled,
    Failure,
    Neutral,
    Success,
    Skipped,
    TimedOut,
}

/// How an annotation is shown: GitHub's three levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

/// A remark on lines of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// Relative to the repository root.
    pub path: String,
    /// From 1.
    pub start_line: u32,
    pub end_line: u32,
    pub annotation_level: AnnotationLevel,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// What a check run shows: a title, a markdown summary and the annotations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckOutput {
    pub title: String,
    /// Markdown; cut to [`MAX_SUMMARY_CHARS`] when sent, saying so.
    pub summary: String,
    /// Every annotation; sent [`MAX_ANNOTATIONS_PER_REQUEST`] at a time.
    pub annotations: Vec<Annotation>,
}

/// A check run as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunStart {
    /// The check's name, `bosun/<stage>`.
    pub name: String,
    /// The commit it is on.
    pub head_sha: String,
    /// `<run id>/<stage>`: how a `check_run` webhook names Bosun's stage back.
    pub external_id: String,
    /// The run's page.
    pub details_url: Option<String>,
    /// Unix milliseconds.
    pub started_at_ms: u64,
}

/// How a check run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunFinish {
    pub conclusion: CheckConclusion,
    /// Unix milliseconds.
    pub completed_at_ms: u64,
    pub output: CheckOutput,
}

/// A check run completed: its id and how many requests it took (one, plus one per
/// further batch of annotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckCompleted {
    pub id: u64,
    pub requests: u32,
    /// Attempts in all, retries included.
    pub attempts: u32,
}

#[derive(Serialize)]
struct OutputBody<'a> {
    title: &'a str,
    summary: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    annotations: &'a [Annotation],
}

#[derive(Serialize)]
struct CheckRunBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_sha: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conclusion: Option<CheckConclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<OutputBody<'a>>,
}

impl CheckRunBody<'_> {
    fn empty() -> Self {
        CheckRunBody {
            name: None,
            head_sha: None,
            details_url: None,
            external_id: None,
            status: None,
            started_at: None,
            conclusion: None,
            completed_at: None,
            output: None,
        }
    }
}

/// The id GitHub answers a created object with.
#[derive(serde::Deserialize)]
struct Created {
    id: u64,
}

impl GitHubStatuses {
    /// Creates the check run `in_progress`; its id for the completion.
    pub async fn start_check_run(
        &self,
        token: &str,
        repository: &str,
        start: &CheckRunStart,
    ) -> Result<u64, NotifyError> {
        let body = CheckRunBody {
            status: Some("in_progress"),
            ..start_fields(start)
        };
        check_sha(&start.head_sha)?;
        let target = check_target(&start.name, repository, &start.head_sha);
        self.post_created(token, repository, &target, "check-runs", &body)
            .await
            .map(|(id, _)| id)
    }

    /// Completes the check run `id`, or, when its id is not known (its creation never
    /// got through), creates it completed. Annotations past the first
    /// [`MAX_ANNOTATIONS_PER_REQUEST`] follow in further updates.
    pub async fn finish_check_run(
        &self,
        token: &str,
        repository: &str,
        id: Option<u64>,
        start: &CheckRunStart,
        finish: &CheckRunFinish,
    ) -> Result<CheckCompleted, NotifyError> {
        check_sha(&start.head_sha)?;
        let target = check_target(&start.name, repository, &start.head_sha);
        let summary = cut_summary(&finish.output.summary);
        let mut batches = finish
            .output
            .annotations
            .chunks(MAX_ANNOTATIONS_PER_REQUEST);
        let first = batches.next().unwrap_or_default();
        let output = |annotations| OutputBody {
            title: &finish.output.title,
            summary: &summary,
            annotations,
        };
        let completed = CheckRunBody {
            status: Some("completed"),
            conclusion: Some(finish.conclusion),
            completed_at: Some(iso8601(finish.completed_at_ms)),
            output: Some(output(first)),
            ..CheckRunBody::empty()
        };
        let (id, mut attempts) = match id {
            Some(id) => {
                let delivered = self
                    .patch(
                        token,
                        repository,
                        &target,
                        &format!("check-runs/{id}"),
                        &completed,
                    )
                    .await?;
                (id, delivered)
            }
            None => {
                let body = CheckRunBody {
                    status: Some("completed"),
                    ..start_fields(start)
                };
                let body = CheckRunBody {
                    conclusion: completed.conclusion,
                    completed_at: completed.completed_at,
                    output: completed.output,
                    ..body
                };
                self.post_created(token, repository, &target, "check-runs", &body)
                    .await?
            }
        };
        let mut requests = 1;
        for batch in batches {
            let more = CheckRunBody {
                output: Some(output(batch)),
                ..CheckRunBody::empty()
            };
            attempts += self
                .patch(
                    token,
                    repository,
                    &target,
                    &format!("check-runs/{id}"),
                    &more,
                )
                .await?;
            requests += 1;
        }
        Ok(CheckCompleted {
            id,
            requests,
            attempts,
        })
    }

    /// POSTs `body` to `/repos/{owner}/{repo}/{path}` and reads the created `id`.
    pub(super) async fn post_created(
        &self,
        token: &str,
        repository: &str,
        target: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(u64, u32), NotifyError> {
        let url = self.repo_url(repository, path, target)?;
        let (delivered, answer) = self
            .client
            .send_for_answer(target, &[token], |client| {
                client
                    .post(url.clone())
                    .header(ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", API_VERSION)
                    .bearer_auth(token)
                    .json(body)
            })
            .await?;
        let created: Created =
            serde_json::from_slice(&answer).map_err(|e| NotifyError::Client {
                target: target.to_owned(),
                reason: format!("the answer has no numeric `id`: {e}"),
            })?;
        Ok((created.id, delivered.attempts))
    }

    /// PATCHes `body` to `/repos/{owner}/{repo}/{path}`; the attempts it took.
    pub(super) async fn patch(
        &self,
        token: &str,
        repository: &str,
        target: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<u32, NotifyError> {
        let url = self.repo_url(repository, path, target)?;
        let delivered = self
            .client
            .send(target, &[token], |client| {
                client
                    .patch(url.clone())
                    .header(ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", API_VERSION)
                    .bearer_auth(token)
                    .json(body)
            })
            .await?;
        Ok(delivered.attempts)
    }

    fn repo_url(&self, repository: &str, path: &str, target: &str) -> Result<Url, NotifyError> {
        let (owner, name) = split_repository(repository)?;
        self.api_base
            .as_ref()
            .and_then(|base| Url::parse(&format!("{base}/repos/{owner}/{name}/{path}")).ok())
            .ok_or_else(|| NotifyError::InvalidUrl {
                target: target.to_owned(),
            })
    }
}

fn start_fields(start: &CheckRunStart) -> CheckRunBody<'_> {
    CheckRunBody {
        name: Some(&start.name),
        head_sha: Some(&start.head_sha),
        details_url: start.details_url.as_deref(),
        external_id: Some(&start.external_id),
        started_at: Some(iso8601(start.started_at_ms)),
        ..CheckRunBody::empty()
    }
}

fn check_target(name: &str, repository: &str, sha: &str) -> String {
    let short: String = sha.chars().take(12).collect();
    format!("the GitHub check run `{name}` on {repository}@{short}")
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the ISO 8601 form the Checks API documents.
fn iso8601(unix_ms: u64) -> String {
    let ms = i64::try_from(unix_ms).unwrap_or(i64::MAX);
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `summary` within [`MAX_SUMMARY_CHARS`], on a character boundary; a cut one ends
/// saying how much was cut.
pub fn cut_summary(summary: &str) -> String {
    cut_markdown(summary, MAX_SUMMARY_CHARS)
}

/// `text` within `limit` characters; a cut one ends with a line saying how many
/// characters were left out.
pub fn cut_markdown(text: &str, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text.to_owned();
    }
    // The note's own length depends on the number; 200 characters hold any of it.
    let keep = limit.saturating_sub(200);
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(&format!(
        "\n\n… (cut here: {} more characters; the run page has everything)",
        total - keep
    ));
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_511_984_950_123), "2017-11-29T19:49:10Z");
    }

    #[test]
    fn a_summary_at_the_limit_is_kept_and_a_longer_one_cut_saying_so() {
        let exact = "é".repeat(MAX_SUMMARY_CHARS);
        assert_eq!(cut_summary(&exact), exact);
        let long = "é".repeat(MAX_SUMMARY_CHARS + 10);
        let cut = cut_summary(&long);
        assert!(cut.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(
            cut.contains("more characters"),
            "{}",
            &cut[cut.len() - 100..]
        );
    }

    #[test]
    fn conclusions_and_levels_are_githubs_words() {
        let words: Vec<String> = [
            CheckConclusion::ActionRequired,
            CheckConclusion::Cancelled,
            CheckConclusion::Failure,
            CheckConclusion::Neutral,
            CheckConclusion::Success,
            CheckConclusion::Skipped,
            CheckConclusion::TimedOut,
        ]
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        assert_eq!(
            words,
            [
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "success",
                "skipped",
                "timed_out"
            ]
        );
        assert_eq!(
            serde_json::to_value(AnnotationLevel::Notice).unwrap(),
            "notice"
        );
    }
}
