//! `matrix:` on a stage: one instance per combination of the values, run in parallel,
//! each with its own row, status, retries and commit status.
//!
//! ```yaml
//! - name: test
//!   matrix: { python: ["3.11", "3.12"], db: [redis] }
//!   fail_fast: true        # one failed instance cancels the others (the default)
//!   max_parallel: 2        # at most this many instances at once
//!   image: "bosun/python:${{ matrix.python }}"
//! ```
//!
//! An instance is named `<stage>-<values>` (`test-3_11-redis`: characters other than
//! letters, digits, `-` and `_` become `_`). `${{ matrix.<key> }}` is replaced in the
//! step's `image`, `env` values and `commands`, and in its services' `image` and `env`.
//! A stage that `needs` the matrix stage waits for every instance.

use super::positions::YamlPath;
use super::reader::{Reader, describe, scalar_text};
use super::{MatrixInstance, StageSpec};
use serde_yaml_ng::{Mapping, Value};

const MAX_INSTANCES: usize = 64;
const MAX_KEYS: usize = 8;
const MAX_VALUE_CHARS: usize = 64;

/// The matrix as written on a stage.
#[derive(Debug, Clone)]
pub(crate) struct MatrixDraft {
    /// Keys with their values, in file order.
    pub(crate) axes: Vec<(String, Vec<String>)>,
    pub(crate) fail_fast: bool,
    pub(crate) max_parallel: Option<u32>,
    /// Where `matrix` is written.
    pub(crate) path: YamlPath,
}

/// Reads `matrix`, `fail_fast` and `max_parallel` of a stage object.
pub(crate) fn read_matrix(
    reader: &mut Reader,
    map: &Mapping,
    path: &YamlPath,
    scope: &str,
) -> Option<MatrixDraft> {
    let Some(value) = map.get("matrix") else {
        for key in ["fail_fast", "max_parallel"] {
            if map.contains_key(key) {
                reader.at_key(
                    &path.key(key),
                    Some(key),
                    format!("{scope}: '{key}' applies to a 'matrix', and this stage has none"),
                    None,
                );
            }
        }
        return None;
    };
    let at = path.key("matrix");
    let Some(keys) = value.as_mapping().filter(|m| !m.is_empty()) else {
        reader.wrong_type(
            &at,
            "matrix",
            scope,
            "a mapping of keys to lists of values, e.g. { python: [\"3.11\", \"3.12\"] }",
            value,
        );
        return None;
    };
    if keys.len() > MAX_KEYS {
        reader.at_value(
            &at,
            Some("matrix"),
            format!("{scope}: at most {MAX_KEYS} matrix keys"),
            None,
        );
    }
    let mut axes = Vec::new();
    for (key, values) in keys {
        let name = key.as_str().unwrap_or_default().to_string();
        let key_at = at.key(&name);
        let valid_key = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_key {
            reader.at_key(
                &key_at,
                Some(&name),
                format!("{scope}: matrix key {name:?} must be letters, digits, '-' or '_'"),
                None,
            );
            continue;
        }
        let Some(items) = values.as_sequence().filter(|s| !s.is_empty()) else {
            reader.wrong_type(&key_at, &name, scope, "a non-empty list of values", values);
            continue;
        };
        let mut texts = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    let text = scalar_text(item).unwrap_or_default();
                    if text.is_empty() || text.len() > MAX_VALUE_CHARS || text.contains('\0') {
                        reader.at_value(
                            &key_at.index(index),
                            Some(&name),
                            format!("{scope}: matrix value {text:?} is empty or longer than {MAX_VALUE_CHARS} characters"),
                            None,
                        );
                    } else if texts.contains(&text) {
                        reader.at_value(
                            &key_at.index(index),
                            Some(&name),
                            format!("{scope}: matrix key '{name}' lists {text:?} twice"),
                            None,
                        );
                    } else {
                        texts.push(text);
                    }
                }
                other => reader.at_value(
                    &key_at.index(index),
                    Some(&name),
                    format!(
                        "{scope}: matrix values are text or numbers, found {}",
                        describe(other)
                    ),
                    Some(
                        "quote versions: '\"3.10\"' (unquoted, 3.10 reads as the number 3.1)"
                            .into(),
                    ),
                ),
            }
        }
        axes.push((name, texts));
    }
    let combinations: usize = axes.iter().map(|(_, v)| v.len().max(1)).product();
    if combinations > MAX_INSTANCES {
        reader.at_value(
            &at,
            Some("matrix"),
            format!("{scope}: the matrix makes {combinations} instances; at most {MAX_INSTANCES} are allowed"),
            None,
        );
    }
    let fail_fast = map
        .get("fail_fast")
        .and_then(|v| reader.bool(v, &path.key("fail_fast"), "fail_fast", scope))
        .unwrap_or(true);
    let max_parallel = map
        .get("max_parallel")
        .and_then(|v| reader.number(v, &path.key("max_parallel"), "max_parallel", scope, (1, 64)));
    Some(MatrixDraft {
        axes,
        fail_fast,
        max_parallel,
        path: at,
    })
}

