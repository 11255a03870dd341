//! Posting messages to Slack incoming webhooks.
//!
//! The webhook URL is the credential (anyone holding it can post to the channel), so it
//! is only ever used to send: errors and logs name the webhook by its label.

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;

use super::retry::RetryingClient;
use super::{Delivered, NotifyError, RetrySettings};

/// Posts JSON messages (Block Kit or plain `{"text": …}`) to Slack incoming webhooks.
#[derive(Debug)]
pub struct SlackClient {
    client: RetryingClient,
}

impl SlackClient {
    pub fn new(settings: RetrySettings) -> Self {
        Self {
            client: RetryingClient::new(settings),
        }
    }

    /// Posts `body` to `webhook_url` as `application/json`, retrying as the settings
    /// allow. `label` names the webhook in errors and logs, e.g. `tenant acme`, which
    /// reads as "the Slack webhook for tenant acme".
    pub async fn post(
        &self,
        label: &str,
        webhook_url: &str,
        body: &str,
    ) -> Result<Delivered, NotifyError> {
        let target = format!("the Slack webhook for {label}");
        let url = parse_webhook_url(webhook_url).ok_or_else(|| NotifyError::InvalidUrl {
            target: target.clone(),
        })?;
        // The path carries the secret; redact it too in case a cause prints it alone
        // (unless it is the bare `/`, which would blank every slash).
        let path = url.path();
        let secret_path = if path.len() > 1 { path } else { "" };
        let secrets = [webhook_url, url.as_str(), secret_path];
        let body = body.to_owned();
        self.client
            .send(&target, &secrets, |client| {
                client
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await
    }
}

fn parse_webhook_url(webhook_url: &str) -> Option<Url> {
    let url = Url::parse(webhook_url.trim()).ok()?;
    let web = matches!(url.scheme(), "http" | "https");
    (web && url.has_host()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_web_urls_are_webhooks() {
        assert!(parse_webhook_url("https://hooks.slack.com/services/T/B/X").is_some());
        assert!(parse_webhook_url("http://127.0.0.1:8080/hook").is_some());
        assert!(parse_webhook_url("hooks.slack.com/services/T/B/X").is_none());
        assert!(parse_webhook_url("file:///etc/passwd").is_none());
        assert!(parse_webhook_url("").is_none());
    }
}
