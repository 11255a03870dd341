//! One SARIF result as a finding: its rule, severity, message, place and fix, each
//! with the fallbacks SARIF 2.1.0 and GitHub's code scanning define.

use super::SarifFinding;
use super::model::ArtifactLocation;
use super::model::{Component, Message, Rule, Run, SarifResult};
use super::uri::{is_absolute, strip_roots, to_path};
use crate::Severity;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What every result of a run shares: the tool, its rules by id, the roots that make
/// absolute paths relative, and the run's artifacts for `artifactLocation.index`.
pub struct RunContext<'a> {
    run: &'a Run,
    driver: &'a Component,
    driver_rules: HashMap<&'a str, &'a Rule>,
    roots: Vec<String>,
    workspace_root: Option<&'a str>,
}

impl<'a> RunContext<'a> {
    pub fn new(run: &'a Run, driver: &'a Component, workspace_root: Option<&'a str>) -> Self {
        let driver_rules = driver
            .rules
            .iter()
            .filter_map(|rule| rule.id.as_deref().map(|id| (id, rule)))
            .collect();
        // The caller's root first: it is what the workspace is; the producer's bases
        // (`%SRCROOT%`, `ROOTPATH`) say where it was on the machine that ran the tool.
        let mut roots: Vec<String> = workspace_root.map(str::to_string).into_iter().collect();
        let mut bases: Vec<&String> = run
            .original_uri_base_ids
            .values()
            .filter_map(|base| base.uri.as_ref())
            .collect();
        // Longest first, so a nested base wins over its parent; `file:///` is a base
        // too (trivy's ROOTPATH) and would otherwise swallow every path.
        bases.sort_by_key(|uri| std::cmp::Reverse(uri.len()));
        roots.extend(bases.into_iter().cloned());
        RunContext {
            run,
            driver,
            driver_rules,
            roots,
            workspace_root,
        }
    }

    /// The finding for `result`, or `None` for results that are not problems
    /// (`kind` `pass` or `notApplicable`).
    pub fn finding(&self, result: &SarifResult) -> Option<SarifFinding> {
        if matches!(result.kind.as_deref(), Some("pass" | "notApplicable")) {
            return None;
        }
        let rule = self.rule_of(result);
        let rule_id = result
            .rule_id
            .as_deref()
            .or_else(|| result.rule.as_ref().and_then(|r| r.id.as_deref()))
            .or_else(|| rule.and_then(|r| r.id.as_deref()))
            .unwrap_or("unknown")
            .to_string();
        let message = message_of(result, rule, &rule_id);
        let (path, line, column) = self.place_of(result);
        Some(SarifFinding {
            tool: self.driver.name.clone(),
            severity: severity_of(result, rule),
            fixed_version: fixed_version_of(result, rule),
            suppressed: result
                .suppressions
                .iter()
                .any(|s| matches!(s.status.as_deref(), None | Some("accepted"))),
            rule: rule_id,
            message,
            path,
            line,
            column,
        })
    }

    /// The rule a result points at: by index (in the driver or the extension
    /// `rule.toolComponent` names), else by id in the driver.
    fn rule_of(&self, result: &SarifResult) -> Option<&'a Rule> {
        let reference = result.rule.as_ref();
        let component = match reference
            .and_then(|r| r.tool_component.as_ref())
            .and_then(|c| c.index)
        {
            Some(index) => self
                .run
                .tool
                .as_ref()
                .and_then(|t| t.extensions.get(usize::try_from(index).ok()?))?,
            None => self.driver,
        };
        let index = reference.and_then(|r| r.index).or(result.rule_index);
        if let Some(rule) = index
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| component.rules.get(i))
        {
            return Some(rule);
        }
        let id = result
            .rule_id
            .as_deref()
            .or_else(|| reference.and_then(|r| r.id.as_deref()))?;
        if std::ptr::eq(component, self.driver) {
            self.driver_rules.get(id).copied()
        } else {
            component.rules.iter().find(|r| r.id.as_deref() == Some(id))
        }
    }

    /// Path, line and column of the first location that has a physical one.
    fn place_of(&self, result: &SarifResult) -> (Option<String>, Option<u32>, Option<u32>) {
        let Some(physical) = result
            .locations
            .iter()
            .find_map(|l| l.physical_location.as_ref())
        else {
            return (None, None, None);
        };
        let path = physical
            .artifact_location
            .as_ref()
            .and_then(|location| self.path_of(location))
            .filter(|path| !path.is_empty());
        let region = physical.region.as_ref();
        let positive = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
        (
            path,
            positive(region.and_then(|r| r.start_line)),
            positive(region.and_then(|r| r.start_column)),
        )
    }
}

