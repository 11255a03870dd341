//! A stage's own commands: `image`, `commands`, `env`, `cache`, `reports`, `services`
//! and `artifacts` (`artifacts.rs`), read into
//! a [`CommandStep`] that the built-in `commands` plugin runs. The step travels to the
//! agent as JSON in the task's reserved `bosun.step` setting.

use super::artifacts::read_artifacts;
use super::positions::YamlPath;
use super::reader::{Keys, Reader, describe, scalar_text};
use super::services::{ServiceSpec, read_services};
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

/// The plugin that runs command steps.
pub const COMMANDS_PLUGIN: &str = "commands";
/// The agent pool command steps go to unless they name one (`agent:`): any agent with
/// a container engine runs them, whatever the stage is called.
pub const COMMANDS_POOL: &str = "commands";
/// The reserved `with:` key the step travels in.
pub const STEP_KEY: &str = "bosun.step";
/// Report formats a step may declare.
pub const REPORT_KINDS: &[&str] = &[
    "junit", "coverage", "sarif", "pylint", "eslint", "bandit", "trivy",
];
/// The keys that make a stage a command step.
pub(crate) const STEP_KEYS: &[&str] = &[
    "image",
    "commands",
    "env",
    "cache",
    "reports",
    "services",
    "artifacts",
];

const MAX_COMMANDS: usize = 200;
const MAX_COMMAND_BYTES: usize = 64 << 10;
const MAX_PATHS: usize = 32;
const MAX_ENV: usize = 128;

const CACHE_KEYS: Keys = Keys {
    allowed: &["key", "paths"],
    elsewhere: &[],
};

/// A stage that runs its own commands.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CommandStep {
    /// The image the commands run in.
    pub image: String,
    /// Shell command lines, run in order by one `/bin/sh -e`.
    pub commands: Vec<String>,
    /// Extra environment variables, in file order.
    pub env: Vec<(String, String)>,
    /// Whether the stage asked for network (granted or refused by the tenant).
    pub network: bool,
    /// Folders kept between runs.
    pub cache: CacheSpec,
    /// Report kind → workspace-relative paths or globs.
    pub reports: Vec<(String, Vec<String>)>,
    /// Containers started before the commands, reachable by name.
    pub services: Vec<ServiceSpec>,
    /// Files kept with the attempt after the commands (globs in the workspace or under
    /// `/out/`); the agent keeps them, so the JSON leaves them out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
}

/// What a step keeps between runs, and what selects the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CacheSpec {
    /// Workspace files whose contents select the cache (lockfiles).
    pub key: Vec<String>,
    /// Folders kept: under `~/`, under `/tmp/`, or relative to the workspace.
    pub paths: Vec<String>,
}

impl CommandStep {
    /// The JSON the `commands` plugin reads from `bosun.step`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Reads the step keys of a stage object; `None` when it has none of them (a plugin
/// stage) or they cannot be used (problems recorded).
pub(crate) fn read_command_step(
    reader: &mut Reader,
    map: &Mapping,
    path: &YamlPath,
    scope: &str,
) -> Option<CommandStep> {
    if !STEP_KEYS.iter().any(|key| map.contains_key(*key)) {
        return None;
    }
    let before = reader.problem_count();
    let mut step = CommandStep::default();
    match map.get("image") {
        Some(value) => step.image = reader.text(value, &path.key("image"), "image", scope)?,
        None => reader.at_value(
            path,
            None,
            format!("{scope} has commands but no 'image' to run them in"),
            Some("name one, e.g. 'image: bosun/python:3.11'".into()),
        ),
    }
    match map.get("commands") {
        Some(value) => step.commands = read_commands(reader, value, &path.key("commands"), scope),
        None => reader.at_value(
            path,
            None,
            format!("{scope} names an image but no 'commands' to run in it"),
            Some("list them, e.g. 'commands: [pytest]'".into()),
        ),
    }
    if let Some(value) = map.get("env") {
        step.env = read_env(reader, value, &path.key("env"), scope);
    }
    if let Some(value) = map.get("cache") {
        step.cache = read_cache(reader, value, &path.key("cache"), scope);
    }
    if let Some(value) = map.get("reports") {
        step.reports = read_reports(reader, value, &path.key("reports"), scope);
    }
    if let Some(value) = map.get("services") {
        step.services = read_services(reader, value, &path.key("services"), scope);
    }
    if let Some(value) = map.get("artifacts") {
        step.artifacts = read_artifacts(reader, value, &path.key("artifacts"), scope);
    }
    (reader.problem_count() == before).then_some(step)
}

fn read_commands(reader: &mut Reader, value: &Value, at: &YamlPath, scope: &str) -> Vec<String> {
    let Some(items) = reader.text_list(value, at, "commands", scope) else {
        return Vec::new();
    };
    if items.is_empty() {
        reader.at_value(
            at,
            Some("commands"),
            format!("{scope}: 'commands' is empty"),
            None,
        );
    }
    if items.len() > MAX_COMMANDS {
        reader.at_value(
            at,
            Some("commands"),
            format!(
                "{scope}: {} commands; at most {MAX_COMMANDS} are allowed",
                items.len()
            ),
            None,
        );
    }
    let mut commands = Vec::with_capacity(items.len());
    for (index, (command, item_at)) in items.into_iter().enumerate() {
        if command.trim().is_empty() || command.contains('\0') || command.len() > MAX_COMMAND_BYTES
        {
            reader.at_value(
                &item_at,
                Some("commands"),
                format!(
                    "{scope}: command {} is empty, longer than {} KiB or contains a NUL byte",
                    index + 1,
                    MAX_COMMAND_BYTES >> 10
                ),
                None,
            );
        }
        commands.push(command);
    }
    commands
}

pub(crate) fn read_env(
    reader: &mut Reader,
    value: &Value,
    at: &YamlPath,
    scope: &str,
) -> Vec<(String, String)> {
    let Some(map) = value.as_mapping() else {
        reader.wrong_type(
            at,
            "env",
            scope,
            "a mapping of variable names to values",
            value,
        );
        return Vec::new();
    };
    if map.len() > MAX_ENV {
        reader.at_value(
            at,
            Some("env"),
            format!("{scope}: 'env' sets more than {MAX_ENV} variables"),
            None,
        );
    }
    let mut env = Vec::new();
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default();
        let name_ok = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok || name.starts_with("BOSUN_") {
            reader.at_key(
                &at.key(&scalar_text(key).unwrap_or_default()),
                Some(name),
                format!(
                    "{scope}: environment variable name {:?} is not allowed (letters, digits and '_'; BOSUN_ is reserved for the task's own variables)",
                    scalar_text(key).unwrap_or_default()
                ),
                None,
            );
            continue;
        }
        match value {
            Value::Mapping(_) | Value::Sequence(_) | Value::Null | Value::Tagged(_) => {
                reader.at_value(
                    &at.key(name),
                    Some(name),
                    format!(
                        "{scope}: env {name} must be text, a number or true/false, found {}",
                        describe(value)
                    ),
                    None,
                );
            }
            scalar => env.push((name.to_string(), scalar_text(scalar).unwrap_or_default())),
        }
    }
    env
}

