//! The GitHub stand-in's rulebook: every request Bosun makes to GitHub's REST API
//! checked against the documented request shapes and limits (commit statuses, check
//! runs, issue comments): the endpoint, the headers, the field names, the allowed
//! `state`/`status`/`conclusion`/`annotation_level` values, ISO 8601 times, a summary of
//! at most 65,535 characters, at most 50 annotations per request, and each
//! annotation's required `path`, `start_line`, `end_line`, `annotation_level` and
//! `message`. GitHub answers a request that breaks them with 422; so does the stand-in.

use serde_json::{Map, Value};

const STATUS_FIELDS: &[&str] = &["state", "target_url", "description", "context"];
const STATUS_STATES: &[&str] = &["error", "failure", "pending", "success"];
const CHECK_FIELDS: &[&str] = &[
    "name",
    "head_sha",
    "details_url",
    "external_id",
    "status",
    "started_at",
    "conclusion",
    "completed_at",
    "output",
    "actions",
];
const CHECK_STATUSES: &[&str] = &["queued", "in_progress", "completed"];
/// `stale` is documented but set only by GitHub itself.
const CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
];
const OUTPUT_FIELDS: &[&str] = &["title", "summary", "text", "annotations", "images"];
const ANNOTATION_FIELDS: &[&str] = &[
    "path",
    "start_line",
    "end_line",
    "start_column",
    "end_column",
    "annotation_level",
    "message",
    "title",
    "raw_details",
];
const LEVELS: &[&str] = &["notice", "warning", "failure"];
pub const MAX_SUMMARY_CHARS: usize = 65_535;
pub const MAX_ANNOTATIONS: usize = 50;
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// Which documented endpoint a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    CreateCheckRun,
    UpdateCheckRun(u64),
    CreateComment(u64),
    UpdateComment(u64),
}

/// The endpoint `method path` is, or why it is none of the documented ones.
pub fn endpoint(method: &str, path: &str) -> Result<Endpoint, String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let number = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("`{s}` is not a number in {path}"))
    };
    match (method, parts.as_slice()) {
        ("POST", ["repos", _, _, "statuses", sha]) if is_sha(sha) => Ok(Endpoint::Status),
        ("POST", ["repos", _, _, "check-runs"]) => Ok(Endpoint::CreateCheckRun),
        ("PATCH", ["repos", _, _, "check-runs", id]) => Ok(Endpoint::UpdateCheckRun(number(id)?)),
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            Ok(Endpoint::CreateComment(number(n)?))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            Ok(Endpoint::UpdateComment(number(id)?))
        }
        _ => Err(format!(
            "{method} {path} is no endpoint Bosun is documented to use"
        )),
    }
}

fn is_sha(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Everything wrong with one request, empty when it follows the documentation.
pub fn shape_errors(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<String> {
    let mut errors = Vec::new();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if header("accept") != Some("application/vnd.github+json") {
        errors.push("`Accept: application/vnd.github+json` is missing".to_owned());
    }
    if header("x-github-api-version").is_none() {
        errors.push("`X-GitHub-Api-Version` is missing".to_owned());
    }
    let endpoint = match endpoint(method, path) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            errors.push(e);
            return errors;
        }
    };
    let body: Value = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => {
            errors.push("the body is not a JSON object".to_owned());
            return errors;
        }
    };
    let Value::Object(fields) = &body else {
        return errors;
    };
    match endpoint {
        Endpoint::Status => {
            only(fields, STATUS_FIELDS, "status", &mut errors);
            one_of(
                fields.get("state"),
                STATUS_STATES,
                "state",
                true,
                &mut errors,
            );
        }
        Endpoint::CreateCheckRun | Endpoint::UpdateCheckRun(_) => {
            let create = endpoint == Endpoint::CreateCheckRun;
            check_run(fields, create, &mut errors);
        }
        Endpoint::CreateComment(_) | Endpoint::UpdateComment(_) => {
            only(fields, &["body"], "comment", &mut errors);
            match fields.get("body").and_then(Value::as_str) {
                Some(text) if text.chars().count() <= MAX_COMMENT_CHARS => {}
                Some(text) => errors.push(format!(
                    "comment body has {} characters (at most {MAX_COMMENT_CHARS})",
                    text.chars().count()
                )),
                None => errors.push("`body` is required".to_owned()),
            }
        }
    }
    errors
}

fn check_run(fields: &Map<String, Value>, create: bool, errors: &mut Vec<String>) {
    only(fields, CHECK_FIELDS, "check run", errors);
    if create {
        for required in ["name", "head_sha"] {
            if !fields.get(required).is_some_and(Value::is_string) {
                errors.push(format!("`{required}` is required to create a check run"));
            }
        }
    }
    one_of(
        fields.get("status"),
        CHECK_STATUSES,
        "status",
        false,
        errors,
    );
    one_of(
        fields.get("conclusion"),
        CONCLUSIONS,
        "conclusion",
        false,
        errors,
    );
    let completed = fields.get("status").and_then(Value::as_str) == Some("completed");
    if (completed || fields.contains_key("completed_at")) && !fields.contains_key("conclusion") {
        errors
            .push("`conclusion` is required with `completed_at` or status `completed`".to_owned());
    }
    for time in ["started_at", "completed_at"] {
        if let Some(value) = fields.get(time)
            && !value.as_str().is_some_and(is_iso8601)
        {
            errors.push(format!("`{time}` is not YYYY-MM-DDTHH:MM:SSZ: {value}"));
        }
    }
    if let Some(output) = fields.get("output") {
        check_output(output, errors);
    }
}

