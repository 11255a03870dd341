//! A tenant's email notifications: the SMTP relay (always STARTTLS), its login, the
//! sender and recipients, and the notifier plugin that writes the message. The password
//! stays in the orchestrator: the plugin gets the run summary only.

use super::Secret;
use lettre::message::Mailbox;
use serde::Deserialize;
use std::path::PathBuf;

fn default_port() -> u16 {
    587
}
fn default_notifier() -> String {
    "email".into()
}

/// Where and how a tenant's run emails go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP relay's host name, which its certificate must name.
    pub smtp_host: String,
    /// Its submission port (default 587). The connection is upgraded with STARTTLS
    /// before anything else is said; a relay that does not offer it is refused.
    #[serde(default = "default_port")]
    pub smtp_port: u16,
    /// The login, when the relay asks for one (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// The password (by `env`, better than inline).
    #[serde(default)]
    pub password: Secret,
    /// The sender, e.g. `Bosun CI <ci@example.com>`.
    pub from: String,
    /// Who gets the run's email.
    pub to: Vec<String>,
    /// A PEM file of CA certificates trusted besides the built-in web roots (a
    /// company's own relay CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The notifier plugin that writes the message (default `email`).
    #[serde(default = "default_notifier")]
    pub notifier: String,
}

impl EmailSettings {
    /// The first thing that cannot work, naming the setting: an empty host, a sender
    /// or recipient that is not an address, no recipient, a login without password.
    pub fn check(&self) -> Result<(), String> {
        if self.smtp_host.trim().is_empty() {
            return Err("email.smtp_host is empty".into());
        }
        self.sender()?;
        if self.to.is_empty() {
            return Err("email.to lists no recipient".into());
        }
        self.recipients()?;
        let has_password = self.password.value.is_some() || self.password.env.is_some();
        if self.username.is_some() != has_password {
            return Err("email.username and email.password go together".into());
        }
        Ok(())
    }

    /// The sender as a mailbox.
    pub fn sender(&self) -> Result<Mailbox, String> {
        self.from
            .parse()
            .map_err(|e| format!("email.from `{}` is not an email address: {e}", self.from))
    }

    /// The recipients as mailboxes.
    pub fn recipients(&self) -> Result<Vec<Mailbox>, String> {
        self.to
            .iter()
            .map(|to| {
                to.parse()
                    .map_err(|e| format!("email.to `{to}` is not an email address: {e}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EmailSettings {
        serde_yaml_ng::from_str(
            "smtp_host: smtp.example.com\nfrom: Bosun <ci@example.com>\nto: [dev@example.com]\n",
        )
        .unwrap()
    }

    #[test]
    fn defaults_are_the_submission_port_and_the_email_notifier() {
        let email = settings();
        assert_eq!(email.smtp_port, 587);
        assert_eq!(email.notifier, "email");
        assert_eq!(email.check(), Ok(()));
        assert_eq!(
            email.recipients().unwrap()[0].email.to_string(),
            "dev@example.com"
        );
    }

    #[test]
    fn a_bad_address_or_half_a_login_is_named() {
        let mut email = settings();
        email.to.push("not an address".into());
        assert!(
            email
                .check()
                .unwrap_err()
                .starts_with("email.to `not an address`")
        );
        let mut email = settings();
        email.to.clear();
        assert_eq!(email.check().unwrap_err(), "email.to lists no recipient");
        let mut email = settings();
        email.username = Some("ci".into());
        assert_eq!(
            email.check().unwrap_err(),
            "email.username and email.password go together"
        );
    }
}
