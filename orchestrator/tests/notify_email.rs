//! Email delivery against the real test SMTP server (aiosmtpd with STARTTLS and AUTH,
//! started by `scripts/services.sh`): the message read back from its maildir with its
//! text and HTML parts, a wrong password refused once with the relay's reply and never
//! the password, a relay that is down retried then given up, a relay whose certificate
//! is not trusted refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bosun_orchestrator::notify::{
    Delivered, EmailClient, EmailContent, NotifyError, RetrySettings,
};
use bosun_orchestrator::settings::{EmailSettings, Secret};
use bosun_test_support::{
    TestSmtp, assert_contains, delivered_to, unique_recipient, wait_for_mail,
};

/// Long enough that a test hanging on a wait it should not make fails instead.
const GUARD: Duration = Duration::from_secs(30);

fn quick(max_attempts: u32) -> RetrySettings {
    RetrySettings {
        max_attempts,
        max_wait: Duration::from_secs(1),
        base_backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(10),
    }
}

fn settings(smtp: &TestSmtp, recipient: &str) -> EmailSettings {
    EmailSettings {
        smtp_host: smtp.host.clone(),
        smtp_port: smtp.port,
        username: Some(smtp.user.clone()),
        password: Secret {
            value: Some(smtp.password.clone()),
            env: None,
        },
        from: "Bosun CI <ci@bosun.test>".into(),
        to: vec![recipient.to_string()],
        ca_file: Some(smtp.ca_file.clone()),
        notifier: "email".into(),
    }
}

fn content() -> EmailContent {
    EmailContent {
        subject: "Failure: acme/shop on main".into(),
        text: "security failed\nHIGH B602 src/shop/app.py:12: subprocess call with shell=True\n"
            .into(),
        html: "<p><b>security</b> failed</p><ul><li>HIGH B602 src/shop/app.py:12</li></ul>".into(),
    }
}

async fn send(settings: RetrySettings, email: &EmailSettings) -> Result<Delivered, NotifyError> {
    let client = EmailClient::new(settings);
    tokio::time::timeout(GUARD, client.send("tenant acme", email, &content()))
        .await
        .expect("the send should finish well within the guard")
}

#[tokio::test]
async fn email_arrives_over_starttls_with_text_and_html_parts() {
    let Some(smtp) = TestSmtp::find("email_arrives_over_starttls_with_text_and_html_parts") else {
        return;
    };
    let to = unique_recipient("arrives");
    let delivered = send(quick(3), &settings(&smtp, &to)).await.unwrap();
    assert_eq!(
        delivered,
        Delivered {
            attempts: 1,
            status: 250
        }
    );
    let mail = wait_for_mail(&smtp.maildir, &to, 1, GUARD).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let mail = &mail[0];
    assert_eq!(mail.envelope_to, std::slice::from_ref(&to));
    assert_eq!(mail.subject, "Failure: acme/shop on main");
    assert_contains(&mail.from, "ci@bosun.test");
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_contains(&mail.text, "HIGH B602 src/shop/app.py:12");
    assert_contains(&mail.html, "<li>HIGH B602 src/shop/app.py:12</li>");
    assert_contains(&mail.raw, "Message-ID:");
}

#[tokio::test]
async fn email_with_a_wrong_password_is_refused_once_naming_the_relay_not_the_password() {
    let Some(smtp) = TestSmtp::find("email_with_a_wrong_password_is_refused_once") else {
        return;
    };
    let to = unique_recipient("wrong-password");
    let mut email = settings(&smtp, &to);
    email.password.value = Some("n0t-th3-p4ssw0rd".into());
    let error = send(quick(5), &email).await.unwrap_err();
    match &error {
        NotifyError::SmtpRefused { code, .. } => assert_eq!(*code, 535, "{error}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let shown = format!("{error} {error:?}");
    assert_contains(
        &shown,
        &format!("the SMTP relay {}:{} for tenant acme", smtp.host, smtp.port),
    );
    assert_contains(&shown, "SMTP 535");
    assert!(
        !shown.contains("n0t-th3-p4ssw0rd"),
        "the password leaked: {shown}"
    );
    assert!(delivered_to(&smtp.maildir, &to).is_empty());
}

#[tokio::test]
async fn email_to_a_relay_that_is_down_is_retried_then_given_up() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let email = EmailSettings {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        username: None,
        password: Secret::default(),
        from: "ci@bosun.test".into(),
        to: vec!["dev@bosun.test".into()],
        ca_file: None,
        notifier: "email".into(),
    };
    let error = send(quick(3), &email).await.unwrap_err();
    match &error {
        NotifyError::GaveUp { attempts, .. } => assert_eq!(*attempts, 3, "{error}"),
        other => panic!("expected to give up after retries, got {other:?}"),
    }
    assert_contains(
        error.to_string(),
        &format!("the SMTP relay 127.0.0.1:{port} for tenant acme"),
    );
}

#[tokio::test]
async fn email_to_a_relay_whose_certificate_is_not_trusted_is_refused() {
    let Some(smtp) = TestSmtp::find("email_to_a_relay_whose_certificate_is_not_trusted") else {
        return;
    };
    let to = unique_recipient("untrusted");
    let mut email = settings(&smtp, &to);
    // Only the built-in web roots: the test CA is not among them.
    email.ca_file = None;
    let error = send(quick(5), &email).await.unwrap_err();
    assert!(matches!(error, NotifyError::Client { .. }), "{error:?}");
    assert_contains(error.to_string().to_lowercase(), "certificate");
    assert!(delivered_to(&smtp.maildir, &to).is_empty());
}
