//! Secret masking: every form a secret's value can take in a tool's output is replaced
//! by `***`: the value itself, base64 (standard and URL-safe, at each of the three byte
//! alignments it can have inside a longer encoded text), percent-encoded (both escape
//! sets, both hex cases), JSON-escaped, hex, and each of those split across lines (a
//! wrapped base64 block, a token broken by a newline, a multi-line kubeconfig).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// Shortest base64 fragment masked: shorter ones would hide ordinary text.
const MIN_FRAGMENT: usize = 8;

/// The byte strings a secret may appear as.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let bytes = secret.as_bytes();
    let mut forms = vec![bytes.to_vec()];
    forms.push(STANDARD.encode(bytes).into_bytes());
    for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
        // Inside a longer encoded text the secret starts at byte offset 0, 1 or 2 of a
        // 3-byte group; only the characters made of the secret's bytes alone are fixed.
        for shift in 0..3usize {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(bytes);
            let encoded = engine.encode(&shifted);
            let start = shift.div_ceil(3) * 4;
            let end = (shift + bytes.len()) / 3 * 4;
            if let Some(fixed) = encoded.get(start..end.min(encoded.len()))
                && fixed.len() >= MIN_FRAGMENT
            {
                forms.push(fixed.as_bytes().to_vec());
            }
        }
    }
    // Percent-encoded: every byte but letters and digits, or all but the unreserved
    // `-_.~` (as URL libraries do), with upper- or lower-case hex digits.
    for set in [NON_ALPHANUMERIC, URL_UNRESERVED] {
        let upper = utf8_percent_encode(secret, set).to_string();
        forms.push(lower_hex_escapes(&upper).into_bytes());
        forms.push(upper.into_bytes());
    }
    // JSON-escaped (a tool writing the value into a JSON report), and hex.
    if let Ok(json) = serde_json::to_string(secret) {
        let inner = json
            .get(1..json.len().saturating_sub(1))
            .unwrap_or_default();
        forms.push(inner.as_bytes().to_vec());
    }
    if bytes.len() * 2 >= MIN_FRAGMENT {
        let hex = hex::encode(bytes);
        forms.push(hex.to_ascii_uppercase().into_bytes());
        forms.push(hex.into_bytes());
    }
    // The text is matched with its line breaks taken out, so the forms are too: a
    // secret that spans lines (a kubeconfig) still matches, printed whole or wrapped.
    for form in &mut forms {
        form.retain(|b| *b != b'\n' && *b != b'\r');
    }
    forms.retain(|f| !f.is_empty());
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    forms.dedup();
    forms
}

