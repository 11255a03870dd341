//! The delivery loop both notification clients share: one request per attempt, waits
//! from `Retry-After` or exponential backoff, and errors that never carry a secret.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use super::{Delivered, NotifyError, RetrySettings};

/// The `User-Agent` of every notification request.
const USER_AGENT: &str = concat!("bosun/", env!("CARGO_PKG_VERSION"));
/// How much of a refusal's body is kept for the error message.
const MAX_ERROR_BODY_BYTES: usize = 512;

/// An HTTP client with the retry policy it applies.
#[derive(Debug)]
pub(super) struct RetryingClient {
    /// The build error is kept rather than panicking in a constructor that returns `Self`.
    client: Result<Client, String>,
    settings: RetrySettings,
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    /// Retry after the wait; `last_status` and `last` describe the failure.
    Retry {
        wait: Duration,
        last_status: Option<u16>,
        last: String,
    },
    Fail(NotifyError),
}

impl RetryingClient {
    pub(super) fn new(settings: RetrySettings) -> Self {
        let client = Client::builder()
            .user_agent(USER_AGENT)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirected POST would be replayed elsewhere as a GET; treat it as refused.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| describe_error(&error));
        Self { client, settings }
    }

    /// Sends the request `build` makes until it is accepted, refused, or attempts run
    /// out. `target` names the receiver in errors and logs; any occurrence of the
    /// strings in `secrets` in an error text is replaced.
    pub(super) async fn send(
        &self,
        target: &str,
        secrets: &[&str],
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Delivered, NotifyError> {
        let client = self.client.as_ref().map_err(|reason| NotifyError::Client {
            target: target.to_owned(),
            reason: reason.clone(),
        })?;
        let max_attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = match build(client).send().await {
                Ok(response) => self.judge(response, target, attempt).await,
                Err(error) if error.is_builder() => Attempt::Fail(NotifyError::Client {
                    target: target.to_owned(),
                    reason: redact(describe_error(&error), secrets),
                }),
                Err(error) => Attempt::Retry {
                    wait: self.backoff(attempt),
                    last_status: None,
                    last: redact(self.describe_send_error(&error), secrets),
                },
            };
            match outcome {
                Attempt::Delivered(status) => {
                    return Ok(Delivered {
                        attempts: attempt,
                        status,
                    });
                }
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry {
                    last_status, last, ..
                } if attempt >= max_attempts => {
                    return Err(NotifyError::GaveUp {
                        target: target.to_owned(),
                        attempts: attempt,
                        last_status,
                        last,
                    });
                }
                Attempt::Retry { wait, last, .. } => {
                    tracing::warn!(
                        notify_target = target,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = %last,
                        "notification attempt failed; retrying",
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn judge(&self, response: Response, target: &str, attempt: u32) -> Attempt {
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered(status.as_u16());
        }
        let retry_after = retry_after(response.headers());
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN && retry_after.is_some());
        if rate_limited {
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
            return Attempt::Retry {
                wait: wait.min(self.settings.max_wait),
                last_status: Some(status.as_u16()),
                last: format!("HTTP {}", status.as_u16()),
            };
        }
        if status.is_server_error() {
            return Attempt::Retry {
                wait: self.backoff(attempt),
                last_status: Some(status.as_u16()),
                last: format!("HTTP {}", status.as_u16()),
            };
        }
        Attempt::Fail(NotifyError::Rejected {
            target: target.to_owned(),
            status: status.as_u16(),
            body: error_body(response).await,
        })
    }

    /// `base_backoff` doubled for each attempt after the first, at most `max_wait`.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.settings
            .base_backoff
            .saturating_mul(factor)
            .min(self.settings.max_wait)
    }

    fn describe_send_error(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            format!("no answer within {:?}", self.settings.timeout)
        } else {
            describe_error(error)
        }
    }
}

/// `Retry-After` in seconds; the HTTP-date form is not honoured and falls back to backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// The error and its causes, without the request URL reqwest would otherwise print.
fn describe_error(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = current {
        let line = match cause.downcast_ref::<reqwest::Error>() {
            // `without_url` needs ownership; rebuild the message from the kind instead.
            Some(inner) => describe_kind(inner),
            None => cause.to_string(),
        };
        if !line.is_empty() && !text.contains(&line) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&line);
        }
        current = cause.source();
    }
    text
}

fn describe_kind(error: &reqwest::Error) -> String {
    let kind = if error.is_builder() {
        "the request could not be built"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_request() {
        "sending the request failed"
    } else if error.is_body() || error.is_decode() {
        "reading the answer failed"
    } else {
        "HTTP client error"
    };
    kind.to_owned()
}

fn redact(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    text
}

/// The start of a refusal's body as one printable line.
async fn error_body(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_ERROR_BODY_BYTES);
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn settings(base_ms: u64, max_ms: u64) -> RetrySettings {
        RetrySettings {
            base_backoff: Duration::from_millis(base_ms),
            max_wait: Duration::from_millis(max_ms),
            ..RetrySettings::default()
        }
    }

    #[test]
    fn backoff_doubles_and_stops_at_max_wait() {
        let client = RetryingClient::new(settings(100, 1000));
        let waits: Vec<u128> = (1..=6).map(|a| client.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(client.backoff(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn redact_replaces_every_secret() {
        let text = "failed for https://x/T1/secret and /T1/secret".to_owned();
        assert_eq!(
            redact(text, &["https://x/T1/secret", "/T1/secret", ""]),
            "failed for <redacted> and <redacted>"
        );
    }
}
