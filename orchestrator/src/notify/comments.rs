//! The one summary comment Bosun keeps on a pull request: created once, then edited in
//! place (`PATCH /repos/{owner}/{repo}/issues/comments/{id}`) on each new push. Its
//! body starts with a hidden marker so people (and Bosun) can tell it is Bosun's.

use serde::Serialize;

use super::NotifyError;
use super::checks::cut_markdown;
use super::github::GitHubStatuses;

/// The first line of every summary comment; hidden when GitHub renders it.
pub const COMMENT_MARKER: &str = "<!-- bosun:run-summary -->";
/// The longest comment body GitHub accepts, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

#[derive(Serialize)]
struct CommentBody<'a> {
    body: &'a str,
}

/// What became of a summary comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentPosted {
    /// The comment's id, to edit next time.
    pub id: u64,
    /// `false` when a new comment was made.
    pub edited: bool,
    /// Attempts in all, retries included.
    pub attempts: u32,
}

impl GitHubStatuses {
    /// Edits comment `existing` of pull request `number` to `body`, or creates the
    /// comment when there is none yet or it was deleted (GitHub answers 404).
    pub async fn upsert_pull_request_comment(
        &self,
        token: &str,
        repository: &str,
        number: u64,
        existing: Option<u64>,
        body: &str,
    ) -> Result<CommentPosted, NotifyError> {
        let text = if body.starts_with(COMMENT_MARKER) {
            body.to_owned()
        } else {
            format!("{COMMENT_MARKER}\n{body}")
        };
        let text = cut_markdown(&text, MAX_COMMENT_CHARS);
        let body = CommentBody { body: &text };
        let target = format!("the Bosun comment on {repository}#{number}");
        if let Some(id) = existing {
            let path = format!("issues/comments/{id}");
            match self.patch(token, repository, &target, &path, &body).await {
                Ok(attempts) => {
                    return Ok(CommentPosted {
                        id,
                        edited: true,
                        attempts,
                    });
                }
                // Someone deleted it: make a new one.
                Err(NotifyError::Rejected { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let path = format!("issues/{number}/comments");
        let (id, attempts) = self
            .post_created(token, repository, &target, &path, &body)
            .await?;
        Ok(CommentPosted {
            id,
            edited: false,
            attempts,
        })
    }
}
