//! The entry point: YAML text to a validated [`PipelineConfig`], or every problem found.

use super::error::ConfigError;
use super::positions::{Positions, YamlPath};
use super::reader::{Keys, Reader, closest, describe};
use super::stage::{StageDefaults, read_stage};
use super::validate::{DeployEnvironment, resolve};
use super::{NotifyRules, PipelineConfig};
use serde_yaml_ng::{Mapping, Value};

/// Largest pipeline config read.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
/// Most stages one pipeline may have.
pub(crate) const MAX_STAGES: usize = 200;

const ROOT_KEYS: Keys = Keys {
    allowed: &["pipeline"],
    elsewhere: &[
        ("stages", "'stages' belongs under 'pipeline:'"),
        (
            "retry_on_failure",
            "'retry_on_failure' belongs under 'pipeline:'",
        ),
        (
            "notify_on_success",
            "'notify_on_success' belongs under 'pipeline:'",
        ),
        (
            "deploy_environment",
            "'deploy_environment' belongs under 'pipeline:'",
        ),
        ("max_failures", "'max_failures' belongs under 'pipeline:'"),
        ("notify", "'notify' belongs under 'pipeline:'"),
        (
            "cancel_superseded",
            "'cancel_superseded' belongs under 'pipeline:'",
        ),
    ],
};

const PIPELINE_KEYS: Keys = Keys {
    allowed: &[
        "stages",
        "retry_on_failure",
        "notify_on_success",
        "deploy_environment",
        "max_failures",
        "notify",
        "cancel_superseded",
    ],
    elsewhere: &[
        (
            "needs",
            "'needs' is a stage key: write the stage as an object under 'stages'",
        ),
        (
            "retries",
            "'retries' is a stage key; for every stage use 'retry_on_failure: true'",
        ),
        (
            "timeout",
            "'timeout' is a stage key: write the stage as an object under 'stages'",
        ),
        (
            "backoff",
            "'backoff' is a stage key: write the stage as an object under 'stages'",
        ),
        (
            "when",
            "'when' is a stage key: write the stage as an object under 'stages'",
        ),
        (
            "environment",
            "use 'deploy_environment', or set 'environment' on a stage",
        ),
    ],
};

const NOTIFY_KEYS: Keys = Keys {
    allowed: &["on_success", "on_failure", "notifier", "with"],
    elsewhere: &[],
};

const MAX_FAILURES_RANGE: (u32, u32) = (1, 100);
const DEFAULT_NOTIFIER: &str = "slack";
/// Stage retries when `retry_on_failure` is true.
const RETRIES_WHEN_RETRYING: u32 = 2;

/// Parses and validates the pipeline config `text`; `source_name` names the file in
/// problems.
pub fn parse(source_name: &str, text: &str) -> Result<PipelineConfig, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        // Refused before any parsing: a repository cannot make the scheduler chew on it.
        let positions = Positions::scan("");
        let mut reader = Reader::new(source_name, &positions);
        reader.problem_at(
            1,
            1,
            None,
            format!(
                "the pipeline config is {} KiB; at most {} KiB is read",
                text.len().div_ceil(1024),
                MAX_CONFIG_BYTES / 1024
            ),
            None,
        );
        return reader.finish(None);
    }
    let positions = Positions::scan(text);
    let mut reader = Reader::new(source_name, &positions);
    let parsed = serde_yaml_ng::from_str::<Value>(text).and_then(|mut value| {
        value.apply_merge()?;
        Ok(value)
    });
    let config = match parsed {
        Ok(value) => read_root(&mut reader, &value),
        Err(error) => {
            report_syntax_error(&mut reader, &positions, &error);
            None
        }
    };
    reader.finish(config)
}

fn report_syntax_error(reader: &mut Reader, positions: &Positions, error: &serde_yaml_ng::Error) {
    let text = error.to_string();
    if text.contains("duplicate entry")
        && let Some(duplicate) = positions.duplicates.first()
    {
        reader.problem_at(
            duplicate.at.line,
            duplicate.at.column,
            Some(&duplicate.key),
            format!(
                "key '{}' appears twice in one mapping (first on line {})",
                duplicate.key, duplicate.first.line
            ),
            None,
        );
        return;
    }
    let (line, column) = error
        .location()
        .map_or((1, 1), |location| (location.line(), location.column()));
    let mark = format!(" at line {line} column {column}");
    let message = text.replacen(&mark, "", 1);
    let message = if text.contains("more than one document") {
        "the file holds more than one YAML document (a second '---'); keep one".to_string()
    } else {
        format!("invalid YAML: {message}")
    };
    reader.problem_at(line, column, None, message, None);
}

fn read_root(reader: &mut Reader, root: &Value) -> Option<PipelineConfig> {
    let path = YamlPath::root();
    let map = match root {
        Value::Null => {
            reader.problem_at(
                1,
                1,
                None,
                "the file is empty: it needs a 'pipeline:' mapping with a 'stages' list".into(),
                Some("start with e.g. 'pipeline: {stages: [lint, test, build]}'".into()),
            );
            return None;
        }
        Value::Mapping(map) => map,
        other => {
            reader.at_value(
                &path,
                None,
                format!(
                    "the file must be a mapping with a 'pipeline:' key, found {}",
                    describe(other)
                ),
                None,
            );
            return None;
        }
    };
    reader.check_keys(map, &path, "top level", &ROOT_KEYS);
    let Some(pipeline) = map.get("pipeline") else {
        let misspelt = map
            .keys()
            .filter_map(Value::as_str)
            .any(|key| closest(key, ["pipeline"]).is_some());
        if !misspelt {
            reader.problem_at(
                1,
                1,
                Some("pipeline"),
                "the file has no 'pipeline:' key".into(),
                Some(
                    "put the stages under 'pipeline:', e.g. 'pipeline: {stages: [lint, test]}'"
                        .into(),
                ),
            );
        }
        return None;
    };
    let pipeline_path = path.key("pipeline");
    match pipeline {
        Value::Mapping(pipeline) => read_pipeline(reader, pipeline, &pipeline_path),
        other => {
            reader.at_value(
                &pipeline_path,
                Some("pipeline"),
                format!(
                    "'pipeline' must be a mapping with a 'stages' list, found {}",
                    describe(other)
                ),
                None,
            );
            None
        }
    }
}

