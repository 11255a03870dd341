//! The HTML body: the same sections as the text, as headings and lists with inline
//! styles (mail clients drop `<style>` blocks), every piece of run text escaped.

use crate::{Section, overview};
use bosun_sdk::RunSummary;

/// Escape text for an HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Only http(s) links are made; anything else is shown as text.
fn link(url: &str, label: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!("<a href=\"{}\">{}</a>", escape(url.trim()), escape(label))
    } else {
        escape(label)
    }
}

/// The whole HTML document.
pub fn body(sections: &[Section], summary: &RunSummary) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; font-size: 14px;\">\n",
    );
    out.push_str(&format!("<p><b>{}</b>", escape(&overview(summary))));
    if !summary.url.is_empty() {
        let label = format!("View run {}", summary.run_id);
        out.push_str(&format!("<br>{}", link(&summary.url, &label)));
    }
    out.push_str("</p>\n");
    for section in sections {
        out.push_str(&format!(
            "<h3 style=\"margin-bottom: 4px;\">{}</h3>\n",
            escape(&section.title)
        ));
        // A stage's name heads its reasons: each run of entries is its own list.
        let mut in_list = false;
        for entry in &section.entries {
            if entry.heading {
                if in_list {
                    out.push_str("</ul>\n");
                    in_list = false;
                }
                out.push_str(&format!(
                    "<p style=\"margin: 4px 0;\"><b>{}</b></p>\n",
                    escape(&entry.line)
                ));
                continue;
            }
            if !in_list {
                out.push_str("<ul>\n");
                in_list = true;
            }
            out.push_str(&format!("<li>{}", escape(&entry.line)));
            if !entry.detail.is_empty() {
                let detail: Vec<String> = entry.detail.iter().map(|l| escape(l)).collect();
                out.push_str(&format!(
                    "<pre style=\"margin: 2px 0;\">{}</pre>",
                    detail.join("\n")
                ));
            }
            out.push_str("</li>\n");
        }
        if in_list {
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}
