//! Outbound notifications: Slack incoming webhooks and GitHub commit statuses.