impl RunContext<'_> {
    /// The workspace-relative path an artifact location names.
    fn path_of(&self, location: &ArtifactLocation) -> Option<String> {
        let (uri, base_id) = match &location.uri {
            Some(uri) => (uri, location.uri_base_id.as_deref()),
            None => {
                // Only an index: the location lives in `run.artifacts`.
                let index = usize::try_from(location.index?).ok()?;
                let artifact = self.run.artifacts.get(index)?.location.as_ref()?;
                (artifact.uri.as_ref()?, artifact.uri_base_id.as_deref())
            }
        };
        let path = to_path(uri);
        if !is_absolute(&path)
            && let Some(root) = self.workspace_root
            && let Some(base) = base_id
                .and_then(|id| self.run.original_uri_base_ids.get(id))
                .and_then(|base| base.uri.as_deref())
        {
            // A base inside the workspace (`SRC` = `/workspace/src/`) keeps its folder
            // in the path; a base elsewhere is taken to be the source root itself.
            let joined = format!("{}/{}", to_path(base).trim_end_matches('/'), path);
            let inside = strip_roots(&joined, [root]);
            if inside != joined {
                return Some(inside);
            }
        }
        Some(strip_roots(&path, self.roots.iter().map(String::as_str)))
    }
}

/// `security-severity` (result, then rule) as GitHub reads it; then the result's
/// `level`; then the rule's default level; then SARIF's default: `warning` for a
/// failure, `none` for other kinds (`review`, `open`, `informational`).
fn severity_of(result: &SarifResult, rule: Option<&Rule>) -> Severity {
    let score = security_severity(result.properties.as_ref())
        .or_else(|| security_severity(rule.and_then(|r| r.properties.as_ref())));
    if let Some(severity) = score.and_then(Severity::from_cvss) {
        return severity;
    }
    let level = result.level.as_deref().or_else(|| {
        rule.and_then(|r| r.default_configuration.as_ref())
            .and_then(|c| c.level.as_deref())
    });
    if let Some(severity) = level.and_then(Severity::from_sarif_level) {
        return severity;
    }
    match result.kind.as_deref() {
        None | Some("fail") => Severity::Medium,
        Some(_) => Severity::Info,
    }
}

/// GitHub's `security-severity` property: a CVSS score, as a string or a number.
fn security_severity(properties: Option<&Map<String, Value>>) -> Option<f64> {
    match properties?.get("security-severity")? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_f64(),
        _ => None,
    }
}

/// The result's own text; else the rule's message string its id names, with the
/// arguments filled in; else its markdown; else the rule's descriptions; else the id.
fn message_of(result: &SarifResult, rule: Option<&Rule>, rule_id: &str) -> String {
    let message = &result.message;
    let from_rule = || {
        let template = rule?.message_strings.get(message.id.as_deref()?)?;
        Some(fill(text_of(template)?, &message.arguments))
    };
    let described = || {
        let rule = rule?;
        [&rule.short_description, &rule.full_description]
            .into_iter()
            .find_map(|m| m.as_ref().and_then(text_of))
            .map(str::to_string)
    };
    non_blank(message.text.as_deref())
        .map(str::to_string)
        .or_else(from_rule)
        .or_else(|| non_blank(message.markdown.as_deref()).map(str::to_string))
        .or_else(described)
        .unwrap_or_else(|| rule_id.to_string())
}

fn text_of(message: &Message) -> Option<&str> {
    non_blank(message.text.as_deref()).or_else(|| non_blank(message.markdown.as_deref()))
}

fn non_blank(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// SARIF's message templates: `{0}`, `{1}`, … are arguments; `{{` and `}}` are braces.
fn fill(template: &str, arguments: &[String]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(rest.get(..open).unwrap_or_default());
        let tail = rest.get(open..).unwrap_or_default();
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(tail.get(..1).unwrap_or_default());
            rest = tail.get(2..).unwrap_or_default();
            continue;
        }
        let argument = tail.strip_prefix('{').and_then(|t| {
            let close = t.find('}')?;
            let index: usize = t.get(..close)?.parse().ok()?;
            Some((arguments.get(index)?, t.get(close + 1..)?))
        });
        match argument {
            Some((value, after)) => {
                out.push_str(value);
                rest = after;
            }
            None => {
                out.push_str(tail.get(..1).unwrap_or_default());
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// The fixing version: a `fixedVersion` property; trivy's `Fixed Version: X` line in
/// the message or the rule's help; snyk's `Upgrade to pkg@X` fix description.
fn fixed_version_of(result: &SarifResult, rule: Option<&Rule>) -> Option<String> {
    let property = result.properties.as_ref().and_then(|p| {
        ["fixedVersion", "fixed_version", "fixed-version"]
            .iter()
            .find_map(|key| p.get(*key)?.as_str())
    });
    if let Some(version) = non_blank(property) {
        return Some(version.trim().to_string());
    }
    let texts = [
        result.message.text.as_deref(),
        rule.and_then(|r| r.help.as_ref())
            .and_then(|h| h.text.as_deref()),
    ];
    for text in texts.into_iter().flatten() {
        let line = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("Fixed Version:"));
        if let Some(version) = non_blank(line) {
            return Some(version.trim().to_string());
        }
    }
    result.fixes.iter().find_map(|fix| {
        let text = fix.description.as_ref()?.text.as_deref()?;
        let target = text.trim().strip_prefix("Upgrade to ")?;
        let (_, version) = target.rsplit_once('@')?;
        non_blank(Some(version)).map(|v| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn templates_fill_arguments_and_keep_escaped_braces() {
        let args = vec!["x".to_string(), "main.c".to_string()];
        assert_eq!(
            fill("'{0}' is unused in {1} {{sic}}", &args),
            "'x' is unused in main.c {sic}"
        );
        assert_eq!(fill("missing {2} and {x}", &args), "missing {2} and {x}");
    }
}
