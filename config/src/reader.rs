//! Typed reads from the YAML value tree that record a positioned problem instead of
//! failing, so one pass over the file reports everything wrong with it.

use super::duration::{format_duration, parse_duration};
use super::error::{ConfigError, Problem};
use super::positions::{Positions, YamlPath};
use serde_yaml_ng::{Mapping, Value};
use std::time::Duration;

/// Collects problems while the config is read.
pub(crate) struct Reader<'a> {
    file: &'a str,
    positions: &'a Positions,
    problems: Vec<Problem>,
}

/// A mapping's known keys: the names allowed, and hints for keys that belong elsewhere.
pub(crate) struct Keys<'k> {
    pub(crate) allowed: &'k [&'k str],
    pub(crate) elsewhere: &'k [(&'k str, &'k str)],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(file: &'a str, positions: &'a Positions) -> Self {
        Self {
            file,
            positions,
            problems: Vec::new(),
        }
    }

    pub(crate) fn positions(&self) -> &Positions {
        self.positions
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Records a problem at an explicit line and column.
    pub(crate) fn problem_at(
        &mut self,
        line: usize,
        column: usize,
        key: Option<&str>,
        message: String,
        suggestion: Option<String>,
    ) {
        let problem = Problem {
            file: self.file.to_string(),
            line,
            column,
            key: key.map(str::to_string),
            message,
            suggestion,
        };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    /// Records a problem at the key of `path`.
    pub(crate) fn at_key(
        &mut self,
        path: &YamlPath,
        key: Option<&str>,
        message: String,
        suggestion: Option<String>,
    ) {
        let pos = self.positions.key(path);
        self.problem_at(pos.line, pos.column, key, message, suggestion);
    }

    /// Records a problem at the value of `path`.
    pub(crate) fn at_value(
        &mut self,
        path: &YamlPath,
        key: Option<&str>,
        message: String,
        suggestion: Option<String>,
    ) {
        let pos = self.positions.value(path);
        self.problem_at(pos.line, pos.column, key, message, suggestion);
    }

    /// The problems in line order, or `value` when there are none.
    pub(crate) fn finish<T>(mut self, value: Option<T>) -> Result<T, ConfigError> {
        self.problems.sort_by_key(|p| (p.line, p.column));
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            _ => {
                if self.problems.is_empty() {
                    self.problem_at(1, 1, None, "the config is not valid".into(), None);
                }
                Err(ConfigError {
                    problems: self.problems,
                })
            }
        }
    }

    /// Reports keys of `map` that are not text or not among `keys`.
    pub(crate) fn check_keys(&mut self, map: &Mapping, path: &YamlPath, scope: &str, keys: &Keys) {
        for key in map.keys() {
            let Some(name) = key.as_str() else {
                let text = scalar_text(key).unwrap_or_default();
                self.at_key(
                    &path.key(&text),
                    None,
                    format!("{scope}: keys must be text, found {}", describe(key)),
                    None,
                );
                continue;
            };
            if keys.allowed.contains(&name) {
                continue;
            }
            let suggestion = closest(name, keys.allowed.iter().copied())
                .map(|near| format!("did you mean '{near}'?"))
                .or_else(|| {
                    keys.elsewhere
                        .iter()
                        .find(|(other, _)| *other == name)
                        .map(|(_, hint)| (*hint).to_string())
                });
            self.at_key(
                &path.key(name),
                Some(name),
                format!("{scope}: unknown key '{name}'"),
                suggestion,
            );
        }
    }

    /// Records that `key` holds the wrong kind of value.
    pub(crate) fn wrong_type(
        &mut self,
        path: &YamlPath,
        key: &str,
        scope: &str,
        expected: &str,
        found: &Value,
    ) {
        self.at_value(
            path,
            Some(key),
            format!(
                "{scope}: '{key}' must be {expected}, found {}",
                describe(found)
            ),
            None,
        );
    }

    pub(crate) fn bool(
        &mut self,
        value: &Value,
        path: &YamlPath,
        key: &str,
        scope: &str,
    ) -> Option<bool> {
        if let Some(b) = value.as_bool() {
            return Some(b);
        }
        let suggestion = value
            .as_str()
            .and_then(|text| match text.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" | "y" => Some("write true, without quotes"),
                "no" | "off" | "false" | "n" => Some("write false, without quotes"),
                _ => None,
            });
        self.at_value(
            path,
            Some(key),
            format!(
                "{scope}: '{key}' must be true or false, found {}",
                describe(value)
            ),
            suggestion.map(str::to_string),
        );
        None
    }

    /// Non-empty text.
    pub(crate) fn text(
        &mut self,
        value: &Value,
        path: &YamlPath,
        key: &str,
        scope: &str,
    ) -> Option<String> {
        match value.as_str() {
            Some(text) if !text.trim().is_empty() => Some(text.to_string()),
            Some(_) => {
                self.at_value(path, Some(key), format!("{scope}: '{key}' is empty"), None);
                None
            }
            None => {
                self.wrong_type(path, key, scope, "text", value);
                None
            }
        }
    }

    /// A stage, agent or plugin name: letters, digits, `-` and `_`.
    pub(crate) fn name(
        &mut self,
        value: &Value,
        path: &YamlPath,
        key: &str,
        scope: &str,
    ) -> Option<String> {
        let name = self.text(value, path, key, scope)?;
        match name_error(&name) {
            None => Some(name),
            Some(reason) => {
                self.at_value(
                    path,
                    Some(key),
                    format!("{scope}: '{key}' {reason}, found '{name}'"),
                    None,
                );
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub(crate) fn number(
        &mut self,
        value: &Value,
        path: &YamlPath,
        key: &str,
        scope: &str,
        (min, max): (u32, u32),
    ) -> Option<u32> {
        let in_range = value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (min..=max).contains(n));
        if in_range.is_none() {
            let suggestion = value
                .as_str()
                .filter(|text| text.trim().parse::<u32>().is_ok())
                .map(|_| "write the number without quotes".to_string());
            self.at_value(
                path,
                Some(key),
                format!(
                    "{scope}: '{key}' must be a whole number from {min} to {max}, found {}",
                    describe(value)
                ),
                suggestion,
            );
        }
        in_range
    }

    /// A duration string within `min..=max`.
    pub(crate) fn duration(
        &mut self,
        value: &Value,
        path: &YamlPath,
        key: &str,
        scope: &str,
        (min, max): (Duration, Duration),
    ) -> Option<Duration> {
        let Some(text) = value.as_str() else {
            let suggestion = value
                .as_u64()
                .map(|n| format!("durations need a unit: write '{n}s' for {n} seconds"));
            self.at_value(
                path,
                Some(key),
                format!(
                    "{scope}: '{key}' must be a duration such as '30s' or '5m', found {}",
                    describe(value)
                ),
                suggestion,
            );
            return None;
        };
        let duration = match parse_duration(text) {
            Ok(duration) => duration,
            Err(reason) => {
                self.at_value(
                    path,
                    Some(key),
                    format!("{scope}: '{key}': {reason}"),
                    Some(
                        "write a number with a unit: ms, s, m or h, e.g. '500ms', '2s', '1m30s'"
                            .into(),
                    ),
                );
                return None;
            }
        };
        if duration < min || duration > max {
            let what = if duration.is_zero() {
                "zero"
            } else {
                "out of range"
            };
            self.at_value(
                path,
                Some(key),
                format!(
                    "{scope}: '{key}' of {} is {what}: it must lie between {} and {}",
                    format_duration(duration),
                    format_duration(min),
                    format_duration(max)
                ),
                None,
            );
            return None;
        }
        Some(duration)
    }

    /// One text or a list of texts, each with its own path; `None` after a problem.
    pub(crate) fn text_list(
        &mut self,
        value: &Value,
        path: &YamlPath,
        key: &str,
        scope: &str,
    ) -> Option<Vec<(String, YamlPath)>> {
        if let Some(text) = value.as_str() {
            return Some(vec![(text.to_string(), path.clone())]);
        }
        let Some(items) = value.as_sequence() else {
            self.wrong_type(path, key, scope, "a list of texts", value);
            return None;
        };
        let mut texts = Vec::with_capacity(items.len());
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            let item_path = path.index(index);
            match item.as_str() {
                Some(text) => texts.push((text.to_string(), item_path)),
                None => {
                    ok = false;
                    self.at_value(
                        &item_path,
                        Some(key),
                        format!(
                            "{scope}: item {} of '{key}' must be text, found {}",
                            index + 1,
                            describe(item)
                        ),
                        None,
                    );
                }
            }
        }
        ok.then_some(texts)
    }

    /// How many problems have been recorded so far.
    pub(crate) fn problem_count(&self) -> usize {
        self.problems.len()
    }
}