fn read_pipeline(reader: &mut Reader, map: &Mapping, path: &YamlPath) -> Option<PipelineConfig> {
    const SCOPE: &str = "pipeline";
    reader.check_keys(map, path, SCOPE, &PIPELINE_KEYS);
    let field = |key: &str| map.get(key).map(|value| (value, path.key(key)));

    let retry_on_failure = field("retry_on_failure")
        .and_then(|(v, at)| reader.bool(v, &at, "retry_on_failure", SCOPE))
        .unwrap_or(false);
    let notify_on_success = field("notify_on_success")
        .and_then(|(v, at)| reader.bool(v, &at, "notify_on_success", SCOPE));
    let max_failures = field("max_failures")
        .and_then(|(v, at)| reader.number(v, &at, "max_failures", SCOPE, MAX_FAILURES_RANGE));
    let cancel_superseded = field("cancel_superseded")
        .and_then(|(v, at)| reader.bool(v, &at, "cancel_superseded", SCOPE))
        .unwrap_or(true);
    let deploy_environment = field("deploy_environment").and_then(|(v, at)| {
        let name = reader.text(v, &at, "deploy_environment", SCOPE)?;
        Some(DeployEnvironment { name, path: at })
    });
    let notify = read_notify(reader, field("notify"), notify_on_success);

    let defaults = StageDefaults {
        retries: if retry_on_failure {
            RETRIES_WHEN_RETRYING
        } else {
            0
        },
    };
    let stages_path = path.key("stages");
    let Some(stages) = map.get("stages") else {
        if !map
            .keys()
            .filter_map(Value::as_str)
            .any(|k| closest(k, ["stages"]).is_some())
        {
            reader.at_key(
                path,
                Some("stages"),
                "pipeline: no 'stages' list".into(),
                Some("add e.g. 'stages: [lint, test, build]'".into()),
            );
        }
        return None;
    };
    let Some(entries) = stages.as_sequence() else {
        reader.at_value(
            &stages_path,
            Some("stages"),
            format!(
                "pipeline: 'stages' must be a list of stage names or stage objects, found {}",
                describe(stages)
            ),
            None,
        );
        return None;
    };
    if entries.len() > MAX_STAGES {
        reader.at_value(
            &stages_path,
            Some("stages"),
            format!(
                "pipeline: {} stages; at most {MAX_STAGES} are allowed",
                entries.len()
            ),
            Some("split the work into fewer, larger stages".into()),
        );
        return None;
    }
    if entries.is_empty() {
        reader.at_value(
            &stages_path,
            Some("stages"),
            "pipeline: the stage list is empty".into(),
            Some("name at least one stage, e.g. 'stages: [test]'".into()),
        );
        return None;
    }
    let drafts = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| read_stage(reader, entry, &stages_path, index, &defaults))
        .collect();
    let stages = resolve(reader, drafts, deploy_environment);
    if reader.has_problems() {
        return None;
    }
    Some(PipelineConfig {
        stages,
        max_failures,
        notify: notify?,
        cancel_superseded,
    })
}

fn read_notify(
    reader: &mut Reader,
    field: Option<(&Value, YamlPath)>,
    notify_on_success: Option<bool>,
) -> Option<NotifyRules> {
    let mut rules = NotifyRules {
        on_success: notify_on_success.unwrap_or(false),
        on_failure: true,
        notifier: DEFAULT_NOTIFIER.into(),
        with: Vec::new(),
    };
    let Some((value, path)) = field else {
        return Some(rules);
    };
    let Some(map) = value.as_mapping() else {
        reader.at_value(
            &path,
            Some("notify"),
            format!(
                "pipeline: 'notify' must be a mapping (on_success, on_failure, notifier, with), found {}",
                describe(value)
            ),
            None,
        );
        return None;
    };
    const SCOPE: &str = "notify";
    reader.check_keys(map, &path, SCOPE, &NOTIFY_KEYS);
    let field = |key: &str| map.get(key).map(|value| (value, path.key(key)));
    if let Some((v, at)) = field("on_success") {
        if notify_on_success.is_some() {
            reader.at_key(
                &at,
                Some("on_success"),
                "notify: 'on_success' is also set by 'notify_on_success'".into(),
                Some("keep only one of them".into()),
            );
        }
        rules.on_success = reader.bool(v, &at, "on_success", SCOPE).unwrap_or(false);
    }
    if let Some((v, at)) = field("on_failure") {
        rules.on_failure = reader.bool(v, &at, "on_failure", SCOPE).unwrap_or(true);
    }
    if let Some((v, at)) = field("notifier")
        && let Some(notifier) = reader.name(v, &at, "notifier", SCOPE)
    {
        rules.notifier = notifier;
    }
    if let Some((v, at)) = field("with") {
        rules.with = reader.with_pairs(v, &at, SCOPE).unwrap_or_default();
    }
    Some(rules)
}
