//! Settings given as `(key, value)` pairs (a stage's `with:`, a tenant's policy
//! settings): lookup, and the check that every key is one the plugin knows (a misspelt
//! key must not quietly switch a rule off).

use crate::bindings::policy::exports::bosun::agent::policy_plugin::PolicyInput;

/// The trimmed value of `key`, if given; a later pair overrides an earlier one.
pub fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
}

/// Whether `key` is `pattern`: a plain name, or a family written `prefix.<NAME>…`, which
/// takes any key starting with `prefix.`.
fn matches_known(key: &str, pattern: &str) -> bool {
    match pattern.split_once('<') {
        Some((prefix, _)) => key.starts_with(prefix),
        None => key == pattern,
    }
}

/// `Err` naming the first key not in `known`, and listing the known ones. Entries like
/// `env.<NAME>` accept a family of keys.
pub fn check_known(pairs: &[(String, String)], known: &[&str]) -> Result<(), String> {
    let unknown = |key: &str| !known.iter().any(|pattern| matches_known(key, pattern));
    match pairs.iter().find(|(key, _)| unknown(key)) {
        Some((key, _)) => Err(format!(
            "unknown setting `{key}` (known: {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

/// A workspace-relative path that cannot escape the workspace or pass for an option.
pub fn check_relative(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.contains('\0') {
        return Err(format!("{path:?} contains a NUL byte"));
    }
    if path.starts_with('-') {
        return Err(format!(
            "{path:?} starts with '-' and would read as an option"
        ));
    }
    if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(format!(
            "{path:?} must be relative and stay inside the workspace"
        ));
    }
    Ok(())
}

/// [`check_relative`] for the path setting `key`, with an error that names the key.
pub fn check_relative_setting(key: &str, path: &str) -> Result<(), String> {
    check_relative(path)
        .map_err(|why| format!("`{key}` must be a relative path inside the workspace: {why}"))
}

impl PolicyInput {
    /// This tenant's setting `key`, trimmed.
    pub fn setting(&self, key: &str) -> Option<&str> {
        value(&self.config, key)
    }

    /// Refuse settings this policy does not know.
    pub fn check_settings(&self, known: &[&str]) -> Result<(), String> {
        check_known(&self.config, known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_and_never_read_as_options() {
        assert!(check_relative("reports/junit.xml").is_ok());
        assert!(check_relative("").is_err());
        assert!(
            check_relative("--output=/etc")
                .unwrap_err()
                .contains("option")
        );
        assert!(check_relative("/etc/passwd").is_err());
        assert!(check_relative("a/../../b").is_err());
        assert!(check_relative("a\0b").unwrap_err().contains("NUL"));
    }

    #[test]
    fn a_path_setting_names_its_key_and_refuses_a_leading_dash() {
        assert!(check_relative_setting("report", "out/report.json").is_ok());
        let err = check_relative_setting("report", "--output=/etc").unwrap_err();
        assert!(
            err.starts_with("`report` must be a relative path inside the workspace")
                && err.contains("would read as an option"),
            "{err}"
        );
    }

    #[test]
    fn values_are_trimmed_and_unknown_keys_named() {
        let pairs = vec![("min".to_string(), " 80 ".to_string())];
        assert_eq!(value(&pairs, "min"), Some("80"));
        assert_eq!(value(&pairs, "max"), None);
        assert!(check_known(&pairs, &["min", "warn_only"]).is_ok());
        let err = check_known(&pairs, &["threshold"]).unwrap_err();
        assert_eq!(err, "unknown setting `min` (known: threshold)");
        let family = vec![("env.HOME".to_string(), "x".to_string())];
        assert!(check_known(&family, &["image", "env.<NAME>"]).is_ok());
        assert!(check_known(&family, &["image", "environment"]).is_err());
        let both = vec![
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ];
        assert_eq!(value(&both, "a"), Some("2"), "a later pair overrides");
    }
}
