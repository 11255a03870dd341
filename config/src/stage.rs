//! One entry of `stages`: a bare name or a stage object, read with its own defaults.
//! Dependencies, `deploy_environment` and rollback are settled later, across stages.

use super::command_step::{COMMANDS_PLUGIN, COMMANDS_POOL, CommandStep, read_command_step};
use super::hold::{read_approval, read_concurrency};
use super::matrix::{MatrixDraft, read_matrix};
use super::positions::YamlPath;
use super::reader::{Keys, Reader, closest, describe};
use super::stage_rules::{read_backoff, read_when};
use super::{Backoff, StageSpec, When};
use serde_yaml_ng::{Mapping, Value};
use std::time::Duration;

/// Most stages one `needs` may list.
pub(crate) const MAX_NEEDS: usize = 64;

const STAGE_KEYS: Keys = Keys {
    allowed: &[
        "name",
        "plugin",
        "agent",
        "with",
        "needs",
        "retries",
        "backoff",
        "timeout",
        "when",
        "environment",
        "allow_failure",
        "network",
        "rollback",
        "image",
        "commands",
        "env",
        "cache",
        "reports",
        "services",
        "artifacts",
        "matrix",
        "fail_fast",
        "max_parallel",
        "approval",
        "concurrency",
    ],
    elsewhere: &[
        (
            "retry_on_failure",
            "'retry_on_failure' belongs under 'pipeline:'; a stage sets 'retries'",
        ),
        ("max_failures", "'max_failures' belongs under 'pipeline:'"),
        ("notify", "'notify' belongs under 'pipeline:'"),
        ("deploy_environment", "a stage sets 'environment'"),
        ("depends_on", "a stage lists what it waits for in 'needs'"),
        ("if", "a stage gives its conditions in 'when'"),
    ],
};

const ROLLBACK_KEYS: Keys = Keys {
    allowed: &["plugin", "with"],
    elsewhere: &[],
};

/// Limits that keep a typo from becoming a pipeline that waits for days.
const MAX_RETRIES: u32 = 10;
const TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(24 * 3600));
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Agent pools whose topics `agent.<pool>` carry other messages than stage tasks: stage
/// reports, dead letters, policy questions and notification requests.
const RESERVED_AGENTS: &[&str] = &["results", "dead-letter", "policy", "notify", "logs"];

/// What the stage asked for on failure, before the cross-stage defaults apply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RollbackChoice {
    /// No `rollback` key: the default applies to deploying stages.
    Default,
    /// `rollback: false`.
    Disabled,
    /// `rollback: true`: the default, on any stage.
    Enabled,
    /// `{plugin, with}`; a missing part is the default's.
    Custom {
        plugin: Option<String>,
        with: Option<Vec<(String, String)>>,
    },
}

/// A stage read from one entry, before dependencies are resolved.
#[derive(Debug, Clone)]
pub(crate) struct StageDraft {
    /// Defaults filled in; `needs` empty and `rollback` unset until resolved.
    pub(crate) spec: StageSpec,
    /// Where the name is written.
    pub(crate) name_path: YamlPath,
    /// Whether the name came from a `name:` key (rather than a bare list item).
    pub(crate) named_by_key: bool,
    /// `needs` as written, with where each name is written; `None` when absent.
    pub(crate) needs: Option<Vec<(String, YamlPath)>>,
    /// Where `needs` (or, when absent, the name) is written.
    pub(crate) needs_path: YamlPath,
    pub(crate) rollback: RollbackChoice,
    /// `matrix` as written; expanded into instances once `needs` are resolved.
    pub(crate) matrix: Option<MatrixDraft>,
}

/// Pipeline-wide settings that stage defaults come from.
pub(crate) struct StageDefaults {
    pub(crate) retries: u32,
}

