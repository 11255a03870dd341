//! Which language a workspace is written in, for stages that pick a tool by language
//! (lint, test) when `with: language` is not given.

use std::path::Path;

/// A language the built-in stages have tools for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A Python project (pylint, pytest).
    Python,
    /// A Node project (eslint, mocha, jest).
    Node,
}

impl Language {
    /// Parse `python` or `node` (`with: language`).
    pub fn parse(raw: &str) -> Option<Language> {
        match raw.trim() {
            "python" => Some(Language::Python),
            "node" | "javascript" => Some(Language::Node),
            _ => None,
        }
    }
}

/// Files at the top of a repository that say it is a Python project: packaging and
/// dependency files, and the test runners' own configs.
pub const PYTHON_MARKERS: &[&str] = &[
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "Pipfile",
    "pytest.ini",
    "tox.ini",
];

/// The language of the repository at `root`: Python when it has a Python project file
/// or `.py` files at its top or in `src/`, Node when it has a `package.json`. Both or
/// neither is an error asking for `with: language`.
pub fn language(root: &Path) -> Result<Language, String> {
    let python = PYTHON_MARKERS.iter().any(|m| root.join(m).is_file())
        || has_python_files(root)
        || has_python_files(&root.join("src"));
    let node = root.join("package.json").is_file();
    match (python, node) {
        (true, false) => Ok(Language::Python),
        (false, true) => Ok(Language::Node),
        (true, true) => Err(
            "the workspace has both a Python project and a package.json; set `language: \
             python` or `language: node`"
                .into(),
        ),
        (false, false) => Err(
            "found no Python project (pyproject.toml, setup.py, .py files) and no package.json \
             at the top of the workspace; set `language: python` or `language: node`"
                .into(),
        ),
    }
}

/// Whether `dir` holds a `.py` file that is not hidden.
fn has_python_files(dir: &Path) -> bool {
    visible_entries(dir)
        .iter()
        .any(|name| name.ends_with(".py") && dir.join(name).is_file())
}

/// Names in `dir`, sorted, without hidden ones; empty when it cannot be read.
pub fn visible_entries(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
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

    #[test]
    fn every_marker_file_says_python() {
        for marker in PYTHON_MARKERS {
            assert_eq!(language(tree(&[marker]).path()), Ok(Language::Python));
        }
        assert_eq!(language(tree(&["package.json"]).path()), Ok(Language::Node));
    }

    #[test]
    fn hidden_files_say_nothing() {
        let err = language(tree(&[".pythonrc.py", "src/.x.py"]).path()).unwrap_err();
        assert!(err.contains("no package.json"), "{err}");
        assert_eq!(
            visible_entries(tree(&["b", ".a", "a"]).path()),
            ["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn language_names_parse() {
        assert_eq!(Language::parse(" python "), Some(Language::Python));
        assert_eq!(Language::parse("javascript"), Some(Language::Node));
        assert_eq!(Language::parse("rust"), None);
    }
}
