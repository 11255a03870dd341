//! The page frame (nav bar, inline CSS, the live-update script) and the helpers every
//! page uses: HTML escaping, path-segment encoding, times, durations, status badges.

use std::fmt::{self, Display, Write as _};

/// Text made safe for HTML element content and quoted attribute values: branch names,
/// commit messages, findings and logs come from users and tools and may hold markup.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            let (plain, tail) = rest.split_at(at);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            let entity = match chars.next() {
                Some('&') => "&amp;",
                Some('<') => "&lt;",
                Some('>') => "&gt;",
                Some('"') => "&quot;",
                _ => "&#39;",
            };
            f.write_str(entity)?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

/// A value percent-encoded for one URL path segment or query value, so a stage or run
/// name cannot change which route a link points at. Used inside attributes, the result
/// is also free of characters that need HTML escaping.
pub struct Seg<'a>(pub &'a str);

impl Display for Seg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                f.write_char(byte as char)?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// Which nav entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The runs list and run pages.
    Runs,
    /// Per-day counts, durations and plugins used.
    Stats,
    /// The plugin inventory.
    Plugins,
    /// The dead-letter queue.
    DeadLetters,
}

const STYLE: &str = "
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;background:#f6f8fa}
header.nav{display:flex;gap:4px;align-items:center;background:#24292f;padding:0 16px}
header.nav b{color:#fff;margin-right:16px;font-size:16px}
header.nav a{color:#d0d7de;text-decoration:none;padding:12px 10px;display:inline-block}
header.nav a.on{color:#fff;border-bottom:3px solid #fd8c73}
main{max-width:1240px;margin:0 auto;padding:16px}
h1{font-size:22px;margin:8px 0 12px}h2{font-size:17px;margin:22px 0 8px}h3{font-size:15px;margin:14px 0 6px}
a{color:#0969da}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;margin-bottom:8px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td.wrap,p.wrap{overflow-wrap:anywhere}
th{background:#f6f8fa;font-weight:600}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
pre{white-space:pre-wrap;word-break:break-word;margin:0}
.badge{white-space:nowrap;display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#6e7781}
.b-success{background:#1a7f37}.b-failure,.b-errored,.b-error,.b-deny{background:#cf222e}
.b-halted{background:#bc4c00}.b-awaiting-approval{background:#bf8700}.b-running,.b-gating,.b-queued,.b-retry-wait{background:#0969da}
.b-cancelled,.b-skipped,.b-pending{background:#8c959f}.b-config-error{background:#8250df}
.b-warn,.b-medium{background:#bf8700}.b-high,.b-critical{background:#cf222e}.b-allow{background:#1a7f37}
.b-low,.b-info{background:#8c959f}
.box{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:10px 0}
.box h2:first-child{margin-top:4px}
.why{border-color:#cf222e;background:#fff5f5}.why h2{color:#a40e26}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}
.meta dt{color:#57606a}.meta dd{margin:0}
.muted{color:#57606a}
.track{position:relative;height:14px;background:#eaeef2;border-radius:3px;min-width:200px}
.bar{position:absolute;top:0;height:14px;border-radius:3px;background:#0969da}
.bar.success{background:#1a7f37}.bar.failure,.bar.errored{background:#cf222e}.bar.skipped,.bar.cancelled{background:#8c959f}
.wave{color:#57606a;font-size:12px}
form.filter{display:flex;gap:8px;align-items:end;margin-bottom:12px;flex-wrap:wrap}
form.filter label{display:flex;flex-direction:column;font-size:12px;color:#57606a}
input,select,button{font:inherit;padding:4px 6px}
.cells{display:flex;gap:2px}.cell{width:22px;text-align:center;font-size:11px;border-radius:2px}
.ok{background:#dafbe1}.ko{background:#ffebe9}.none{background:#f6f8fa;color:#8c959f}
.lvl-error,.lvl-warn{font-weight:600}.lvl-error{color:#cf222e}.lvl-warn{color:#9a6700}
";

/// Fetch the page again on every `change` event and swap its `<main>`, unless someone is
/// typing a decision into an approval form; close on `end`.
/// The stream URL is read from an attribute, so no data ever lands inside the script.
const LIVE_SCRIPT: &str = "<script>(()=>{const u=document.body.dataset.live;if(!u||!window.EventSource)return;\
const s=new EventSource(u);const r=()=>[...document.querySelectorAll('main form.decide input')].some(i=>i.value||i===document.activeElement)?0:fetch(location.href).then(x=>x.text()).then(t=>{\
const m=new DOMParser().parseFromString(t,'text/html').querySelector('main');if(m)document.querySelector('main').replaceWith(m);});\
s.addEventListener('change',r);s.addEventListener('end',()=>{s.close();r();});})();</script>";

/// A whole page: head with inline CSS, the nav bar, `body` inside `<main>`, and, when
/// `live` names an event stream, the few lines that keep the page current.
pub fn page(title: &str, nav: Nav, live: Option<&str>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · Bosun</title><style>{STYLE}</style></head>",
        Esc(title)
    );
    match live {
        Some(url) => {
            let _ = write!(out, "<body data-live=\"{}\">", Esc(url));
        }
        None => out.push_str("<body>"),
    }
    out.push_str("<header class=\"nav\"><b>⚓ Bosun</b>");
    for (entry, href, label) in [
        (Some(Nav::Runs), "/runs", "Runs"),
        (Some(Nav::Stats), "/stats", "Stats"),
        (Some(Nav::Plugins), "/plugins", "Plugins"),
        (Some(Nav::DeadLetters), "/dead-letters", "Dead letters"),
        (None, "/metrics", "Metrics"),
    ] {
        let class = if entry == Some(nav) {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{href}\"{class}>{label}</a>");
    }
    out.push_str("</header><main>");
    out.push_str(body);
    out.push_str("</main>");
    if live.is_some() {
        out.push_str(LIVE_SCRIPT);
    }
    out.push_str("</body></html>");
    out
}

/// A coloured badge for a status, outcome, verdict or severity word.
pub fn badge(word: &str) -> String {
    let class: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase();
    format!("<span class=\"badge b-{class}\">{}</span>", Esc(word))
}

/// The first 8 characters of a commit sha, for tables.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

/// `sha256:` and the first 12 hex digits of a digest: enough to tell files apart.
pub fn short_digest(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.get(..19).unwrap_or(digest).to_string(),
    }
}

/// `2024-05-01 12:34:56` (UTC) from milliseconds since the Unix epoch.
pub fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_date((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `2024-05-01` (UTC) of a day number since the Unix epoch.
pub fn date(days: i64) -> String {
    let (year, month, day) = civil_date(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Year, month, day of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`), so no date crate is needed for a few labels.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `850 ms`, `12.3 s`, `4 m 05 s`, `2 h 03 m`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} m {:02} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {:02} m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// `3 s ago`, `5 m ago`, `2 h ago`, `4 d ago`.
pub fn ago(ms: u64, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(ms) / 1000;
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} m ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_and_quotes() {
        let hostile = "zzz\";echo${IFS}\"hi\";#<script>alert('x')</script>&";
        let out = Esc(hostile).to_string();
        assert_eq!(
            out,
            "zzz&quot;;echo${IFS}&quot;hi&quot;;#&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
        assert_eq!(Esc("plain ünïcode").to_string(), "plain ünïcode");
    }

    #[test]
    fn path_segments_cannot_add_segments_or_quotes() {
        assert_eq!(Seg("a/b\"c d").to_string(), "a%2Fb%22c%20d");
        assert_eq!(Seg("lint-2.x_~").to_string(), "lint-2.x_~");
    }

    #[test]
    fn dates_and_durations_read_as_people_write_them() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_709_251_199_000), "2024-02-29 23:59:59");
        assert_eq!(date(19_782), "2024-02-29");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_300), "12.3 s");
        assert_eq!(duration(245_000), "4 m 05 s");
        assert_eq!(ago(0, 7_200_000), "2 h ago");
    }

    #[test]
    fn short_forms_of_commits_and_digests() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(short_commit(sha), "01234567");
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(short_digest(&digest), "sha256:abababababab");
        assert_eq!(short_commit("v1"), "v1");
    }
}
