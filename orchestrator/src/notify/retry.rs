//! The delivery loop every notification client shares: one request per attempt, waits
//! from `Retry-After`, GitHub's `x-ratelimit-reset` or exponential backoff, and errors
//! that never carry a secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use super::{Delivered, NotifyError, RetrySettings};

/// The `User-Agent` of every notification request.
const USER_AGENT: &str = concat!("bosun/", env!("CARGO_PKG_VERSION"));
/// How much of a refusal's body is kept for the error message.
const MAX_ERROR_BODY_BYTES: usize = 512;
/// How much of an accepted answer's body is read (a created check run echoes its
/// output, up to 65,535 characters of summary and as much text).
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// GitHub's advice for a secondary rate limit that names no time: wait at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// An HTTP client with the retry policy it applies.
#[derive(Debug)]
pub(super) struct RetryingClient {
    /// The build error is kept rather than panicking in a constructor that returns `Self`.
    client: Result<Client, String>,
    settings: RetrySettings,
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16, Vec<u8>),
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
        self.send_for_answer(target, secrets, build)
            .await
            .map(|(delivered, _)| delivered)
    }

    /// Like [`RetryingClient::send`], also giving the accepted answer's body (its
    /// first [`MAX_ANSWER_BYTES`]), for APIs that answer with the id of what they made.
    pub(super) async fn send_for_answer(
        &self,
        target: &str,
        secrets: &[&str],
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<(Delivered, Vec<u8>), NotifyError> {
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
                Attempt::Delivered(status, body) => {
                    let delivered = Delivered {
                        attempts: attempt,
                        status,
                    };
                    return Ok((delivered, body));
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
            return Attempt::Delivered(
                status.as_u16(),
                read_capped(response, MAX_ANSWER_BYTES).await,
            );
        }
        // GitHub: 429, or 403 with `retry-after`, an exhausted `x-ratelimit-remaining`,
        // or a body that says a secondary rate limit was hit.
        let limit_wait = rate_limit_wait(response.headers(), SystemTime::now());
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN && limit_wait.is_some());
        if rate_limited {
            let wait = limit_wait.unwrap_or_else(|| self.backoff(attempt));
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
        let body = error_body(response).await;
        if status == StatusCode::FORBIDDEN
            && body.to_ascii_lowercase().contains("secondary rate limit")
        {
            return Attempt::Retry {
                wait: SECONDARY_LIMIT_WAIT.min(self.settings.max_wait),
                last_status: Some(status.as_u16()),
                last: format!("HTTP {}: {body}", status.as_u16()),
            };
        }
        Attempt::Fail(NotifyError::Rejected {
            target: target.to_owned(),
            status: status.as_u16(),
            body,
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

/// How long a rate-limited answer asks to wait: `Retry-After` first, else, when
/// `x-ratelimit-remaining` is 0, until `x-ratelimit-reset` (UTC epoch seconds), as
/// GitHub's REST documentation says to.
fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(wait) = retry_after(headers) {
        return Some(wait);
    }
    let header = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if header("x-ratelimit-remaining")? != 0 {
        return None;
    }
    let reset = header("x-ratelimit-reset")?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    // A reset already past (clocks differ) still means "not now": a second.
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
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

/// The first `limit` bytes of an answer's body (less when reading fails).
async fn read_capped(mut response: Response, limit: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(limit);
    bytes
}

/// The start of a refusal's body as one printable line.
async fn error_body(response: Response) -> String {
    let bytes = read_capped(response, MAX_ERROR_BODY_BYTES).await;
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
    fn an_exhausted_rate_limit_waits_until_its_reset() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1042"));
        assert_eq!(
            rate_limit_wait(&headers, now),
            Some(Duration::from_secs(42))
        );
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("900"));
        assert_eq!(rate_limit_wait(&headers, now), Some(Duration::from_secs(1)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(rate_limit_wait(&headers, now), Some(Duration::from_secs(3)));
    }

    #[test]
    fn remaining_requests_are_no_rate_limit() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("12"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1042"));
        assert_eq!(rate_limit_wait(&headers, now), None);
        assert_eq!(rate_limit_wait(&HeaderMap::new(), now), None);
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
