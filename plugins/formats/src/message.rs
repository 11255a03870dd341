//! One lint message as a tool reported it, before it becomes a report finding.

use bosun_sdk::fs::WORKSPACE;
use bosun_sdk::{Finding, Severity};

/// A message from pylint or eslint, in the tool-neutral shape the stage works with.
#[derive(Debug, Clone, PartialEq)]
pub struct LintMessage {
    /// The rule: pylint's symbol (`unused-import`), eslint's rule id (`no-undef`).
    pub rule: String,
    /// The tool's other name for the rule, when it has one (pylint's `W0611`).
    pub rule_code: Option<String>,
    /// Mapped from the tool's own level (see each parser).
    pub severity: Severity,
    /// Path relative to the workspace root.
    pub path: Option<String>,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column (pylint counts from 0; its columns are shifted by one).
    pub column: Option<u32>,
    /// What the tool said.
    pub message: String,
    /// The tool that said it, when that is not the stage's tool: a SARIF report names
    /// its own (`ruff`, `Hadolint`).
    pub tool: Option<String>,
}

impl LintMessage {
    /// The report finding for this message, credited to `tool`.
    pub fn to_finding(&self, tool: &str) -> Finding {
        let tool = self.tool.as_deref().unwrap_or(tool);
        let finding = Finding::new(tool, self.rule.clone(), self.severity, self.message.clone());
        match &self.path {
            Some(path) => finding.at(path.clone(), self.line, self.column),
            None => finding,
        }
    }
}

/// A tool's path made relative to the workspace: tools in the container see the
/// repository at `/workspace`, and pylint prints paths relative to its working folder.
pub fn workspace_relative(path: &str) -> String {
    let trimmed = path
        .strip_prefix(WORKSPACE)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path);
    trimmed.strip_prefix("./").unwrap_or(trimmed).to_string()
}

/// A line or column number from a tool, `None` when absent or out of range.
pub fn position(raw: Option<i64>) -> Option<u32> {
    raw.and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_workspace_relative() {
        assert_eq!(workspace_relative("/workspace/src/a.js"), "src/a.js");
        assert_eq!(workspace_relative("./src/a.py"), "src/a.py");
        assert_eq!(workspace_relative("src/a.py"), "src/a.py");
        assert_eq!(workspace_relative("/workspaces/a.py"), "/workspaces/a.py");
        assert_eq!(workspace_relative("/other/a.py"), "/other/a.py");
    }

    #[test]
    fn positions_drop_zero_negative_and_huge_values() {
        assert_eq!(position(Some(12)), Some(12));
        assert_eq!(position(Some(0)), None);
        assert_eq!(position(Some(-1)), None);
        assert_eq!(position(Some(i64::MAX)), None);
        assert_eq!(position(None), None);
    }
}