/// The characters URL libraries leave as they are: letters, digits and `-_.~`.
const URL_UNRESERVED: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `%2F` escapes as `%2f`; the characters outside escapes are left as they are.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let digits = escape.get(..3).unwrap_or(escape);
        out.push_str(&digits.to_ascii_lowercase());
        rest = escape.get(digits.len()..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Replace every form of every secret in `text` with `***`; line breaks inside a match
/// are kept, each broken piece masked. To mask many texts, build a [`Masker`] once.
pub fn mask(text: &str, secrets: &[String]) -> String {
    Masker::new(secrets).mask(text)
}

/// The forms of a set of secrets, worked out once for every text masked with them
/// (each log line, each report field).
#[derive(Debug, Clone, Default)]
pub struct Masker {
    forms: Vec<Vec<u8>>,
}

impl Masker {
    /// The forms of `secrets` (empty ones ignored).
    pub fn new(secrets: &[String]) -> Masker {
        Masker {
            forms: secrets
                .iter()
                .filter(|s| !s.is_empty())
                .flat_map(|s| forms(s))
                .collect(),
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every form of every secret replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        mask_forms(text, &self.forms)
    }
}

fn mask_forms(text: &str, forms: &[Vec<u8>]) -> String {
    if forms.is_empty() || text.is_empty() {
        return text.to_string();
    }
    // Match on the text without its line breaks. Where a joined byte came from is
    // found from the breaks alone (few), not a map of every byte.
    let bytes = text.as_bytes();
    let mut joined = Vec::with_capacity(bytes.len());
    // For each removed break, how many joined bytes precede it.
    let mut breaks: Vec<usize> = Vec::new();
    let mut copied = 0;
    for at in memchr::memchr2_iter(b'\n', b'\r', bytes) {
        joined.extend_from_slice(bytes.get(copied..at).unwrap_or_default());
        breaks.push(joined.len());
        copied = at + 1;
    }
    joined.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    let origin = |at: usize| at + breaks.partition_point(|&b| b <= at);
    let mut hidden: Vec<usize> = Vec::new();
    for form in forms {
        for start in memchr::memmem::find_iter(&joined, form) {
            hidden.extend((start..start + form.len()).map(origin));
        }
    }
    if hidden.is_empty() {
        return text.to_string();
    }
    hidden.sort_unstable();
    hidden.dedup();
    let mut out = Vec::with_capacity(bytes.len());
    let mut next = hidden.iter().copied().peekable();
    let mut in_run = false;
    for (at, &byte) in bytes.iter().enumerate() {
        if next.next_if_eq(&at).is_some() {
            if !in_run {
                out.extend_from_slice(b"***");
            }
            in_run = true;
        } else {
            in_run = false;
            out.push(byte);
        }
    }
    // A match is a whole valid UTF-8 sequence, so the rest stays valid.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Mask every text a stage report carries, so a plugin that copies a tool's report
/// (SARIF, JUnit) into findings cannot carry a secret out.
pub fn mask_report(report: &mut bosun_bus::StageReport, secrets: &[String]) {
    let masker = Masker::new(secrets);
    if masker.is_empty() {
        return;
    }
    let m = |text: &mut String| *text = masker.mask(text);
    m(&mut report.summary);
    for finding in &mut report.findings {
        m(&mut finding.rule);
        m(&mut finding.message);
        m(&mut finding.tool);
        finding.path.iter_mut().for_each(m);
        finding.fixed_version.iter_mut().for_each(m);
    }
    for failure in &mut report.test_failures {
        m(&mut failure.suite);
        m(&mut failure.name);
        m(&mut failure.message);
        failure.path.iter_mut().for_each(m);
    }
    for artifact in &mut report.artifacts {
        m(&mut artifact.name);
        m(&mut artifact.reference);
    }
    for metric in &mut report.metrics {
        m(&mut metric.name);
    }
}

/// Largest `/out` file rewritten with its secrets masked; larger ones are left as
/// they are (the report a plugin builds from them is masked all the same).
const MAX_MASKED_FILE: u64 = 32 << 20;

/// Mask the secrets in every text file under `dir` (a task's `/out`), in place, after
/// a tool wrote there and before the plugin reads it. Symlinks are never followed.
pub fn mask_folder(dir: &std::path::Path, secrets: &[String]) {
    let masker = Masker::new(secrets);
    if !masker.is_empty() {
        mask_files(dir, &masker);
    }
}

fn mask_files(dir: &std::path::Path, masker: &Masker) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            mask_files(&path, masker);
        } else if kind.is_file()
            && entry.metadata().is_ok_and(|m| m.len() <= MAX_MASKED_FILE)
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            let masked = masker.mask(&text);
            if masked != text
                && let Err(e) = std::fs::write(&path, masked)
            {
                tracing::warn!(path = %path.display(), error = %e, "could not mask an output file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_S3cr3tT0ken/with+odd=chars";

    fn secrets() -> Vec<String> {
        vec![TOKEN.to_string()]
    }

    fn assert_masked(text: &str) {
        let masked = mask(text, &secrets());
        assert!(masked.contains("***"), "not masked: {masked}");
        for form in forms(TOKEN) {
            let form = String::from_utf8(form).unwrap();
            assert!(
                !masked.replace(['\n', '\r'], "").contains(&form),
                "{form} left in {masked}"
            );
        }
    }

    #[test]
    fn plain_base64_and_url_encoded_values_are_masked() {
        assert_masked(&format!("token={TOKEN} end"));
        assert_masked(&format!("Authorization: Basic {}", STANDARD.encode(TOKEN)));
        for prefix in ["", "u:", "us:", "use:"] {
            let encoded = STANDARD.encode(format!("{prefix}{TOKEN}"));
            assert_masked(&format!("basic {encoded}"));
            let encoded = URL_SAFE_NO_PAD.encode(format!("{prefix}{TOKEN}!"));
            assert_masked(&format!("jwt {encoded}"));
        }
        let encoded = utf8_percent_encode(TOKEN, NON_ALPHANUMERIC).to_string();
        assert_masked(&format!("https://host/?t={encoded}"));
    }

    #[test]
    fn values_split_across_lines_are_masked_and_the_lines_kept() {
        let (a, b) = TOKEN.split_at(9);
        let masked = mask(&format!("start {a}\n{b} end\n"), &secrets());
        assert_eq!(masked, "start ***\n*** end\n");
        let wrapped: String = STANDARD
            .encode(TOKEN.repeat(3))
            .as_bytes()
            .chunks(16)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_masked(&wrapped);
    }

    #[test]
    fn output_files_and_reports_are_masked() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir(out.path().join("reports")).unwrap();
        let sarif = out.path().join("reports/tool.sarif");
        std::fs::write(&sarif, format!("{{\"message\": \"leaked {TOKEN}\"}}")).unwrap();
        std::fs::write(out.path().join("clean.txt"), "nothing").unwrap();
        mask_folder(out.path(), &secrets());
        assert_eq!(
            std::fs::read_to_string(&sarif).unwrap(),
            "{\"message\": \"leaked ***\"}"
        );
        assert_eq!(
            std::fs::read_to_string(out.path().join("clean.txt")).unwrap(),
            "nothing"
        );

        let mut report: bosun_bus::StageReport = serde_json::from_value(serde_json::json!({
            "outcome": "failure",
            "summary": format!("1 finding {TOKEN}"),
            "findings": [{ "rule": "R1", "severity": "high", "message": STANDARD.encode(TOKEN),
                           "path": "a.py", "line": 1, "column": null, "tool": "t",
                           "fixed_version": null }],
        }))
        .unwrap();
        mask_report(&mut report, &secrets());
        assert_eq!(report.summary, "1 finding ***");
        assert_eq!(report.findings[0].message, "***");
    }

    #[test]
    fn multi_line_secrets_and_other_encodings_are_masked() {
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers: [{token: s3cr3t-k8s}]\n";
        let secrets = vec![kubeconfig.to_string(), "p@ss/w0rd~x".to_string()];
        let masked = mask(&format!("config:\n{kubeconfig}done\n"), &secrets);
        assert!(
            !masked.contains("s3cr3t-k8s") && masked.ends_with("done\n"),
            "{masked}"
        );
        for leaked in [
            "p%40ss%2fw0rd~x".to_string(),   // URL library, lower-case hex
            "p%40ss%2Fw0rd%7Ex".to_string(), // every byte escaped
            hex::encode("p@ss/w0rd~x"),
            serde_json::to_string(kubeconfig).unwrap(), // in a JSON report
        ] {
            let text = format!("x {leaked} y");
            let shown = mask(&text, &secrets);
            assert_ne!(shown, text, "{leaked} left as is");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let text = "3 passed, 0 failed\nno secrets here: é ü\n";
        assert_eq!(mask(text, &secrets()), text);
        assert_eq!(mask(text, &[]), text);
        assert_eq!(mask("ab", &["ab".into()]), "***");
    }
}