/// The instances of `spec`, one per combination, with `${{ matrix.<key> }}` replaced.
pub(crate) fn expand(reader: &mut Reader, spec: &StageSpec, draft: &MatrixDraft) -> Vec<StageSpec> {
    let mut combinations: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in &draft.axes {
        combinations = combinations
            .into_iter()
            .flat_map(|done| {
                values.iter().map(move |value| {
                    let mut next = done.clone();
                    next.push((key.clone(), value.clone()));
                    next
                })
            })
            .collect();
    }
    let scope = format!("stage '{}'", spec.name);
    let mut instances: Vec<StageSpec> = Vec::with_capacity(combinations.len());
    for values in combinations {
        let mut instance = spec.clone();
        instance.name = instance_name(&spec.name, &values);
        if instances.iter().any(|other| other.name == instance.name) {
            reader.at_value(
                &draft.path,
                Some("matrix"),
                format!(
                    "{scope}: two matrix instances would both be named '{}'",
                    instance.name
                ),
                Some("make the values differ in more than punctuation".into()),
            );
            continue;
        }
        if let Some(step) = instance.step.as_mut() {
            let mut fill = |text: &mut String| match substitute(text, &values) {
                Ok(filled) => *text = filled,
                Err(key) => reader.at_value(
                    &draft.path,
                    Some("matrix"),
                    format!(
                        "{scope} uses '${{{{ matrix.{key} }}}}', but its matrix has no key '{key}'"
                    ),
                    Some(format!(
                        "its keys: {}",
                        draft
                            .axes
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
            };
            fill(&mut step.image);
            step.commands.iter_mut().for_each(&mut fill);
            step.env.iter_mut().for_each(|(_, value)| fill(value));
            for service in &mut step.services {
                fill(&mut service.image);
                service.env.iter_mut().for_each(|(_, value)| fill(value));
            }
        }
        instance.matrix = Some(MatrixInstance {
            of: spec.name.clone(),
            values,
            fail_fast: draft.fail_fast,
            max_parallel: draft.max_parallel,
        });
        instances.push(instance);
    }
    instances
}

fn instance_name(stage: &str, values: &[(String, String)]) -> String {
    let mut name = stage.to_string();
    for (_, value) in values {
        name.push('-');
        name.extend(value.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        }));
    }
    name
}

/// `text` with each `${{ matrix.KEY }}` replaced; the unknown key on failure. Other
/// `${{ … }}` expressions (secrets) are left for the agent.
fn substitute(text: &str, values: &[(String, String)]) -> Result<String, String> {
    super::expr::fill(text, |inner| match inner.strip_prefix("matrix.") {
        Some(key) => values
            .iter()
            .find(|(k, _)| k == key.trim())
            .map(|(_, value)| Some(value.clone()))
            .ok_or_else(|| key.trim().to_string()),
        None => Ok(None),
    })
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn only_matrix_expressions_are_replaced() {
        let values = [("python".to_string(), "3.12".to_string())];
        assert_eq!(
            substitute(
                "img:${{ matrix.python }} ${{ secrets.T }} ${{matrix.python}}",
                &values
            )
            .unwrap(),
            "img:3.12 ${{ secrets.T }} 3.12"
        );
        assert_eq!(substitute("${{ matrix.os }}", &values).unwrap_err(), "os");
        assert_eq!(
            substitute("no end ${{ matrix.python", &values).unwrap(),
            "no end ${{ matrix.python"
        );
    }
}
