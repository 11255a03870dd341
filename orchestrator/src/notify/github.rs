//! Setting GitHub commit statuses (`bosun/<stage>` checks on a commit or pull request);
//! the same client also makes check runs (`checks.rs`) and pull-request comments
//! (`comments.rs`).

use reqwest::Url;
use reqwest::header::ACCEPT;
use serde::Serialize;

use super::retry::RetryingClient;
use super::{Delivered, NotifyError, RetrySettings};

/// GitHub refuses longer status descriptions.
pub const MAX_DESCRIPTION_CHARS: usize = 140;
pub(super) const API_VERSION: &str = "2022-11-28";
const MIN_SHA_LEN: usize = 7;
const MAX_SHA_LEN: usize = 64;
/// Longest repository or sha repeated in a refusal.
const MAX_ECHOED_CHARS: usize = 100;

/// The state of one status context on a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

/// One commit status as GitHub shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub state: StatusState,
    /// The check's name, `bosun/<stage>`; a later status with the same context replaces
    /// this one.
    pub context: String,
    /// One line for the check list; cut to [`MAX_DESCRIPTION_CHARS`] when sent.
    pub description: String,
    /// Where "Details" leads, e.g. the run's dashboard page.
    pub target_url: Option<String>,
}

/// The JSON GitHub expects.
#[derive(Serialize)]
struct StatusBody<'a> {
    state: StatusState,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<&'a str>,
    description: String,
    context: &'a str,
}

/// Sets commit statuses through the GitHub REST API.
pub struct GitHubStatuses {
    /// The API root without its trailing slash, `None` when it does not parse.
    pub(super) api_base: Option<String>,
    token: Option<String>,
    pub(super) client: RetryingClient,
}

impl std::fmt::Debug for GitHubStatuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubStatuses")
            .field("api_base", &self.api_base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl GitHubStatuses {
    /// `api_base` is `https://api.github.com` or a GitHub Enterprise `…/api/v3`; without a
    /// token requests go unauthenticated (useful only against test receivers).
    pub fn new(api_base: &str, token: Option<String>, settings: RetrySettings) -> Self {
        let api_base = api_base.trim().trim_end_matches('/');
        let valid = Url::parse(api_base)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        Self {
            api_base: valid.then(|| api_base.to_owned()),
            token: token.filter(|token| !token.is_empty()),
            client: RetryingClient::new(settings),
        }
    }

    /// Sets `status` on commit `sha` of `repository` (`owner/name`). Both are checked
    /// before any request is made.
    pub async fn set(
        &self,
        repository: &str,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<Delivered, NotifyError> {
        self.set_with(self.token.as_deref(), repository, sha, status)
            .await
    }

    /// Like [`GitHubStatuses::set`], with a tenant's own token instead of the client's.
    pub async fn set_as(
        &self,
        token: &str,
        repository: &str,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<Delivered, NotifyError> {
        self.set_with(
            Some(token).filter(|t| !t.is_empty()),
            repository,
            sha,
            status,
        )
        .await
    }

    async fn set_with(
        &self,
        token: Option<&str>,
        repository: &str,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<Delivered, NotifyError> {
        let (owner, name) = split_repository(repository)?;
        check_sha(sha)?;
        let short_sha: String = sha.chars().take(12).collect();
        let target = format!(
            "the GitHub status `{}` on {repository}@{short_sha}",
            status.context
        );
        let url = self
            .api_base
            .as_ref()
            .and_then(|base| {
                Url::parse(&format!("{base}/repos/{owner}/{name}/statuses/{sha}")).ok()
            })
            .ok_or_else(|| NotifyError::InvalidUrl {
                target: target.clone(),
            })?;
        let body = StatusBody {
            state: status.state,
            target_url: status.target_url.as_deref(),
            description: truncate_description(&status.description),
            context: &status.context,
        };
        let secrets = [token.unwrap_or_default()];
        self.client
            .send(&target, &secrets, |client| {
                let request = client
                    .post(url.clone())
                    .header(ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", API_VERSION)
                    .json(&body);
                match token {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            })
            .await
    }
}

/// Splits `owner/name`, refusing anything that could change the URL's path.
pub(super) fn split_repository(repository: &str) -> Result<(&str, &str), NotifyError> {
    let refuse = |reason: &str| NotifyError::InvalidRepository {
        repository: repository.chars().take(MAX_ECHOED_CHARS).collect(),
        reason: reason.to_owned(),
    };
    let Some((owner, name)) = repository.split_once('/') else {
        return Err(refuse("expected `owner/name`"));
    };
    if name.contains('/') {
        return Err(refuse("expected exactly one `/`"));
    }
    for part in [owner, name] {
        if part.is_empty() {
            return Err(refuse("owner and name must not be empty"));
        }
        if part.contains("..") || part == "." {
            return Err(refuse("`.` and `..` are not names"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !part.chars().all(allowed) {
            return Err(refuse(
                "only letters, digits, `-`, `_` and `.` may appear in owner and name",
            ));
        }
    }
    Ok((owner, name))
}

pub(super) fn check_sha(sha: &str) -> Result<(), NotifyError> {
    let length_ok = (MIN_SHA_LEN..=MAX_SHA_LEN).contains(&sha.len());
    if length_ok && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(NotifyError::InvalidSha {
            sha: sha.chars().take(MAX_ECHOED_CHARS).collect(),
        })
    }
}

/// Cuts a description to GitHub's limit on a character boundary, ending it with `…`
/// so a reader can tell it was cut.
fn truncate_description(description: &str) -> String {
    if description.chars().count() <= MAX_DESCRIPTION_CHARS {
        return description.to_owned();
    }
    let mut cut: String = description
        .chars()
        .take(MAX_DESCRIPTION_CHARS - 1)
        .collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_plain_owner_and_name() {
        assert_eq!(
            split_repository("octo-org/hello.world_2").unwrap(),
            ("octo-org", "hello.world_2")
        );
        for bad in [
            "octo", "/name", "owner/", "a/b/c", "../etc", "owner/..", "o/.", "o/a..b", "o/na me",
            "o/n%2F", "o/n?x", "o\\n/x",
        ] {
            assert!(split_repository(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn shas_are_7_to_64_hex_digits() {
        assert!(check_sha("abc1234").is_ok());
        assert!(check_sha(&"A".repeat(64)).is_ok());
        for bad in ["abc123", "g123456", "abc1234/..", "", &"a".repeat(65)] {
            assert!(check_sha(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn short_descriptions_are_kept_whole() {
        let exact = "é".repeat(MAX_DESCRIPTION_CHARS);
        assert_eq!(truncate_description(&exact), exact);
    }

    #[test]
    fn long_descriptions_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_DESCRIPTION_CHARS + 1);
        let cut = truncate_description(&long);
        assert_eq!(cut.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(cut.ends_with('…'));
        assert!(long.starts_with(cut.trim_end_matches('…')));
    }
}
