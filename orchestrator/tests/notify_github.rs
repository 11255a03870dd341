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

// ---- Check runs and the pull request comment, against the GitHub stand-in, which
// checks every request against GitHub's documented shapes and limits.

use bosun_orchestrator::notify::{
    Annotation, AnnotationLevel, CheckConclusion, CheckOutput, CheckRunFinish, CheckRunStart,
    MAX_ANNOTATIONS_PER_REQUEST, MAX_SUMMARY_CHARS,
};

fn check_start() -> CheckRunStart {
    CheckRunStart {
        name: "bosun/security".to_owned(),
        head_sha: SHA.to_owned(),
        external_id: "0192a3b4c5d-1f-2/security".to_owned(),
        details_url: Some("https://bosun.example/runs/0192a3b4c5d-1f-2".to_owned()),
        started_at_ms: 1_700_000_000_000,
    }
}

fn annotations(count: u32) -> Vec<Annotation> {
    (1..=count)
        .map(|line| Annotation {
            path: "src/shop/app.py".to_owned(),
            start_line: line,
            end_line: line,
            annotation_level: AnnotationLevel::Warning,
            message: format!("finding on line {line}"),
            title: Some("MEDIUM B105 (bandit)".to_owned()),
        })
        .collect()
}

fn finish(count: u32, summary: &str) -> CheckRunFinish {
    CheckRunFinish {
        conclusion: CheckConclusion::Failure,
        completed_at_ms: 1_700_000_060_000,
        output: CheckOutput {
            title: "security: HIGH B602 src/shop/app.py:12".to_owned(),
            summary: summary.to_owned(),
            annotations: annotations(count),
        },
    }
}

fn assert_documented(receiver: &Receiver) {
    let errors = receiver.shape_errors();
    assert!(
        errors.is_empty(),
        "requests GitHub would refuse: {errors:#?}"
    );
}

#[tokio::test]
async fn github_check_run_started_then_completed_with_annotations_in_batches_of_50() {
    let receiver = Receiver::github(Vec::new()).await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let id = github
        .start_check_run(TOKEN, REPOSITORY, &check_start())
        .await
        .unwrap();
    let done = github
        .finish_check_run(
            TOKEN,
            REPOSITORY,
            Some(id),
            &check_start(),
            &finish(120, "why"),
        )
        .await
        .unwrap();
    assert_eq!((done.id, done.requests), (id, 3));
    assert_documented(&receiver);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    let created: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(requests[0].path, format!("/repos/{REPOSITORY}/check-runs"));
    assert_eq!(
        created,
        json!({
            "name": "bosun/security",
            "head_sha": SHA,
            "details_url": "https://bosun.example/runs/0192a3b4c5d-1f-2",
            "external_id": "0192a3b4c5d-1f-2/security",
            "status": "in_progress",
            "started_at": "2023-11-14T22:13:20Z",
        })
    );
    let mut seen_lines = Vec::new();
    for (i, request) in requests[1..].iter().enumerate() {
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.path, format!("/repos/{REPOSITORY}/check-runs/{id}"));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let batch = body["output"]["annotations"].as_array().unwrap();
        assert!(batch.len() <= MAX_ANNOTATIONS_PER_REQUEST);
        seen_lines.extend(batch.iter().map(|a| a["start_line"].as_u64().unwrap()));
        if i == 0 {
            assert_eq!(body["status"], "completed");
            assert_eq!(body["conclusion"], "failure");
            assert_eq!(body["completed_at"], "2023-11-14T22:14:20Z");
        } else {
            // A further batch only adds annotations (with the required title and summary).
            assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
            assert_eq!(
                body["output"]["title"],
                "security: HIGH B602 src/shop/app.py:12"
            );
        }
    }
    assert_eq!(
        seen_lines,
        (1..=120).collect::<Vec<u64>>(),
        "every annotation once, in order"
    );
}

