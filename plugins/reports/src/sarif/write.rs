//! SARIF 2.1.0 writer, the one the lint and security stages share: one run per tool in
//! the order tools are first named, each rule described once per run, and paths as
//! percent-encoded URIs relative to `%SRCROOT%` (the folder the tools saw as the
//! workspace), or `file:` URIs when they point outside it.
//!
//! Every log names the OASIS schema it follows ([`SCHEMA`]); what is written validates
//! against it (`uri-reference` formats included).

mod log;

use super::uri::{artifact_uri, folder_uri};
use crate::Severity;
use serde::Serialize;
use serde::ser::SerializeStruct;
use std::collections::{BTreeMap, HashMap};

/// The official SARIF 2.1.0 JSON schema (OASIS, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The base every workspace-relative URI is relative to.
const SOURCE_ROOT: &str = "%SRCROOT%";

/// SARIF's level for a severity: high and critical are errors (they block in most
/// viewers), medium warnings, the rest notes.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// Where a tool documents itself (`tool.driver.informationUri`).
fn information_uri(tool: &str) -> &'static str {
    match tool {
        "pylint" => "https://pylint.readthedocs.io",
        "eslint" => "https://eslint.org",
        "bandit" => "https://bandit.readthedocs.io/",
        "trivy" => "https://trivy.dev/",
        "snyk" => "https://snyk.io/",
        _ => "https://github.com/",
    }
}

/// A result's rule. The first result of a rule in a run describes it; later ones
/// only point at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rule<'a> {
    /// The rule id (`ruleId`).
    pub id: &'a str,
    /// A one-line title (`shortDescription`).
    pub title: Option<&'a str>,
    /// The rule's own severity (`defaultConfiguration.level`).
    pub default_severity: Option<Severity>,
    /// A page describing the rule (`helpUri`).
    pub help_uri: Option<&'a str>,
    /// The tool's other name for the rule (pylint's `W0611` for `unused-import`).
    pub tool_code: Option<&'a str>,
}

/// A package or module a result is about, when it has no file (a logical location).
#[derive(Debug, Clone, Copy)]
pub struct Module<'a> {
    /// What the tool calls it (a lock file, an image layer's path).
    pub name: &'a str,
    /// Its full name, e.g. `name@version`.
    pub full_name: &'a str,
}

/// One result to write.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The rule it breaks.
    pub rule: Rule<'a>,
    /// Bosun's severity: SARIF's `level`, and the `severity` property.
    pub severity: Severity,
    /// The message (SARIF wants one that is not empty; callers fall back to the rule).
    pub message: &'a str,
    /// The file as the tool printed it (workspace-relative, or under the workspace
    /// folder), if any.
    pub path: Option<&'a str>,
    /// 1-based line and column; 0 means unknown and is left out.
    pub line: Option<u32>,
    /// See `line`.
    pub column: Option<u32>,
    /// The package the result is about, if any.
    pub module: Option<Module<'a>>,
    /// The version that fixes a vulnerability.
    pub fixed_version: Option<&'a str>,
    /// What the tool scanned to find it (an image, a lock file).
    pub target: Option<&'a str>,
    /// Why the result is accepted, for a result someone chose to ignore (an accepted
    /// external suppression).
    pub suppression: Option<String>,
}

impl<'a> Entry<'a> {
    /// A result of `rule` with `message` and nothing else known.
    pub fn new(rule: Rule<'a>, severity: Severity, message: &'a str) -> Entry<'a> {
        Entry {
            rule,
            severity,
            message,
            path: None,
            line: None,
            column: None,
            module: None,
            fixed_version: None,
            target: None,
            suppression: None,
        }
    }
}

/// A SARIF log being written; serialise it with serde (or [`SarifLog::to_json`]).
#[derive(Debug)]
pub struct SarifLog<'a> {
    workspace: &'a str,
    column_kind: Option<&'static str>,
    runs: Vec<log::Run<'a>>,
    /// Rule indexes by (run, rule id), so many distinct rules stay linear.
    rule_index: HashMap<(usize, &'a str), usize>,
}

