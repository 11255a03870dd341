//! A stage's `backoff` (exponential, with bounds that keep a typo from becoming a
//! pipeline that waits for days) and `when` (branch, event and path globs, each pattern
//! checked so that matching stays cheap against every changed path).

use super::positions::YamlPath;
use super::reader::{Keys, Reader, describe};
use super::{Backoff, When};
use serde_yaml_ng::Value;
use std::time::Duration;

/// Most patterns one `when` list may hold.
const MAX_PATTERNS: usize = 64;
/// Longest `when` pattern: matching stays cheap against every changed path.
const MAX_PATTERN_CHARS: usize = 256;
const BACKOFF_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(3600));
const FACTOR_RANGE: (f64, f64) = (1.0, 10.0);

const WHEN_KEYS: Keys = Keys {
    allowed: &["branches", "events", "paths"],
    elsewhere: &[],
};

const BACKOFF_KEYS: Keys = Keys {
    allowed: &["initial", "max", "factor"],
    elsewhere: &[],
};

pub(crate) fn read_backoff(
    reader: &mut Reader,
    value: &Value,
    path: &YamlPath,
    scope: &str,
) -> Option<Backoff> {
    let default = Backoff::default();
    if value.as_mapping().is_none() {
        let initial = reader.duration(value, path, "backoff", scope, BACKOFF_RANGE)?;
        return Some(Backoff {
            initial,
            max: default.max.max(initial),
            factor: default.factor,
        });
    }
    let map = value.as_mapping()?;
    let scope = format!("{scope}, in 'backoff'");
    reader.check_keys(map, path, &scope, &BACKOFF_KEYS);
    let mut ok = true;
    let mut read = |reader: &mut Reader, key: &str| match map.get(key) {
        None => None,
        Some(v) => {
            let got = reader.duration(v, &path.key(key), key, &scope, BACKOFF_RANGE);
            ok &= got.is_some();
            got
        }
    };
    let initial = read(reader, "initial");
    let max = read(reader, "max");
    let initial = initial.unwrap_or(default.initial);
    let max = match max {
        Some(max) if max < initial => {
            reader.at_value(
                &path.key("max"),
                Some("max"),
                format!(
                    "{scope}: 'max' ({}) is shorter than 'initial' ({})",
                    super::duration::format_duration(max),
                    super::duration::format_duration(initial)
                ),
                None,
            );
            ok = false;
            max
        }
        Some(max) => max,
        None => default.max.max(initial),
    };
    let factor = match map.get("factor") {
        None => default.factor,
        Some(v) => match v
            .as_f64()
            .filter(|f| (FACTOR_RANGE.0..=FACTOR_RANGE.1).contains(f))
        {
            Some(factor) => factor,
            None => {
                reader.at_value(
                    &path.key("factor"),
                    Some("factor"),
                    format!(
                        "{scope}: 'factor' must be a number from {} to {}, found {}",
                        FACTOR_RANGE.0,
                        FACTOR_RANGE.1,
                        describe(v)
                    ),
                    None,
                );
                ok = false;
                default.factor
            }
        },
    };
    ok.then_some(Backoff {
        initial,
        max,
        factor,
    })
}

pub(crate) fn read_when(
    reader: &mut Reader,
    value: &Value,
    path: &YamlPath,
    scope: &str,
) -> Option<When> {
    let Some(map) = value.as_mapping() else {
        reader.at_value(
            path,
            Some("when"),
            format!(
                "{scope}: 'when' must be a mapping of branches, events and paths, found {}",
                describe(value)
            ),
            None,
        );
        return None;
    };
    let scope = format!("{scope}, in 'when'");
    reader.check_keys(map, path, &scope, &WHEN_KEYS);
    let list = |reader: &mut Reader, key: &str| -> Vec<String> {
        let Some(value) = map.get(key) else {
            return Vec::new();
        };
        let at = path.key(key);
        let Some(items) = reader.text_list(value, &at, key, &scope) else {
            return Vec::new();
        };
        if items.is_empty() {
            reader.at_value(
                &at,
                Some(key),
                format!("{scope}: '{key}' is an empty list, so the stage would never run"),
                Some(format!("leave '{key}' out to place no condition on it")),
            );
        }
        if items.len() > MAX_PATTERNS {
            reader.at_value(
                &at,
                Some(key),
                format!(
                    "{scope}: '{key}' lists {} patterns; at most {MAX_PATTERNS} are allowed",
                    items.len()
                ),
                None,
            );
            return Vec::new();
        }
        let mut patterns = Vec::with_capacity(items.len());
        for (item, item_path) in items {
            if let Some((reason, hint)) = pattern_error(key, &item) {
                reader.at_value(&item_path, Some(key), format!("{scope}: {reason}"), hint);
            } else {
                patterns.push(item);
            }
        }
        patterns
    };
    Some(When {
        branches: list(reader, "branches"),
        events: list(reader, "events"),
        paths: list(reader, "paths"),
    })
}

/// Why a `when` entry under `key` can never match, with a hint.
fn pattern_error(key: &str, pattern: &str) -> Option<(String, Option<String>)> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Some((
            format!("a '{key}' pattern is longer than {MAX_PATTERN_CHARS} characters"),
            None,
        ));
    }
    if pattern.trim().is_empty() {
        return Some((format!("an empty entry in '{key}' matches nothing"), None));
    }
    if key == "events" && pattern.chars().any(char::is_whitespace) {
        return Some((format!("event '{pattern}' contains a space"), None));
    }
    if key == "paths"
        && let Some(relative) = pattern
            .strip_prefix('/')
            .or_else(|| pattern.strip_prefix("./"))
    {
        return Some((
            format!(
                "path pattern '{pattern}' never matches: changed paths are relative to the repository root"
            ),
            Some(format!("write '{relative}'")),
        ));
    }
    None
}
