//! GitHub commit statuses against a real local receiver: path, headers, JSON body,
//! description truncation, secondary rate limits, and inputs refused before any request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bosun_orchestrator::notify::{
    CommitStatus, Delivered, GitHubStatuses, MAX_DESCRIPTION_CHARS, NotifyError, RetrySettings,
    StatusState,
};
use bosun_test_support::{Receiver, Reply, assert_contains, closed_port_url};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_bosunTestToken123";
const REPOSITORY: &str = "Codertocat/Hello-World";
const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const GUARD: Duration = Duration::from_secs(20);

fn quick(max_attempts: u32) -> RetrySettings {
    RetrySettings {
        max_attempts,
        max_wait: Duration::from_secs(60),
        base_backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    }
}

fn status(state: StatusState, description: &str) -> CommitStatus {
    CommitStatus {
        state,
        context: "bosun/test".to_owned(),
        description: description.to_owned(),
        target_url: Some("https://bosun.example/runs/42".to_owned()),
    }
}

async fn set(
    statuses: &GitHubStatuses,
    repository: &str,
    sha: &str,
    status: &CommitStatus,
) -> Result<Delivered, NotifyError> {
    tokio::time::timeout(GUARD, statuses.set(repository, sha, status))
        .await
        .expect("setting the status should finish well within the guard")
}

fn body_of(receiver: &Receiver) -> Value {
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    serde_json::from_slice(&requests[0].body).unwrap()
}

#[tokio::test]
async fn github_status_posted_with_path_headers_and_body() {
    let receiver = Receiver::start(vec![Reply::status(201).body("{}")]).await;
    let statuses = GitHubStatuses::new(&receiver.base, Some(TOKEN.to_owned()), quick(5));
    let sent = status(StatusState::Success, "12 tests passed");
    let delivered = set(&statuses, REPOSITORY, SHA, &sent).await.unwrap();
    assert_eq!(
        delivered,
        Delivered {
            attempts: 1,
            status: 201
        }
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/repos/{REPOSITORY}/statuses/{SHA}"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("bosun/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        body_of(&receiver),
        json!({
            "state": "success",
            "target_url": "https://bosun.example/runs/42",
            "description": "12 tests passed",
            "context": "bosun/test",
        })
    );
}

#[tokio::test]
async fn github_status_without_token_or_target_url_omits_them() {
    let receiver = Receiver::start(Vec::new()).await;
    // A trailing slash on the API base must not double the path's slash.
    let statuses = GitHubStatuses::new(&format!("{}/", receiver.base), None, quick(5));
    let sent = CommitStatus {
        target_url: None,
        ..status(StatusState::Pending, "queued")
    };
    set(&statuses, REPOSITORY, SHA, &sent).await.unwrap();
    let requests = receiver.requests();
    assert_eq!(
        requests[0].path,
        format!("/repos/{REPOSITORY}/statuses/{SHA}")
    );
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(
        body_of(&receiver),
        json!({"state": "pending", "description": "queued", "context": "bosun/test"})
    );
}

#[tokio::test]
async fn github_every_state_is_sent_lowercase() {
    for (state, word) in [
        (StatusState::Pending, "pending"),
        (StatusState::Success, "success"),
        (StatusState::Failure, "failure"),
        (StatusState::Error, "error"),
    ] {
        let receiver = Receiver::start(Vec::new()).await;
        let statuses = GitHubStatuses::new(&receiver.base, None, quick(5));
        set(&statuses, REPOSITORY, SHA, &status(state, "x"))
            .await
            .unwrap();
        assert_eq!(body_of(&receiver)["state"], word);
    }
}

#[tokio::test]
async fn github_long_description_is_cut_to_the_limit() {
    let receiver = Receiver::start(Vec::new()).await;
    let statuses = GitHubStatuses::new(&receiver.base, None, quick(5));
    let long = "lint: 3 findings in ünïcödé paths ".repeat(10);
    set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Failure, &long),
    )
    .await
    .unwrap();
    let body = body_of(&receiver);
    let sent = body["description"].as_str().unwrap();
    assert_eq!(sent.chars().count(), MAX_DESCRIPTION_CHARS);
    assert!(sent.ends_with('…'), "{sent}");
    assert!(long.starts_with(sent.trim_end_matches('…')), "{sent}");
}

