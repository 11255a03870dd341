//! Slack incoming-webhook delivery against a real local receiver: body and content type,
//! `Retry-After`, backoff on 5xx and connection errors, immediate refusal on 4xx, and
//! errors that never show the webhook URL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bosun_orchestrator::notify::{Delivered, NotifyError, RetrySettings, SlackClient};
use bosun_test_support::{Receiver, Reply, assert_contains, closed_port_url};

/// The part of a Slack webhook URL that is the credential.
const SECRET_PATH: &str = "/services/T0BOSUN/B0BOSUN/s3cr3tW3bh00kT0k3n";
const MESSAGE: &str = r#"{"text":"run 42 of acme/shop passed ✅","blocks":[]}"#;
/// Long enough that a test hanging on a wait it should not make fails instead.
const GUARD: Duration = Duration::from_secs(20);

fn quick(max_attempts: u32) -> RetrySettings {
    RetrySettings {
        max_attempts,
        max_wait: Duration::from_secs(60),
        base_backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    }
}

async fn post(settings: RetrySettings, url: &str) -> Result<Delivered, NotifyError> {
    let client = SlackClient::new(settings);
    tokio::time::timeout(GUARD, client.post("tenant acme", url, MESSAGE))
        .await
        .expect("the post should finish well within the guard")
}

fn assert_no_secret(error: &NotifyError) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cr3t"), "the webhook URL leaked: {shown}");
    assert_contains(&shown, "the Slack webhook for tenant acme");
}

#[tokio::test]
async fn slack_post_arrives_with_exact_body_and_json_content_type() {
    let receiver = Receiver::start(Vec::new()).await;
    let delivered = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap();
    assert_eq!(
        delivered,
        Delivered {
            attempts: 1,
            status: 200
        }
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, SECRET_PATH);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, MESSAGE.as_bytes());
    let agent = request.header("user-agent").unwrap();
    assert!(agent.starts_with("bosun/"), "{agent}");
}

#[tokio::test]
async fn slack_rate_limit_waits_retry_after_then_delivers() {
    let receiver = Receiver::start(vec![Reply::status(429).header("retry-after", "1")]).await;
    // The backoff is tiny, so a gap of a second can only come from Retry-After.
    let delivered = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.status, 200);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after only {gap:?}");
}

#[tokio::test]
async fn slack_retry_after_beyond_max_wait_is_cut_to_max_wait() {
    let receiver = Receiver::start(vec![Reply::status(429).header("retry-after", "3600")]).await;
    let settings = RetrySettings {
        max_wait: Duration::from_millis(20),
        ..quick(5)
    };
    let delivered = post(settings, &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 2);
}

#[tokio::test]
async fn slack_rate_limit_without_retry_after_backs_off_and_retries() {
    let receiver = Receiver::start(vec![Reply::status(429), Reply::status(429)]).await;
    let delivered = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 3);
}

#[tokio::test]
async fn slack_server_errors_are_retried() {
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(500)]).await;
    let delivered = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap();
    assert_eq!(
        delivered,
        Delivered {
            attempts: 3,
            status: 200
        }
    );
    assert_eq!(receiver.requests().len(), 3);
}

#[tokio::test]
async fn slack_server_errors_give_up_after_max_attempts_naming_the_last_status() {
    let script = vec![Reply::status(503); 4];
    let receiver = Receiver::start(script).await;
    let error = post(quick(3), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            NotifyError::GaveUp {
                attempts: 3,
                last_status: Some(503),
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert_contains(&message, "after 3 attempts");
    assert_contains(&message, "HTTP 503");
    assert_eq!(receiver.requests().len(), 3);
    assert_no_secret(&error);
}

#[tokio::test]
async fn slack_client_error_fails_at_once_with_status_and_body() {
    let receiver = Receiver::start(vec![Reply::status(400).body("invalid_payload")]).await;
    let error = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        NotifyError::Rejected {
            target: "the Slack webhook for tenant acme".to_owned(),
            status: 400,
            body: "invalid_payload".to_owned(),
        }
    );
    assert!(error.to_string().contains("HTTP 400"), "{error}");
    assert_eq!(receiver.requests().len(), 1);
    assert_no_secret(&error);
}

#[tokio::test]
async fn slack_refusal_body_is_capped_and_kept_on_one_line() {
    let long = format!("line one\nline two {}", "x".repeat(4000));
    let receiver = Receiver::start(vec![Reply::status(404).body(&long)]).await;
    let error = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap_err();
    let NotifyError::Rejected { status, body, .. } = error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert_eq!(status, 404);
    assert!(body.starts_with("line one line two x"), "{body}");
    assert!(body.len() <= 512, "{} bytes kept", body.len());
}

#[tokio::test]
async fn slack_unreachable_receiver_gives_up_after_max_attempts() {
    let url = closed_port_url(SECRET_PATH).await;
    let error = post(quick(3), &url).await.unwrap_err();
    assert!(
        matches!(
            error,
            NotifyError::GaveUp {
                attempts: 3,
                last_status: None,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert_contains(&message, "after 3 attempts");
    assert_contains(&message, "connection failed");
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert_no_secret(&error);
}

#[tokio::test]
async fn slack_answer_slower_than_the_timeout_counts_as_a_failed_attempt() {
    let slow = Reply::status(200).delayed(Duration::from_secs(30));
    let receiver = Receiver::start(vec![slow.clone(), slow]).await;
    let settings = RetrySettings {
        timeout: Duration::from_millis(200),
        ..quick(2)
    };
    let error = post(settings, &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap_err();
    assert!(
        matches!(error, NotifyError::GaveUp { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("no answer within"), "{error}");
    assert_eq!(receiver.requests().len(), 2);
    assert_no_secret(&error);
}

#[tokio::test]
async fn slack_redirect_is_a_refusal_not_followed() {
    let receiver = Receiver::start(vec![
        Reply::status(302).header("location", "http://127.0.0.1:9/elsewhere"),
    ])
    .await;
    let error = post(quick(5), &format!("{}{SECRET_PATH}", receiver.base))
        .await
        .unwrap_err();
    assert!(
        matches!(error, NotifyError::Rejected { status: 302, .. }),
        "{error:?}"
    );
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn slack_invalid_url_refused_without_showing_it() {
    for url in ["hooks.slack.com/services/s3cr3t", "ftp://host/s3cr3t", ""] {
        let error = post(quick(5), url).await.unwrap_err();
        assert!(
            matches!(error, NotifyError::InvalidUrl { .. }),
            "{url}: {error:?}"
        );
        assert_no_secret(&error);
    }
}