fn check_output(output: &Value, errors: &mut Vec<String>) {
    let Some(output) = output.as_object() else {
        errors.push("`output` is not an object".to_owned());
        return;
    };
    only(output, OUTPUT_FIELDS, "output", errors);
    for required in ["title", "summary"] {
        if !output.get(required).is_some_and(Value::is_string) {
            errors.push(format!("`output.{required}` is required"));
        }
    }
    for long in ["summary", "text"] {
        if let Some(text) = output.get(long).and_then(Value::as_str)
            && text.chars().count() > MAX_SUMMARY_CHARS
        {
            errors.push(format!(
                "`output.{long}` has {} characters (at most {MAX_SUMMARY_CHARS})",
                text.chars().count()
            ));
        }
    }
    let Some(annotations) = output.get("annotations") else {
        return;
    };
    let Some(annotations) = annotations.as_array() else {
        errors.push("`output.annotations` is not an array".to_owned());
        return;
    };
    if annotations.len() > MAX_ANNOTATIONS {
        errors.push(format!(
            "{} annotations in one request (at most {MAX_ANNOTATIONS})",
            annotations.len()
        ));
    }
    for (i, annotation) in annotations.iter().enumerate() {
        let Some(a) = annotation.as_object() else {
            errors.push(format!("annotation {i} is not an object"));
            continue;
        };
        only(a, ANNOTATION_FIELDS, &format!("annotation {i}"), errors);
        for required in ["path", "message"] {
            if a.get(required)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(format!("annotation {i}: `{required}` is required"));
            }
        }
        let line = |name: &str| a.get(name).and_then(Value::as_u64);
        match (line("start_line"), line("end_line")) {
            (Some(start), Some(end)) if start >= 1 && end >= start => {
                if start != end && (a.contains_key("start_column") || a.contains_key("end_column")) {
                    errors.push(format!("annotation {i}: columns only on one line"));
                }
            }
            _ => errors.push(format!(
                "annotation {i}: `start_line` and `end_line` are required, from 1, end not before start"
            )),
        }
        one_of(
            a.get("annotation_level"),
            LEVELS,
            &format!("annotation {i} `annotation_level`"),
            true,
            errors,
        );
        if a.get("title")
            .and_then(Value::as_str)
            .is_some_and(|t| t.chars().count() > 255)
        {
            errors.push(format!("annotation {i}: `title` over 255 characters"));
        }
        if a.get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| m.len() > 64 * 1024)
        {
            errors.push(format!("annotation {i}: `message` over 64 KB"));
        }
    }
}

fn only(fields: &Map<String, Value>, allowed: &[&str], what: &str, errors: &mut Vec<String>) {
    for name in fields.keys() {
        if !allowed.contains(&name.as_str()) {
            errors.push(format!("`{name}` is no field of a {what}"));
        }
    }
}

fn one_of(
    value: Option<&Value>,
    allowed: &[&str],
    name: &str,
    required: bool,
    errors: &mut Vec<String>,
) {
    match value.map(|v| v.as_str()) {
        None if required => errors.push(format!("`{name}` is required")),
        None => {}
        Some(Some(word)) if allowed.contains(&word) => {}
        Some(other) => errors.push(format!(
            "`{name}` must be one of {allowed:?}, not {other:?}"
        )),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn is_iso8601(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<(String, String)> {
        vec![
            ("accept".into(), "application/vnd.github+json".into()),
            ("x-github-api-version".into(), "2022-11-28".into()),
        ]
    }

    #[test]
    fn the_documented_example_passes_and_broken_ones_do_not() {
        let good = br#"{"name":"mighty_readme","head_sha":"ce587453ced02b1526dfb4cb910479d431683101","status":"completed","conclusion":"success","started_at":"2017-11-30T19:39:10Z","completed_at":"2017-11-30T19:49:10Z","output":{"title":"Mighty Readme report","summary":"x","annotations":[{"path":"README.md","start_line":2,"end_line":2,"annotation_level":"warning","message":"Check your spelling","title":"Spell Checker"}]}}"#;
        assert_eq!(
            shape_errors("POST", "/repos/o/r/check-runs", &headers(), good),
            Vec::<String>::new()
        );
        let bad = br#"{"name":"x","head_sha":"ce58745","status":"done","output":{"title":"t","annotations":[{"path":"a","start_line":0,"end_line":1,"annotation_level":"error","message":"m"}]}}"#;
        let errors = shape_errors("POST", "/repos/o/r/check-runs", &headers(), bad);
        assert_eq!(errors.len(), 4, "{errors:#?}");
    }
}
