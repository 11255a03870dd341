//! A Bosun notifier plugin: a finished run as one short line of text, posted as a Slack
//! message (`{"text": …}`), e.g. `acme/shop main@4807158: failure in 42s (test failed)`.

use bosun_sdk::prelude::*;

/// The notifier; public so native builds (unit tests), which do not export it, still use it.
pub struct ShortText;

impl Notifier for ShortText {
    fn format(summary: &RunSummary) -> Result<String, String> {
        if summary.repository.is_empty() {
            return Err("the run summary names no repository".into());
        }
        Ok(format!("{{\"text\":{}}}", json_string(&line(summary))))
    }
}

/// The message text.
pub fn line(summary: &RunSummary) -> String {
    let status = match summary.status {
        RunStatus::Success => "success",
        RunStatus::Failure => "failure",
        RunStatus::Halted => "halted",
        RunStatus::Cancelled => "cancelled",
    };
    let commit: String = summary.commit.chars().take(7).collect();
    let mut text = format!(
        "{} {}@{commit}: {status} in {}s",
        summary.repository,
        summary.branch,
        summary.duration_ms / 1000
    );
    let failed: Vec<&str> = summary
        .stages
        .iter()
        .filter(|s| matches!(s.status, StageStatus::Failure | StageStatus::Errored))
        .map(|s| s.name.as_str())
        .collect();
    if !failed.is_empty() {
        text.push_str(&format!(" ({} failed)", failed.join(", ")));
    }
    if !summary.url.is_empty() {
        text.push_str(&format!(" {}", summary.url));
    }
    text
}

/// `text` as a JSON string literal; a dependency-free stand-in for serde_json.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

bosun_sdk::export_notifier!(ShortText);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_control_characters_are_escaped() {
        assert_eq!(json_string("a \"b\"\n\\"), r#""a \"b\"\n\\""#);
        assert_eq!(json_string("\u{1}"), r#""\u0001""#);
    }
}
