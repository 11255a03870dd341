//! Sending run emails over SMTP: the notifier plugin's subject, text and HTML as one
//! `multipart/alternative` message, always over STARTTLS (a relay that does not offer
//! it is refused), with the tenant's login; retried like the Slack client's posts (4xx
//! replies and connection failures back off, 5xx replies fail at once). The password
//! never appears in an error.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::{Delivered, NotifyError, RetrySettings};
use crate::settings::EmailSettings;

/// Longest subject kept, in characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// What an email notifier plugin returns (as JSON): the subject, the plain-text body
/// and the HTML body of one message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailContent {
    /// One line; control characters become spaces.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

impl EmailContent {
    /// Reads a notifier's answer; the error names the notifier and what is wrong.
    pub fn parse(body: &str, notifier: &str) -> Result<EmailContent, String> {
        let content: EmailContent = serde_json::from_str(body).map_err(|e| {
            format!("notifier {notifier} did not return an email (JSON with subject, text and html): {e}")
        })?;
        if content.subject.trim().is_empty() || content.text.trim().is_empty() {
            return Err(format!(
                "notifier {notifier} returned an email with an empty subject or text"
            ));
        }
        Ok(content)
    }

    fn clean_subject(&self) -> String {
        let line: String = self
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_SUBJECT_CHARS)
            .collect();
        line.trim().to_string()
    }
}

/// Sends emails with one retry policy.
#[derive(Debug)]
pub struct EmailClient {
    settings: RetrySettings,
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    Retry {
        last_status: Option<u16>,
        last: String,
    },
    Fail(NotifyError),
}

impl EmailClient {
    pub fn new(settings: RetrySettings) -> Self {
        Self { settings }
    }

    /// Sends `content` to `email`'s recipients through its relay. `label` names the
    /// sender in errors and logs, e.g. `tenant acme`.
    pub async fn send(
        &self,
        label: &str,
        email: &EmailSettings,
        content: &EmailContent,
    ) -> Result<Delivered, NotifyError> {
        let target = format!(
            "the SMTP relay {}:{} for {label}",
            email.smtp_host, email.smtp_port
        );
        let client_error = |reason: String| NotifyError::Client {
            target: target.clone(),
            reason,
        };
        let password = email.password.resolve();
        let message = message(email, content).map_err(client_error)?;
        let transport = self
            .transport(email, password.as_deref())
            .await
            .map_err(client_error)?;
        let secrets: Vec<&str> = password.as_deref().into_iter().collect();
        let max_attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = match transport.send(message.clone()).await {
                Ok(response) => Attempt::Delivered(u16::from(response.code())),
                Err(error) => judge(&error, &target, &secrets),
            };
            match outcome {
                Attempt::Delivered(status) => {
                    return Ok(Delivered {
                        attempts: attempt,
                        status,
                    });
                }
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { last_status, last } if attempt >= max_attempts => {
                    return Err(NotifyError::GaveUp {
                        target,
                        attempts: attempt,
                        last_status,
                        last,
                    });
                }
                Attempt::Retry { last, .. } => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(
                        notify_target = %target,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = %last,
                        "email attempt failed; retrying",
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The relay's transport: STARTTLS required, the built-in web roots plus the
    /// settings' CA file, the login when there is one.
    async fn transport(
        &self,
        email: &EmailSettings,
        password: Option<&str>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let mut tls = TlsParameters::builder(email.smtp_host.clone());
        if let Some(ca_file) = &email.ca_file {
            let pem = tokio::fs::read(ca_file)
                .await
                .map_err(|e| format!("cannot read email.ca_file {}: {e}", ca_file.display()))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "email.ca_file {} holds no PEM certificate: {e}",
                    ca_file.display()
                )
            })?;
            tls = tls.add_root_certificate(certificate);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(email.smtp_host.as_str())
                .port(email.smtp_port)
                .tls(Tls::Required(tls))
                .timeout(Some(self.settings.timeout));
        match (&email.username, password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
            }
            (Some(_), None) => {
                return Err(
                    "email.password is configured but empty or its variable unset".to_string(),
                );
            }
            (None, _) => {}
        }
        Ok(builder.build())
    }

    /// `base_backoff` doubled for each attempt after the first, at most `max_wait`.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.settings
            .base_backoff
            .saturating_mul(factor)
            .min(self.settings.max_wait)
    }
}

/// The message: sender, recipients, subject and the two bodies as alternatives.
fn message(email: &EmailSettings, content: &EmailContent) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(email.sender()?)
        .subject(content.clean_subject())
        .message_id(None);
    let recipients: Vec<Mailbox> = email.recipients()?;
    if recipients.is_empty() {
        return Err("email.to lists no recipient".into());
    }
    for to in recipients {
        builder = builder.to(to);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            content.text.clone(),
            content.html.clone(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// Whether a failed attempt is worth another: 4xx replies, connection, network and
/// time-outs are; 5xx replies, TLS (a certificate not trusted) and client errors are not.
fn judge(error: &lettre::transport::smtp::Error, target: &str, secrets: &[&str]) -> Attempt {
    let text = redact(describe(error), secrets);
    let code = error.status().map(u16::from);
    if error.is_permanent() {
        return Attempt::Fail(NotifyError::SmtpRefused {
            target: target.to_string(),
            code: code.unwrap_or(0),
            reply: text,
        });
    }
    if error.is_tls() || error.is_client() || error.is_transport_shutdown() || bad_tls(error) {
        return Attempt::Fail(NotifyError::Client {
            target: target.to_string(),
            reason: text,
        });
    }
    Attempt::Retry {
        last_status: code,
        last: text,
    }
}

/// A handshake the relay's certificate failed (rustls reports it through tokio as an
/// `InvalidData` I/O error inside a connection error): trying again cannot fix it.
fn bad_tls(error: &lettre::transport::smtp::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = current {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            return true;
        }
        current = cause.source();
    }
    false
}

/// The error and its causes on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut current = Some(error);
    while let Some(cause) = current {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&line);
        }
        current = cause.source();
    }
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn redact(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notifier_answer_reads_as_subject_text_and_html() {
        let content = EmailContent::parse(
            r#"{"subject":"Failure:\nacme/shop","text":"security failed","html":"<p>x</p>"}"#,
            "email",
        )
        .unwrap();
        assert_eq!(content.clean_subject(), "Failure: acme/shop");
        let error = EmailContent::parse(r#"{"blocks":[]}"#, "slack").unwrap_err();
        assert!(
            error.starts_with("notifier slack did not return an email"),
            "{error}"
        );
        let error =
            EmailContent::parse(r#"{"subject":" ","text":"x","html":""}"#, "email").unwrap_err();
        assert!(error.contains("empty subject"), "{error}");
    }
}