#[tokio::test]
async fn github_check_run_whose_creation_failed_is_created_completed() {
    let receiver = Receiver::github(Vec::new()).await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let done = github
        .finish_check_run(TOKEN, REPOSITORY, None, &check_start(), &finish(3, "why"))
        .await
        .unwrap();
    assert_eq!(done.requests, 1);
    assert_documented(&receiver);
    let body: Value = serde_json::from_slice(&receiver.requests()[0].body).unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["name"], "bosun/security");
    assert_eq!(body["external_id"], "0192a3b4c5d-1f-2/security");
    assert_eq!(body["output"]["annotations"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn github_check_run_summary_past_the_limit_is_cut_saying_so() {
    let receiver = Receiver::github(Vec::new()).await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let long = "ü".repeat(MAX_SUMMARY_CHARS + 5_000);
    github
        .finish_check_run(
            TOKEN,
            REPOSITORY,
            Some(7),
            &check_start(),
            &finish(0, &long),
        )
        .await
        .unwrap();
    assert_documented(&receiver);
    let body: Value = serde_json::from_slice(&receiver.requests()[0].body).unwrap();
    let sent = body["output"]["summary"].as_str().unwrap();
    assert!(sent.chars().count() <= MAX_SUMMARY_CHARS);
    assert_contains(sent, "more characters");
    assert!(body["output"].get("annotations").is_none(), "{body}");
}

#[tokio::test]
async fn github_check_run_summary_at_the_limit_is_sent_whole() {
    let receiver = Receiver::github(Vec::new()).await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let exact = "ü".repeat(MAX_SUMMARY_CHARS);
    github
        .finish_check_run(
            TOKEN,
            REPOSITORY,
            Some(7),
            &check_start(),
            &finish(0, &exact),
        )
        .await
        .unwrap();
    assert_documented(&receiver);
    let body: Value = serde_json::from_slice(&receiver.requests()[0].body).unwrap();
    assert_eq!(body["output"]["summary"], exact.as_str());
}

#[tokio::test]
async fn github_check_run_429_secondary_rate_limit_is_honoured_and_the_update_kept() {
    let receiver = Receiver::github(vec![
        Reply::status(429)
            .header("retry-after", "1")
            .body(r#"{"message":"You have exceeded a secondary rate limit"}"#),
    ])
    .await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let id = github
        .start_check_run(TOKEN, REPOSITORY, &check_start())
        .await
        .unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "the same creation, sent again");
    assert_eq!(requests[0].body, requests[1].body);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after only {gap:?}");
    assert!(id > 0);
    assert_documented(&receiver);
}

#[tokio::test]
async fn github_403_with_an_exhausted_rate_limit_waits_for_its_reset() {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let receiver = Receiver::github(vec![
        Reply::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string())
            .body(r#"{"message":"API rate limit exceeded"}"#),
    ])
    .await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    github
        .finish_check_run(TOKEN, REPOSITORY, Some(9), &check_start(), &finish(1, "x"))
        .await
        .unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after only {gap:?}");
}

#[tokio::test]
async fn github_pull_request_comment_is_created_once_then_edited_in_place() {
    let receiver = Receiver::github(Vec::new()).await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let first = github
        .upsert_pull_request_comment(TOKEN, REPOSITORY, 2, None, "run 1 failed")
        .await
        .unwrap();
    assert!(!first.edited);
    let second = github
        .upsert_pull_request_comment(TOKEN, REPOSITORY, 2, Some(first.id), "run 2 passed")
        .await
        .unwrap();
    assert_eq!((second.id, second.edited), (first.id, true));
    assert_documented(&receiver);
    let requests = receiver.requests();
    assert_eq!(requests[0].method, "POST");
    assert_eq!(
        requests[0].path,
        format!("/repos/{REPOSITORY}/issues/2/comments")
    );
    assert_eq!(requests[1].method, "PATCH");
    assert_eq!(
        requests[1].path,
        format!("/repos/{REPOSITORY}/issues/comments/{}", first.id)
    );
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let text = body["body"].as_str().unwrap();
    assert!(
        text.starts_with(bosun_orchestrator::notify::COMMENT_MARKER),
        "{text}"
    );
    assert_contains(text, "run 2 passed");
}

#[tokio::test]
async fn github_pull_request_comment_deleted_on_github_is_made_again() {
    let receiver = Receiver::github(Vec::new()).await;
    let github = GitHubStatuses::new(&receiver.base, None, quick(5));
    let first = github
        .upsert_pull_request_comment(TOKEN, REPOSITORY, 2, None, "run 1")
        .await
        .unwrap();
    receiver.delete_comments();
    let again = github
        .upsert_pull_request_comment(TOKEN, REPOSITORY, 2, Some(first.id), "run 2")
        .await
        .unwrap();
    assert!(!again.edited);
    assert_ne!(again.id, first.id);
    assert_eq!(receiver.requests().len(), 3, "PATCH 404, then one POST");
}

#[tokio::test]
async fn github_stand_in_refuses_what_github_would() {
    // The stand-in itself: a status with an undocumented state is a 422.
    let receiver = Receiver::github(Vec::new()).await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/repos/{REPOSITORY}/statuses/{SHA}",
            receiver.base
        ))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .json(&json!({"state": "passed", "context": "bosun"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(
        receiver.shape_errors().len(),
        1,
        "{:?}",
        receiver.shape_errors()
    );
}