/// Reads stage `index` of the list at `list_path`; `None` when it cannot be used (its
/// problems are recorded).
pub(crate) fn read_stage(
    reader: &mut Reader,
    entry: &Value,
    list_path: &YamlPath,
    index: usize,
    defaults: &StageDefaults,
) -> Option<StageDraft> {
    let path = list_path.index(index);
    let unnamed = format!("stage #{}", index + 1);
    match entry {
        Value::String(_) => {
            let name = reader.name(entry, &path, "name", &unnamed)?;
            check_reserved_agent(reader, &name, &path, &format!("stage '{name}'"));
            Some(StageDraft {
                spec: default_spec(name, defaults),
                name_path: path.clone(),
                named_by_key: false,
                needs: None,
                needs_path: path,
                rollback: RollbackChoice::Default,
                matrix: None,
            })
        }
        Value::Mapping(map) => read_stage_object(reader, map, &path, &unnamed, defaults),
        other => {
            reader.at_value(
                &path,
                None,
                format!(
                    "{unnamed} must be a stage name or a mapping with a 'name', found {}",
                    describe(other)
                ),
                None,
            );
            None
        }
    }
}

fn default_spec(name: String, defaults: &StageDefaults) -> StageSpec {
    StageSpec {
        agent: name.clone(),
        plugin: name.clone(),
        name,
        with: Vec::new(),
        needs: Vec::new(),
        retries: defaults.retries,
        backoff: Backoff::default(),
        timeout: DEFAULT_TIMEOUT,
        when: When::default(),
        environment: None,
        allow_failure: false,
        network: false,
        rollback: None,
        step: None,
        matrix: None,
        approval: None,
        concurrency: None,
    }
}

fn read_stage_object(
    reader: &mut Reader,
    map: &Mapping,
    path: &YamlPath,
    unnamed: &str,
    defaults: &StageDefaults,
) -> Option<StageDraft> {
    let name_path = path.key("name");
    let name = match map.get("name") {
        Some(value) => reader.name(value, &name_path, "name", unnamed),
        None => {
            let has_misspelt_name = map
                .keys()
                .filter_map(Value::as_str)
                .any(|key| closest(key, ["name"]).is_some());
            if !has_misspelt_name {
                reader.at_value(
                    path,
                    None,
                    format!("{unnamed} has no 'name'"),
                    Some("give every stage object a 'name', e.g. 'name: test'".into()),
                );
            }
            None
        }
    };
    let scope = name
        .as_ref()
        .map_or_else(|| unnamed.to_string(), |name| format!("stage '{name}'"));
    reader.check_keys(map, path, &scope, &STAGE_KEYS);

    let mut spec = default_spec(name.clone().unwrap_or_default(), defaults);
    let field = |key: &str| map.get(key).map(|value| (value, path.key(key)));

    if let Some((value, at)) = field("plugin")
        && let Some(plugin) = reader.name(value, &at, "plugin", &scope)
    {
        spec.plugin = plugin;
    }
    if let Some((value, at)) = field("agent")
        && let Some(agent) = reader.name(value, &at, "agent", &scope)
    {
        spec.agent = agent;
    }
    if name.is_some() {
        let agent_path = if map.contains_key("agent") {
            path.key("agent")
        } else {
            name_path.clone()
        };
        check_reserved_agent(reader, &spec.agent, &agent_path, &scope);
    }
    if let Some((value, at)) = field("with") {
        spec.with = reader.with_pairs(value, &at, &scope).unwrap_or_default();
    }
    let step = read_command_step(reader, map, path, &scope);
    if step.is_some() {
        if let Some(plugin) = map.get("plugin").and_then(Value::as_str)
            && plugin != COMMANDS_PLUGIN
        {
            reader.at_value(
                &path.key("plugin"),
                Some("plugin"),
                format!("{scope}: a stage with 'commands' runs them with the '{COMMANDS_PLUGIN}' plugin, not '{plugin}'"),
                Some("drop 'plugin', or drop 'image' and 'commands' to let the plugin do the work".into()),
            );
        }
        spec.plugin = COMMANDS_PLUGIN.to_string();
        if !map.contains_key("agent") {
            spec.agent = COMMANDS_POOL.to_string();
        }
    }
    let needs =
        field("needs").and_then(|(value, at)| reader.text_list(value, &at, "needs", &scope));
    if let Some(listed) = &needs
        && listed.len() > MAX_NEEDS
        && let Some((_, at)) = field("needs")
    {
        reader.at_value(
            &at,
            Some("needs"),
            format!(
                "{scope}: 'needs' lists {} stages; at most {MAX_NEEDS} are allowed",
                listed.len()
            ),
            None,
        );
    }
    if let Some((value, at)) = field("retries")
        && let Some(retries) = reader.number(value, &at, "retries", &scope, (0, MAX_RETRIES))
    {
        spec.retries = retries;
    }
    if let Some((value, at)) = field("backoff")
        && let Some(backoff) = read_backoff(reader, value, &at, &scope)
    {
        spec.backoff = backoff;
    }
    if let Some((value, at)) = field("timeout")
        && let Some(timeout) = reader.duration(value, &at, "timeout", &scope, TIMEOUT_RANGE)
    {
        spec.timeout = timeout;
    }
    if let Some((value, at)) = field("when") {
        spec.when = read_when(reader, value, &at, &scope).unwrap_or_default();
    }
    if let Some((value, at)) = field("environment") {
        spec.environment = reader.text(value, &at, "environment", &scope);
    }
    if let Some((value, at)) = field("approval") {
        spec.approval = read_approval(reader, value, &at, &scope);
    }
    if let Some((value, at)) = field("concurrency") {
        spec.concurrency = read_concurrency(reader, value, &at, &scope);
    }
    if let Some((value, at)) = field("allow_failure") {
        spec.allow_failure = reader
            .bool(value, &at, "allow_failure", &scope)
            .unwrap_or(false);
    }
    if let Some((value, at)) = field("network") {
        spec.network = reader.bool(value, &at, "network", &scope).unwrap_or(false);
    }
    if step.as_ref().is_some_and(|s| !s.services.is_empty()) && !spec.network {
        // The network a step shares with its services reaches the agent's host: only a
        // stage the tenant grants network may have one.
        reader.at_value(
            &path.key("services"),
            Some("services"),
            format!(
                "{scope}: services need 'network: true' (granted by the tenant's network_stages)"
            ),
            Some("add 'network: true' to the stage".into()),
        );
    }
    spec.step = step.map(|step| CommandStep {
        network: spec.network,
        ..step
    });
    let rollback = match field("rollback") {
        Some((value, at)) => read_rollback(reader, value, &at, &scope),
        None => RollbackChoice::Default,
    };

    let needs_path = if map.contains_key("needs") {
        path.key("needs")
    } else {
        name_path.clone()
    };
    let matrix = read_matrix(reader, map, path, &scope);
    Some(StageDraft {
        spec,
        name_path,
        named_by_key: true,
        needs,
        needs_path,
        rollback,
        matrix,
    })
    .filter(|_| name.is_some())
}

