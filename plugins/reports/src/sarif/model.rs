//! The parts of a SARIF 2.1.0 log the reader looks at, as lenient serde types.
//!
//! Every field is optional or defaults, and `null` reads as absent, because producers
//! differ in what they print (semgrep leaves out `level`, hadolint has no `rules`,
//! bandit puts results before the tool). Unknown properties are ignored.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// `null` and absent both read as the type's default.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// One `runs[]` entry, without its results (those are read one by one so an error can
/// name the result).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub tool: Option<Tool>,
    #[serde(default, deserialize_with = "nullable")]
    pub original_uri_base_ids: HashMap<String, ArtifactLocation>,
    #[serde(default, deserialize_with = "nullable")]
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Tool {
    pub driver: Option<Component>,
    #[serde(default, deserialize_with = "nullable")]
    pub extensions: Vec<Component>,
}

/// `tool.driver` or one of `tool.extensions`.
#[derive(Debug, Default, Deserialize)]
pub struct Component {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: Option<String>,
    pub short_description: Option<Message>,
    pub full_description: Option<Message>,
    pub help: Option<Message>,
    #[serde(default, deserialize_with = "nullable")]
    pub message_strings: HashMap<String, Message>,
    pub default_configuration: Option<Configuration>,
    pub properties: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Configuration {
    pub level: Option<String>,
}

/// `message`, `shortDescription`, a `messageStrings` entry: text, markdown, or an id
/// with arguments to look up in the rule.
#[derive(Debug, Default, Deserialize)]
pub struct Message {
    pub text: Option<String>,
    pub markdown: Option<String>,
    pub id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: Option<String>,
    pub rule_index: Option<i64>,
    pub rule: Option<RuleReference>,
    pub level: Option<String>,
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub message: Message,
    #[serde(default, deserialize_with = "nullable")]
    pub locations: Vec<Location>,
    pub properties: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    pub fixes: Vec<Fix>,
    #[serde(default, deserialize_with = "nullable")]
    pub suppressions: Vec<Suppression>,
}

/// `result.rule`: the rule by id or index, in the driver or an extension.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleReference {
    pub id: Option<String>,
    pub index: Option<i64>,
    pub tool_component: Option<ComponentReference>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ComponentReference {
    pub index: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub physical_location: Option<PhysicalLocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: Option<ArtifactLocation>,
    pub region: Option<Region>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    pub uri: Option<String>,
    pub uri_base_id: Option<String>,
    pub index: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Artifact {
    pub location: Option<ArtifactLocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub start_line: Option<i64>,
    pub start_column: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Fix {
    pub description: Option<Message>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Suppression {
    pub status: Option<String>,
}