/// Why `name` is not a valid stage, agent or plugin name, if it is not.
pub(crate) fn name_error(name: &str) -> Option<&'static str> {
    if name.chars().count() > 63 {
        return Some("must be at most 63 characters");
    }
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (!valid).then_some("may use only letters, digits, '-' and '_'")
}

/// A scalar written as text: strings as they are, numbers and booleans as written,
/// null as empty; `None` for lists, mappings and tagged values.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

/// A value's kind and content for a message: `the text 'yes'`, `a list`, `nothing`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let more = if short.len() < s.len() { "…" } else { "" };
            format!("the text '{short}{more}'")
        }
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

/// The candidate closest to `word` when it is close enough to be a likely typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word = word.to_lowercase();
    let limit = match word.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::damerau_levenshtein(&word, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= limit && *distance < candidate.chars().count())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_near_misses_only() {
        let keys = [
            "name",
            "plugin",
            "retries",
            "needs",
            "timeout",
            "environment",
        ];
        assert_eq!(closest("retires", keys), Some("retries"));
        assert_eq!(closest("Retries", keys), Some("retries"));
        assert_eq!(closest("nedds", keys), Some("needs"));
        assert_eq!(closest("enviroment", keys), Some("environment"));
        assert_eq!(closest("timout", keys), Some("timeout"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("x", keys), None);
    }

    #[test]
    fn names_allow_letters_digits_dash_underscore() {
        assert_eq!(name_error("build-image_2"), None);
        assert!(name_error("build image").is_some());
        assert!(name_error("agent.lint").is_some());
        assert!(name_error(&"a".repeat(64)).is_some());
    }

    #[test]
    fn scalars_become_text() {
        assert_eq!(scalar_text(&Value::Bool(true)).as_deref(), Some("true"));
        assert_eq!(scalar_text(&Value::from(3)).as_deref(), Some("3"));
        assert_eq!(scalar_text(&Value::from(1.5)).as_deref(), Some("1.5"));
        assert_eq!(scalar_text(&Value::Null).as_deref(), Some(""));
        assert_eq!(scalar_text(&Value::Sequence(vec![])), None);
    }
}
