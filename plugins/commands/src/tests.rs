//! The step's cache key: what selects a cache, and what a missing or escaping key file
//! does.

use super::*;
use spec::CacheSpec;
use std::collections::HashMap;

fn cached(image: &str, key: &[&str]) -> StepSpec {
    StepSpec {
        image: image.into(),
        commands: vec!["npm ci".into()],
        cache: CacheSpec {
            key: key.iter().map(|k| k.to_string()).collect(),
            paths: vec!["~/.npm".into()],
        },
        ..StepSpec::default()
    }
}

/// A repository holding `files`, as the key reads it.
fn repo(files: &[(&str, &str)]) -> impl Fn(&str) -> Option<Vec<u8>> {
    let files: HashMap<String, Vec<u8>> = files
        .iter()
        .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
        .collect();
    move |name| files.get(name).cloned()
}

#[test]
fn a_changed_lockfile_selects_a_new_cache_and_the_same_one_the_same() {
    let spec = cached("bosun/node:18", &["package-lock.json"]);
    let before = repo(&[("package-lock.json", r#"{"lockfileVersion":3,"a":"1.0.0"}"#)]);
    let after = repo(&[("package-lock.json", r#"{"lockfileVersion":3,"a":"1.0.1"}"#)]);
    let key = cache_key_from("lint", &spec, &before).unwrap();
    assert_eq!(key.len(), 64, "a sha256 in hex: {key}");
    assert_eq!(cache_key_from("lint", &spec, &before).unwrap(), key);
    assert_ne!(cache_key_from("lint", &spec, &after).unwrap(), key);
}

#[test]
fn the_stage_image_and_paths_each_select_their_own_cache() {
    let files = repo(&[("package-lock.json", "{}")]);
    let spec = cached("bosun/node:18", &["package-lock.json"]);
    let key = cache_key_from("lint", &spec, &files).unwrap();
    assert_ne!(cache_key_from("test", &spec, &files).unwrap(), key);
    let other_image = cached("node:20", &["package-lock.json"]);
    assert_ne!(cache_key_from("lint", &other_image, &files).unwrap(), key);
    let mut other_paths = spec.clone();
    other_paths.cache.paths.push("node_modules".into());
    assert_ne!(cache_key_from("lint", &other_paths, &files).unwrap(), key);
}

#[test]
fn no_cached_paths_is_no_cache_and_reads_nothing() {
    let mut spec = cached("bosun/node:18", &["package-lock.json"]);
    spec.cache.paths.clear();
    assert_eq!(
        cache_key_from("lint", &spec, |_| panic!("read")).unwrap(),
        ""
    );
}

#[test]
fn a_missing_or_escaping_key_file_is_a_config_error_naming_it() {
    let spec = cached("bosun/node:18", &["package-lock.json"]);
    let err = cache_key_from("lint", &spec, repo(&[])).unwrap_err();
    assert!(
        err.contains("cache key file package-lock.json is not in the repository"),
        "{err}"
    );
    for escaping in ["../secrets.json", "/etc/passwd"] {
        let spec = cached("bosun/node:18", &[escaping]);
        let err = cache_key_from("lint", &spec, |_| panic!("read {escaping}")).unwrap_err();
        assert!(err.starts_with("cache key file:"), "{escaping}: {err}");
    }
}
