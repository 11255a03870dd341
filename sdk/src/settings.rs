//! Settings given as `(key, value)` pairs, as a policy receives its tenant's settings:
//! lookup, and the check that every key is one the plugin knows (a misspelt key must not
//! quietly switch a rule off).

use crate::bindings::policy::exports::bosun::agent::policy_plugin::PolicyInput;

/// The trimmed value of `key`, if given.
pub fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim())
}

/// `Err` naming the first key not in `known`, and listing the known ones.
pub fn check_known(pairs: &[(String, String)], known: &[&str]) -> Result<(), String> {
    match pairs.iter().find(|(key, _)| !known.contains(&key.as_str())) {
        Some((key, _)) => Err(format!(
            "unknown setting `{key}` (known: {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
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
    fn values_are_trimmed_and_unknown_keys_named() {
        let pairs = vec![("min".to_string(), " 80 ".to_string())];
        assert_eq!(value(&pairs, "min"), Some("80"));
        assert_eq!(value(&pairs, "max"), None);
        assert!(check_known(&pairs, &["min", "warn_only"]).is_ok());
        let err = check_known(&pairs, &["threshold"]).unwrap_err();
        assert_eq!(err, "unknown setting `min` (known: threshold)");
    }
}