impl<'a> SarifLog<'a> {
    /// An empty log of tools that saw the repository at `workspace` (e.g. `/workspace`).
    pub fn new(workspace: &'a str) -> SarifLog<'a> {
        SarifLog {
            workspace,
            column_kind: None,
            runs: Vec::new(),
            rule_index: HashMap::new(),
        }
    }

    /// Say that columns count Unicode code points (tools reading Python source).
    pub fn with_code_point_columns(mut self) -> SarifLog<'a> {
        self.column_kind = Some("unicodeCodePoints");
        self
    }

    /// The index of `tool`'s run, added (empty) if it has none yet: a tool that found
    /// nothing still shows it ran.
    pub fn add_run(&mut self, tool: &'a str) -> usize {
        if let Some(at) = self.runs.iter().position(|r| r.tool.driver.name == tool) {
            return at;
        }
        self.runs.push(log::Run {
            tool: log::Tool {
                driver: log::Driver {
                    name: tool,
                    information_uri: information_uri(tool),
                    rules: Vec::new(),
                },
            },
            column_kind: self.column_kind,
            original_uri_base_ids: BTreeMap::from([(
                SOURCE_ROOT,
                log::BaseUri {
                    uri: folder_uri(self.workspace),
                },
            )]),
            results: Vec::new(),
        });
        self.runs.len() - 1
    }

    /// Add `entry` to `tool`'s run.
    pub fn push(&mut self, tool: &'a str, entry: Entry<'a>) {
        let run_at = self.add_run(tool);
        let Some(run) = self.runs.get_mut(run_at) else {
            return;
        };
        let rules = &mut run.tool.driver.rules;
        let rule_index = *self
            .rule_index
            .entry((run_at, entry.rule.id))
            .or_insert_with(|| {
                rules.push(rule(&entry.rule));
                rules.len() - 1
            });
        run.results.push(result(entry, rule_index, self.workspace));
    }

    /// The log as JSON bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl Serialize for SarifLog<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut log = serializer.serialize_struct("SarifLog", 3)?;
        log.serialize_field("$schema", SCHEMA)?;
        log.serialize_field("version", "2.1.0")?;
        log.serialize_field("runs", &self.runs)?;
        log.end()
    }
}

fn rule<'a>(rule: &Rule<'a>) -> log::Rule<'a> {
    log::Rule {
        id: rule.id,
        short_description: rule.title.map(|text| log::Text { text }),
        default_configuration: rule.default_severity.map(|severity| log::Configuration {
            level: level(severity),
        }),
        help_uri: rule.help_uri,
        properties: rule
            .tool_code
            .map(|tool_code| log::RuleProperties { tool_code }),
    }
}

fn result<'a>(entry: Entry<'a>, rule_index: usize, workspace: &str) -> log::Result<'a> {
    let physical_location = entry.path.filter(|p| !p.is_empty()).map(|path| {
        let written = artifact_uri(path, workspace);
        log::PhysicalLocation {
            artifact_location: log::ArtifactLocation {
                uri: written.uri,
                uri_base_id: written.in_workspace.then_some(SOURCE_ROOT),
            },
            region: entry.line.filter(|l| *l > 0).map(|start_line| log::Region {
                start_line,
                start_column: entry.column.filter(|c| *c > 0),
            }),
        }
    });
    let logical_locations: Vec<log::LogicalLocation<'a>> = entry
        .module
        .map(|module| log::LogicalLocation {
            name: module.name,
            fully_qualified_name: module.full_name,
            kind: "module",
        })
        .into_iter()
        .collect();
    let locations = if physical_location.is_none() && logical_locations.is_empty() {
        Vec::new()
    } else {
        vec![log::Location {
            physical_location,
            logical_locations,
        }]
    };
    log::Result {
        rule_id: entry.rule.id,
        rule_index,
        level: level(entry.severity),
        message: log::Text {
            text: entry.message,
        },
        locations,
        properties: log::ResultProperties {
            severity: entry.severity.as_str(),
            fixed_version: entry.fixed_version,
            target: entry.target,
        },
        suppressions: entry
            .suppression
            .map(|justification| log::Suppression {
                kind: "external",
                status: "accepted",
                justification,
            })
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests;
