//! `with` mappings (plugin settings) flattened to text pairs: scalars as text, lists of
//! scalars joined with `,`, nested mappings as dotted keys.

use super::positions::YamlPath;
use super::reader::{Reader, describe, scalar_text};
use serde_yaml_ng::{Mapping, Value};

impl Reader<'_> {
    /// A `with` mapping flattened to text pairs in file order.
    pub(crate) fn with_pairs(
        &mut self,
        value: &Value,
        path: &YamlPath,
        scope: &str,
    ) -> Option<Vec<(String, String)>> {
        let Some(map) = value.as_mapping() else {
            self.wrong_type(path, "with", scope, "a mapping of plugin settings", value);
            return None;
        };
        let mut pairs = Vec::new();
        let before = self.problem_count();
        self.flatten(map, path, "", scope, &mut pairs);
        // Every `with:` (a stage's, a rollback's, the notifier's) reaches a plugin's
        // settings, where `bosun.` keys carry what Bosun itself passes (the command step).
        if let Some((key, _)) = pairs.iter().find(|(k, _)| k.starts_with("bosun.")) {
            self.at_value(
                path,
                Some("with"),
                format!("{scope}: setting '{key}' is reserved (keys starting with 'bosun.' carry what Bosun itself passes to plugins)"),
                None,
            );
        }
        (self.problem_count() == before).then_some(pairs)
    }

    fn flatten(
        &mut self,
        map: &Mapping,
        path: &YamlPath,
        prefix: &str,
        scope: &str,
        pairs: &mut Vec<(String, String)>,
    ) {
        for (key, value) in map {
            let Some(key_text) = scalar_text(key) else {
                self.at_key(
                    path,
                    Some("with"),
                    format!(
                        "{scope}: keys in 'with' must be text, found {}",
                        describe(key)
                    ),
                    None,
                );
                continue;
            };
            let full = if prefix.is_empty() {
                key_text.clone()
            } else {
                format!("{prefix}.{key_text}")
            };
            let value_path = path.key(&key_text);
            let text = match value {
                Value::Mapping(inner) => {
                    self.flatten(inner, &value_path, &full, scope, pairs);
                    continue;
                }
                Value::Sequence(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for (index, item) in items.iter().enumerate() {
                        match scalar_text(item) {
                            Some(part) => parts.push(part),
                            None => self.at_value(
                                &value_path.index(index),
                                Some(&full),
                                format!(
                                    "{scope}: lists in 'with' hold only plain values, but item {} of '{full}' is {}",
                                    index + 1,
                                    describe(item)
                                ),
                                None,
                            ),
                        }
                    }
                    parts.join(",")
                }
                other => match scalar_text(other) {
                    Some(text) => text,
                    None => {
                        self.at_value(
                            &value_path,
                            Some(&full),
                            format!(
                                "{scope}: 'with' value '{full}' must be plain, found {}",
                                describe(other)
                            ),
                            None,
                        );
                        continue;
                    }
                },
            };
            if pairs.iter().any(|(existing, _)| *existing == full) {
                self.at_key(
                    &value_path,
                    Some(&full),
                    format!("{scope}: 'with' sets '{full}' twice"),
                    None,
                );
                continue;
            }
            pairs.push((full, text));
        }
    }
}
