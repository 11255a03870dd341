//! Reading a task's `with:` settings with clear errors for bad values.

use crate::{StageError, Task};

impl Task {
    /// The raw value of a `with:` setting, if present.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A `with:` setting parsed as a number, or `default` when absent.
    pub fn config_u64(&self, key: &str, default: u64) -> Result<u64, StageError> {
        match self.config(key) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                StageError::InvalidConfig(format!(
                    "stage {}: `{key}` must be a whole number, got {raw:?}",
                    self.stage
                ))
            }),
        }
    }

    /// A `with:` setting parsed as a boolean (`true`/`false`), or `default` when absent.
    pub fn config_bool(&self, key: &str, default: bool) -> Result<bool, StageError> {
        match self.config(key).map(str::trim) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(raw) => Err(StageError::InvalidConfig(format!(
                "stage {}: `{key}` must be true or false, got {raw:?}",
                self.stage
            ))),
        }
    }

    /// A comma-separated `with:` setting as a list, empty when absent.
    pub fn config_list(&self, key: &str) -> Vec<String> {
        self.config(key)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}
