//! What makes a stage wait before it runs: a person's approval (`approval`), and a
//! concurrency group that lets one run at a time through (`concurrency`).
//!
//! ```yaml
//! - name: deploy
//!   environment: production
//!   approval: { from: [alice, "@acme/release"], timeout: 24h }
//!   concurrency: { group: "deploy-${{ environment }}", queue: true }
//! ```

use super::positions::YamlPath;
use super::reader::{Keys, Reader};
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};
use std::time::Duration;

const APPROVAL_KEYS: Keys = Keys {
    allowed: &["from", "timeout"],
    elsewhere: &[],
};
const CONCURRENCY_KEYS: Keys = Keys {
    allowed: &["group", "queue", "cancel_in_progress"],
    elsewhere: &[],
};
/// How long a stage waits for a decision unless `approval.timeout` says.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const APPROVAL_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(30 * 24 * 3600));
const MAX_APPROVERS: usize = 64;
const MAX_GROUP_CHARS: usize = 128;
/// The expressions a concurrency group may use, filled in when the run reaches it.
pub const GROUP_EXPRESSIONS: &[&str] = &["environment", "branch", "repository"];

/// Who may let the stage run, and how long it waits for them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    /// GitHub logins, or teams as `@org/team`; empty means any member of the tenant.
    pub from: Vec<String>,
    /// No decision by then rejects the stage.
    #[serde(serialize_with = "super::duration::serialize")]
    pub timeout: Duration,
}

/// One run at a time through the stage, per group (within the repository).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Concurrency {
    /// The group's name, with `${{ environment }}`, `${{ branch }}` or
    /// `${{ repository }}` filled in when the run reaches the stage.
    pub group: String,
    /// Wait in order for the group (true), or skip the stage when it is busy (false).
    pub queue: bool,
    /// A newer run takes the group from the one holding it (cancelling that run), and
    /// a superseding push may cancel this stage while it runs.
    pub cancel_in_progress: bool,
}

impl Concurrency {
    /// The group's name for a run on `branch` of `repository`, deploying to `environment`.
    pub fn group_for(&self, environment: Option<&str>, branch: &str, repository: &str) -> String {
        let Ok(filled) = super::expr::fill(&self.group, |name| {
            Ok::<_, std::convert::Infallible>(Some(
                match name {
                    "environment" => environment.unwrap_or(""),
                    "branch" => branch,
                    "repository" => repository,
                    _ => "",
                }
                .to_string(),
            ))
        });
        filled
    }
}

pub(crate) fn read_approval(
    reader: &mut Reader,
    value: &Value,
    at: &YamlPath,
    scope: &str,
) -> Option<Approval> {
    let Some(map) = value.as_mapping() else {
        reader.wrong_type(
            at,
            "approval",
            scope,
            "a mapping with 'from' (logins or @org/team) and an optional 'timeout'",
            value,
        );
        return None;
    };
    let scope = format!("{scope}, in 'approval'");
    reader.check_keys(map, at, &scope, &APPROVAL_KEYS);
    let from = match map.get("from") {
        Some(value) => reader
            .text_list(value, &at.key("from"), "from", &scope)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if from.len() > MAX_APPROVERS {
        reader.at_value(
            &at.key("from"),
            Some("from"),
            format!("{scope}: at most {MAX_APPROVERS} approvers"),
            None,
        );
    }
    for (who, who_at) in &from {
        if !approver(who) {
            reader.at_value(
                who_at,
                Some("from"),
                format!("{scope}: {who:?} is neither a GitHub login nor a team as '@org/team'"),
                None,
            );
        }
    }
    let timeout = match map.get("timeout") {
        Some(value) => reader
            .duration(value, &at.key("timeout"), "timeout", &scope, APPROVAL_RANGE)
            .unwrap_or(DEFAULT_APPROVAL_TIMEOUT),
        None => DEFAULT_APPROVAL_TIMEOUT,
    };
    Some(Approval {
        from: from.into_iter().map(|(who, _)| who).collect(),
        timeout,
    })
}

/// A GitHub login (letters, digits, single hyphens) or `@org/team`.
fn approver(who: &str) -> bool {
    let login = |s: &str| {
        !s.is_empty()
            && s.len() <= 39
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !s.starts_with('-')
    };
    match who.strip_prefix('@') {
        Some(team) => match team.split_once('/') {
            Some((org, slug)) => {
                login(org)
                    && !slug.is_empty()
                    && slug
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }
            None => false,
        },
        None => login(who),
    }
}

pub(crate) fn read_concurrency(
    reader: &mut Reader,
    value: &Value,
    at: &YamlPath,
    scope: &str,
) -> Option<Concurrency> {
    let map: Mapping = match value {
        // `concurrency: deploy` is the group alone.
        Value::String(_) => Mapping::from_iter([(Value::from("group"), value.clone())]),
        Value::Mapping(map) => map.clone(),
        other => {
            reader.wrong_type(
                at,
                "concurrency",
                scope,
                "a group name, or a mapping with 'group', 'queue' and 'cancel_in_progress'",
                other,
            );
            return None;
        }
    };
    let scope = format!("{scope}, in 'concurrency'");
    reader.check_keys(&map, at, &scope, &CONCURRENCY_KEYS);
    let group_at = if value.is_string() {
        at.clone()
    } else {
        at.key("group")
    };
    let Some(group) = map
        .get("group")
        .and_then(|v| reader.text(v, &group_at, "group", &scope))
    else {
        if !map.contains_key("group") {
            reader.at_value(at, None, format!("{scope}: name the 'group'"), None);
        }
        return None;
    };
    if group.len() > MAX_GROUP_CHARS || group.contains('\0') {
        reader.at_value(
            &group_at,
            Some("group"),
            format!("{scope}: the group is longer than {MAX_GROUP_CHARS} characters"),
            None,
        );
    }
    // Every expression known, and none left open: what remains once they are removed.
    let known = super::expr::fill(&group, |name| {
        GROUP_EXPRESSIONS
            .contains(&name)
            .then(|| Some(String::new()))
            .ok_or(())
    });
    if known.is_err() || known.is_ok_and(|rest| rest.contains("${{")) {
        reader.at_value(
            &group_at,
            Some("group"),
            format!(
                "{scope}: a group may use ${{{{ {} }}}} only",
                GROUP_EXPRESSIONS.join(" }}, ${{ ")
            ),
            None,
        );
    }
    let flag = |reader: &mut Reader, key: &str, default: bool| {
        map.get(key)
            .and_then(|v| reader.bool(v, &at.key(key), key, &scope))
            .unwrap_or(default)
    };
    let queue = flag(reader, "queue", true);
    let cancel_in_progress = flag(reader, "cancel_in_progress", false);
    Some(Concurrency {
        group,
        queue,
        cancel_in_progress,
    })
}
