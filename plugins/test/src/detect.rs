//! What the workspace is: its language, which Node test runner it uses, and what
//! coverage should measure in a Python project.

use std::path::Path;

use bosun_sdk::detect::visible_entries;
pub use bosun_sdk::detect::{Language, language};

/// A test runner the stage knows how to call and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// pytest with pytest-cov.
    Pytest,
    /// mocha with its `xunit` reporter.
    Mocha,
    /// jest with the `jest-junit` reporter, from the workspace's `node_modules`.
    Jest,
}

impl Runner {
    /// Parse `pytest`, `mocha` or `jest` (`with: runner`).
    pub fn parse(raw: &str) -> Option<Runner> {
        match raw.trim() {
            "pytest" => Some(Runner::Pytest),
            "mocha" => Some(Runner::Mocha),
            "jest" => Some(Runner::Jest),
            _ => None,
        }
    }

    /// The runner's name, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            Runner::Pytest => "pytest",
            Runner::Mocha => "mocha",
            Runner::Jest => "jest",
        }
    }

    pub fn language(self) -> Language {
        match self {
            Runner::Pytest => Language::Python,
            Runner::Mocha | Runner::Jest => Language::Node,
        }
    }
}

/// The Node runner for the repository at `root`: jest when its `package.json` depends
/// on `jest-junit` or lists it among jest's reporters, else mocha.
pub fn node_runner(root: &Path) -> Runner {
    let Ok(text) = std::fs::read(root.join("package.json")) else {
        return Runner::Mocha;
    };
    let Ok(package) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Runner::Mocha;
    };
    let depends = ["dependencies", "devDependencies"]
        .iter()
        .any(|table| package[*table].get("jest-junit").is_some());
    let reporters = &package["jest"]["reporters"];
    let configured = reporters.as_array().is_some_and(|list| {
        list.iter().any(|entry| {
            // A reporter is `"name"` or `["name", {options}]`.
            let name = entry.as_str().or_else(|| entry[0].as_str());
            name == Some("jest-junit")
        })
    });
    if depends || configured {
        Runner::Jest
    } else {
        Runner::Mocha
    }
}

/// What coverage measures in a Python project when `with: source` is not given:
/// `src/` if there is one, else every top-level package, else the whole workspace.
pub fn coverage_sources(root: &Path) -> Vec<String> {
    if root.join("src").is_dir() {
        return vec!["src".into()];
    }
    let mut packages: Vec<String> = visible_entries(root)
        .into_iter()
        .filter(|name| root.join(name).join("__init__.py").is_file())
        .filter(|name| !name.starts_with('-') && !matches!(name.as_str(), "tests" | "test"))
        .collect();
    if packages.is_empty() {
        packages.push(".".into());
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn examples() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
    }

    #[test]
    fn sample_repositories_are_recognised() {
        let python = examples().join("python-app");
        assert_eq!(language(&python), Ok(Language::Python));
        assert_eq!(coverage_sources(&python), ["src"]);
        let node = examples().join("node-app");
        assert_eq!(language(&node), Ok(Language::Node));
        assert_eq!(node_runner(&node), Runner::Mocha);
    }

    #[test]
    fn jest_is_chosen_when_jest_junit_is_there() {
        let dependency = tree(&[(
            "package.json",
            r#"{"devDependencies": {"jest": "^29", "jest-junit": "^16"}}"#,
        )]);
        assert_eq!(node_runner(dependency.path()), Runner::Jest);
        let reporter = tree(&[(
            "package.json",
            r#"{"jest": {"reporters": ["default", ["jest-junit", {"outputDirectory": "out"}]]}}"#,
        )]);
        assert_eq!(node_runner(reporter.path()), Runner::Jest);
        let plain = tree(&[("package.json", r#"{"devDependencies": {"jest": "^29"}}"#)]);
        assert_eq!(node_runner(plain.path()), Runner::Mocha);
        let broken = tree(&[("package.json", "{not json")]);
        assert_eq!(node_runner(broken.path()), Runner::Mocha);
    }

    #[test]
    fn coverage_measures_src_else_packages_else_everything() {
        let packages = tree(&[
            ("shop/__init__.py", ""),
            ("tests/__init__.py", ""),
            ("a.py", ""),
        ]);
        assert_eq!(coverage_sources(packages.path()), ["shop"]);
        assert_eq!(coverage_sources(tree(&[("a.py", "")]).path()), ["."]);
    }

    #[test]
    fn both_or_neither_ask_for_a_language() {
        let both = tree(&[("package.json", "{}"), ("pytest.ini", "")]);
        assert!(
            language(both.path())
                .unwrap_err()
                .contains("set `language: python`")
        );
        assert!(language(tree(&[("README.md", "")]).path()).is_err());
    }
}