fn read_cache(reader: &mut Reader, value: &Value, at: &YamlPath, scope: &str) -> CacheSpec {
    let (paths_value, paths_at, key) = match value.as_mapping() {
        Some(map) => {
            let scope = format!("{scope}, in 'cache'");
            reader.check_keys(map, at, &scope, &CACHE_KEYS);
            let key = map
                .get("key")
                .and_then(|v| reader.text_list(v, &at.key("key"), "key", &scope))
                .unwrap_or_default();
            for (file, file_at) in &key {
                if !relative_path(file) {
                    reader.at_value(
                        file_at,
                        Some("key"),
                        format!(
                            "{scope}: cache key file {file:?} must be a path in the repository"
                        ),
                        None,
                    );
                }
            }
            let Some(paths) = map.get("paths") else {
                reader.at_value(at, None, format!("{scope} has no 'paths' to keep"), None);
                return CacheSpec::default();
            };
            (
                paths,
                at.key("paths"),
                key.into_iter().map(|(k, _)| k).collect(),
            )
        }
        None => (value, at.clone(), Vec::new()),
    };
    let paths = reader
        .text_list(paths_value, &paths_at, "cache", scope)
        .unwrap_or_default();
    if paths.len() > MAX_PATHS {
        reader.at_value(
            &paths_at,
            Some("cache"),
            format!("{scope}: at most {MAX_PATHS} cache paths"),
            None,
        );
    }
    for (path, path_at) in &paths {
        if !cache_path(path) {
            reader.at_value(
                path_at,
                Some("cache"),
                format!("{scope}: cache path {path:?} must be under ~/, under /tmp/, or relative to the workspace, without '..'"),
                Some("e.g. '~/.cache/pip', '~/.npm' or 'node_modules'".into()),
            );
        }
    }
    CacheSpec {
        key,
        paths: paths.into_iter().map(|(p, _)| p).collect(),
    }
}

fn read_reports(
    reader: &mut Reader,
    value: &Value,
    at: &YamlPath,
    scope: &str,
) -> Vec<(String, Vec<String>)> {
    let Some(map) = value.as_mapping() else {
        reader.wrong_type(
            at,
            "reports",
            scope,
            "a mapping of report kinds to paths",
            value,
        );
        return Vec::new();
    };
    let scope = format!("{scope}, in 'reports'");
    reader.check_keys(
        map,
        at,
        &scope,
        &Keys {
            allowed: REPORT_KINDS,
            elsewhere: &[],
        },
    );
    let mut reports = Vec::new();
    for kind in REPORT_KINDS {
        let Some(value) = map.get(*kind) else {
            continue;
        };
        let kind_at = at.key(kind);
        let Some(paths) = reader.text_list(value, &kind_at, kind, &scope) else {
            continue;
        };
        if paths.is_empty() || paths.len() > MAX_PATHS {
            reader.at_value(
                &kind_at,
                Some(kind),
                format!("{scope}: '{kind}' lists no paths, or more than {MAX_PATHS}"),
                None,
            );
        }
        for (path, path_at) in &paths {
            if !relative_path(path.trim_start_matches("./")) {
                reader.at_value(
                    path_at,
                    Some(kind),
                    format!("{scope}: report path {path:?} must be relative to the workspace, without '..'"),
                    Some("reports are read from the step's checkout, e.g. 'reports/junit.xml'".into()),
                );
            }
        }
        reports.push((
            kind.to_string(),
            paths.into_iter().map(|(p, _)| p).collect(),
        ));
    }
    reports
}

fn relative_path(path: &str) -> bool {
    !path.trim().is_empty()
        && !path.starts_with('/')
        && !path.starts_with('~')
        && !path.contains('\0')
        && path.split('/').all(|part| part != "..")
}

fn cache_path(path: &str) -> bool {
    let rest = path
        .strip_prefix("~/")
        .or_else(|| path.strip_prefix("/tmp/"))
        .unwrap_or(path.trim_start_matches("./"));
    relative_path(rest.trim_end_matches('/'))
}

#[cfg(test)]
mod tests;
