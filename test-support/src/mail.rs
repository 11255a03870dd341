//! The test SMTP server (`scripts/services/smtp.sh`: aiosmtpd with STARTTLS and AUTH)
//! and what it delivered: its address and login from `.bosun/services.env`, and the
//! messages in its maildir for one recipient, parsed (subject, text and HTML parts).

use crate::services::{missing_service, service_var};
use mail_parser::{MessageParser, MimeHeaders};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The SMTP server the tests deliver to.
#[derive(Debug, Clone)]
pub struct TestSmtp {
    /// Its host (`127.0.0.1`).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The one login it accepts.
    pub user: String,
    /// That login's password.
    pub password: String,
    /// The test CA that signed its certificate (PEM).
    pub ca_file: PathBuf,
    /// Where it writes what it accepts.
    pub maildir: PathBuf,
}

impl TestSmtp {
    /// The server from `.bosun/services.env`, answering; else the missing-service rule.
    pub fn find(test: &str) -> Option<TestSmtp> {
        let address = service_var(test, "BOSUN_TEST_SMTP")?;
        let (host, port) = address.rsplit_once(':')?;
        let smtp = TestSmtp {
            host: host.to_string(),
            port: port.parse().ok()?,
            user: service_var(test, "BOSUN_TEST_SMTP_USER")?,
            password: service_var(test, "BOSUN_TEST_SMTP_PASSWORD")?,
            ca_file: service_var(test, "BOSUN_TEST_SMTP_CA")?.into(),
            maildir: service_var(test, "BOSUN_TEST_SMTP_MAILDIR")?.into(),
        };
        if std::net::TcpStream::connect(&address).is_err() {
            return missing_service(test, &format!("no SMTP server answers on {address}"));
        }
        Some(smtp)
    }
}

/// One delivered message.
#[derive(Debug, Clone)]
pub struct DeliveredMail {
    /// The envelope's recipients (the server's `X-RcptTo`).
    pub envelope_to: Vec<String>,
    /// `From:` as written.
    pub from: String,
    /// The decoded subject.
    pub subject: String,
    /// The decoded `text/plain` part.
    pub text: String,
    /// The decoded `text/html` part.
    pub html: String,
    /// The top-level `Content-Type`, e.g. `multipart/alternative`.
    pub content_type: String,
    /// The message as the server stored it.
    pub raw: String,
}

/// Every message in `maildir` whose envelope names `recipient`.
pub fn delivered_to(maildir: &Path, recipient: &str) -> Vec<DeliveredMail> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(raw) = std::fs::read(entry.path()) else {
            continue;
        };
        let Some(message) = MessageParser::default().parse(&raw) else {
            continue;
        };
        let header = |name: &str| {
            message
                .header_raw(name)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let envelope_to: Vec<String> = header("X-RcptTo")
            .split(',')
            .map(|to| to.trim().to_string())
            .collect();
        if !envelope_to
            .iter()
            .any(|to| to.eq_ignore_ascii_case(recipient))
        {
            continue;
        }
        let content_type = message
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_default();
        found.push(DeliveredMail {
            envelope_to,
            from: header("From"),
            subject: message.subject().unwrap_or_default().to_string(),
            text: message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            html: message
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            content_type,
            raw: String::from_utf8_lossy(&raw).into_owned(),
        });
    }
    found
}

/// Waits until `count` messages for `recipient` are there (at most `limit`), then gives
/// what is there.
pub async fn wait_for_mail(
    maildir: &Path,
    recipient: &str,
    count: usize,
    limit: Duration,
) -> Vec<DeliveredMail> {
    let start = Instant::now();
    loop {
        let mail = delivered_to(maildir, recipient);
        if mail.len() >= count || start.elapsed() > limit {
            return mail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A recipient address no other test uses, so tests sharing the server read only
/// their own messages.
pub fn unique_recipient(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{nanos}@bosun.test", std::process::id())
}