fn check_reserved_agent(reader: &mut Reader, agent: &str, at: &YamlPath, scope: &str) {
    if RESERVED_AGENTS.contains(&agent) {
        reader.at_value(
            at,
            Some("agent"),
            format!("{scope}: agent pool '{agent}' is reserved (topic 'agent.{agent}' carries other messages)"),
            Some("give the stage another name, or set 'agent' to another pool".into()),
        );
    }
}

fn read_rollback(
    reader: &mut Reader,
    value: &Value,
    path: &YamlPath,
    scope: &str,
) -> RollbackChoice {
    match value {
        Value::Bool(false) => RollbackChoice::Disabled,
        Value::Bool(true) => RollbackChoice::Enabled,
        Value::Mapping(map) => {
            let scope = format!("{scope}, in 'rollback'");
            reader.check_keys(map, path, &scope, &ROLLBACK_KEYS);
            let plugin = map
                .get("plugin")
                .and_then(|v| reader.name(v, &path.key("plugin"), "plugin", &scope));
            let with = map
                .get("with")
                .and_then(|v| reader.with_pairs(v, &path.key("with"), &scope));
            RollbackChoice::Custom { plugin, with }
        }
        other => {
            reader.at_value(
                path,
                Some("rollback"),
                format!(
                    "{scope}: 'rollback' must be false, true or a mapping with 'plugin' and 'with', found {}",
                    describe(other)
                ),
                None,
            );
            RollbackChoice::Default
        }
    }
}
