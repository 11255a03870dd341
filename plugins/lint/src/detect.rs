//! Which language a workspace is written in (the SDK's detection), and what pylint
//! should lint by default.

use std::path::Path;

use bosun_sdk::detect::visible_entries;
pub use bosun_sdk::detect::{Language, language};

/// What pylint lints when `with: paths` is not given: `src/` and every top-level
/// package (a folder with an `__init__.py`); failing those, the top-level `.py` files.
pub fn python_targets(root: &Path) -> Vec<String> {
    let entries = visible_entries(root);
    let mut targets: Vec<String> = entries
        .iter()
        .filter(|name| {
            let dir = root.join(name);
            dir.is_dir() && (name.as_str() == "src" || dir.join("__init__.py").is_file())
        })
        .cloned()
        .collect();
    if targets.is_empty() {
        targets = entries
            .into_iter()
            .filter(|name| name.ends_with(".py") && root.join(name).is_file())
            .collect();
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    fn examples() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
    }

    #[test]
    fn sample_repositories_are_recognised() {
        assert_eq!(
            language(&examples().join("python-app")),
            Ok(Language::Python)
        );
        assert_eq!(language(&examples().join("node-app")), Ok(Language::Node));
        assert_eq!(python_targets(&examples().join("python-app")), ["src"]);
    }

    #[test]
    fn python_is_found_by_marker_or_source() {
        assert_eq!(language(tree(&["setup.cfg"]).path()), Ok(Language::Python));
        assert_eq!(language(tree(&["src/app.py"]).path()), Ok(Language::Python));
        assert_eq!(language(tree(&["main.py"]).path()), Ok(Language::Python));
    }

    #[test]
    fn both_or_neither_ask_for_a_language() {
        let both = language(tree(&["package.json", "tool.py"]).path()).unwrap_err();
        assert!(both.contains("set `language: python`"), "{both}");
        let neither = language(tree(&["README.md"]).path()).unwrap_err();
        assert!(neither.contains("no package.json"), "{neither}");
    }

    #[test]
    fn targets_are_src_and_top_level_packages_else_scripts() {
        let dir = tree(&[
            "src/shop/__init__.py",
            "inventory/__init__.py",
            "tests/test_a.py",
            "docs/conf.py",
            "manage.py",
        ]);
        assert_eq!(python_targets(dir.path()), ["inventory", "src"]);
        let scripts = tree(&["b.py", "a.py", "notes.txt", ".hidden.py"]);
        assert_eq!(python_targets(scripts.path()), ["a.py", "b.py"]);
        assert!(python_targets(tree(&["README.md"]).path()).is_empty());
    }
}
