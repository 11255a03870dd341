//! Which language a workspace is written in, and what pylint should lint by default.

use std::path::Path;

/// A language the lint stage has a tool for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// pylint.
    Python,
    /// eslint.
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

/// Files at the top of a repository that say it is a Python project.
const PYTHON_MARKERS: &[&str] = &[
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "Pipfile",
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
            "the workspace has both Python files and a package.json; set `language: python` \
             or `language: node`"
                .into(),
        ),
        (false, false) => Err(
            "found no Python project (pyproject.toml, setup.py, .py files) and no package.json \
             at the top of the workspace; set `language: python` or `language: node`"
                .into(),
        ),
    }
}

fn has_python_files(dir: &Path) -> bool {
    sorted_entries(dir)
        .iter()
        .any(|name| name.ends_with(".py") && dir.join(name).is_file())
}

/// What pylint lints when `with: paths` is not given: `src/` and every top-level
/// package (a folder with an `__init__.py`); failing those, the top-level `.py` files.
pub fn python_targets(root: &Path) -> Vec<String> {
    let entries = sorted_entries(root);
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

/// Names in `dir`, sorted, without hidden ones; empty when it cannot be read.
fn sorted_entries(dir: &Path) -> Vec<String> {
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
