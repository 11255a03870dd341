//! Slack mrkdwn pieces: escaping, clipping and sections kept under Slack's text limit.

/// Slack refuses a section whose text is longer than this (in characters).
pub const MAX_SECTION_CHARS: usize = 3000;

/// Slack refuses a header whose text is longer than this (in characters).
pub const MAX_HEADER_CHARS: usize = 150;

/// Escape the three characters Slack reads as markup in mrkdwn (`<!channel>`, links).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, ending in `…` when it was cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text from a run, clipped then escaped: one piece of a mrkdwn line.
pub fn plain(text: &str, max: usize) -> String {
    escape(&clip(text, max))
}

/// Text from a run as inline code. A backtick inside would end the code span early,
/// so it becomes a quote.
pub fn code(text: &str, max: usize) -> String {
    format!("`{}`", plain(&text.replace('`', "'"), max))
}

/// The first line of a possibly multi-line message (test failures carry tracebacks).
pub fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The line that stands for the `count` entries left out of a section.
fn more_line(count: usize) -> String {
    format!("\n… and {count} more")
}

/// A section text: `title`, then as many of the `total` lines as fit in
/// [`MAX_SECTION_CHARS`], then `… and N more` for the rest. Lines are mrkdwn already
/// escaped; they are produced lazily, so a huge list costs only what is shown.
pub fn capped_section(
    title: &str,
    total: usize,
    lines: impl IntoIterator<Item = String>,
) -> String {
    let mut text = title.to_string();
    let mut used = text.chars().count();
    // Room kept for the closing "… and N more", sized for the largest N possible.
    let reserve = more_line(total).chars().count();
    let mut shown = 0usize;
    for line in lines {
        let length = line.chars().count() + 1;
        let is_last = shown + 1 >= total;
        let needed = if is_last { length } else { length + reserve };
        if used + needed > MAX_SECTION_CHARS {
            break;
        }
        text.push('\n');
        text.push_str(&line);
        used += length;
        shown += 1;
    }
    if shown < total {
        text.push_str(&more_line(total - shown));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_slack_control_characters() {
        assert_eq!(escape("a & <b> c"), "a &amp; &lt;b&gt; c");
    }

    #[test]
    fn clip_keeps_short_text_and_marks_cut_text() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 3), "éé…");
    }

    #[test]
    fn capped_section_shows_everything_that_fits() {
        let lines = ["one", "two"].map(String::from);
        assert_eq!(capped_section("*T*", 2, lines), "*T*\none\ntwo");
    }

    #[test]
    fn capped_section_counts_what_it_left_out() {
        let line = "x".repeat(99);
        let text = capped_section("*T*", 100, (0..100).map(|_| line.clone()));
        assert!(text.chars().count() <= MAX_SECTION_CHARS);
        let shown = text.lines().filter(|l| l.starts_with('x')).count();
        assert!(shown > 0 && shown < 100);
        assert!(
            text.ends_with(&format!("… and {} more", 100 - shown)),
            "{text}"
        );
    }
}