#[tokio::test]
async fn github_description_at_the_limit_is_sent_whole() {
    let receiver = Receiver::start(Vec::new()).await;
    let statuses = GitHubStatuses::new(&receiver.base, None, quick(5));
    let exact = "ü".repeat(MAX_DESCRIPTION_CHARS);
    set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Failure, &exact),
    )
    .await
    .unwrap();
    assert_eq!(body_of(&receiver)["description"], exact.as_str());
}

#[tokio::test]
async fn github_bad_repository_or_sha_refused_without_a_request() {
    let receiver = Receiver::start(Vec::new()).await;
    let statuses = GitHubStatuses::new(&receiver.base, Some(TOKEN.to_owned()), quick(5));
    let sent = status(StatusState::Success, "ok");
    for repository in [
        "Hello-World",
        "Codertocat/Hello-World/extra",
        "../Hello-World",
        "Codertocat/..",
        "Codertocat/Hello World",
        "Codertocat/Hello-World?ref=x",
        "/Hello-World",
        "Codertocat/",
    ] {
        let error = set(&statuses, repository, SHA, &sent).await.unwrap_err();
        assert!(
            matches!(error, NotifyError::InvalidRepository { .. }),
            "{repository}: {error:?}"
        );
    }
    for sha in [
        "ec26c3",
        "not-hex-at-all",
        "ec26c3e/../x",
        &"a".repeat(65),
        "",
    ] {
        let error = set(&statuses, REPOSITORY, sha, &sent).await.unwrap_err();
        assert!(
            matches!(error, NotifyError::InvalidSha { .. }),
            "{sha}: {error:?}"
        );
    }
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn github_secondary_rate_limit_403_with_retry_after_is_retried() {
    let receiver = Receiver::start(vec![
        Reply::status(403)
            .header("retry-after", "1")
            .body(r#"{"message":"You have exceeded a secondary rate limit"}"#),
    ])
    .await;
    let statuses = GitHubStatuses::new(&receiver.base, Some(TOKEN.to_owned()), quick(5));
    let delivered = set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Success, "ok"),
    )
    .await
    .unwrap();
    assert_eq!(delivered.attempts, 2);
    let requests = receiver.requests();
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after only {gap:?}");
}

#[tokio::test]
async fn github_403_without_retry_after_fails_at_once() {
    let receiver = Receiver::start(vec![
        Reply::status(403).body(r#"{"message":"Resource not accessible by integration"}"#),
    ])
    .await;
    let statuses = GitHubStatuses::new(&receiver.base, Some(TOKEN.to_owned()), quick(5));
    let error = set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Success, "ok"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, NotifyError::Rejected { status: 403, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert_contains(&message, "Resource not accessible");
    assert_contains(
        &message,
        "the GitHub status `bosun/test` on Codertocat/Hello-World@ec26c3e57ca3",
    );
    assert!(!format!("{message} {error:?}").contains(TOKEN));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn github_server_errors_are_retried() {
    let receiver = Receiver::start(vec![Reply::status(502), Reply::status(500)]).await;
    let statuses = GitHubStatuses::new(&receiver.base, None, quick(5));
    let delivered = set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Error, "agent lost"),
    )
    .await
    .unwrap();
    assert_eq!(delivered.attempts, 3);
    assert_eq!(receiver.requests().len(), 3);
}

#[tokio::test]
async fn github_unreachable_api_gives_up_after_max_attempts() {
    let base = closed_port_url("").await;
    let statuses = GitHubStatuses::new(&base, Some(TOKEN.to_owned()), quick(2));
    let error = set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Success, "ok"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, NotifyError::GaveUp { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains(TOKEN));
}

#[tokio::test]
async fn github_invalid_api_base_is_refused() {
    let statuses = GitHubStatuses::new("api.github.com", None, quick(5));
    let error = set(
        &statuses,
        REPOSITORY,
        SHA,
        &status(StatusState::Success, "ok"),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, NotifyError::InvalidUrl { .. }), "{error:?}");
}

#[test]
fn github_client_debug_hides_the_token() {
    let statuses = GitHubStatuses::new("https://api.github.com", Some(TOKEN.to_owned()), quick(5));
    let shown = format!("{statuses:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert_contains(&shown, "<redacted>");
}
