//! A stage's `when` conditions: which branches, events and changed paths it runs for.

use super::When;
use super::glob::{MATCH_BUDGET, glob_matches, glob_matches_within};

impl When {
    /// Whether a stage with these conditions runs for a push of `branch` by `event` that
    /// changed `changed_paths`. Every non-empty condition must match; unknown changed
    /// paths (`None`) satisfy a `paths` condition.
    pub fn matches(&self, branch: &str, event: &str, changed_paths: Option<&[String]>) -> bool {
        let branch_matches =
            self.branches.is_empty() || self.branches.iter().any(|p| glob_matches(p, branch));
        let event_matches = self.events.is_empty() || self.events.iter().any(|e| e == event);
        // Paths too many or too deep to match within the budget count as matched, as
        // unknown paths do: the stage runs rather than the scheduler grinding.
        let mut budget = MATCH_BUDGET;
        let paths_match = self.paths.is_empty()
            || changed_paths.is_none_or(|changed| {
                changed.iter().any(|path| {
                    self.paths
                        .iter()
                        .any(|p| glob_matches_within(p, path, &mut budget).unwrap_or(true))
                })
            });
        branch_matches && event_matches && paths_match
    }

    /// True when no condition is set: the stage always runs.
    pub fn is_always(&self) -> bool {
        self.branches.is_empty() && self.events.is_empty() && self.paths.is_empty()
    }

    /// The conditions in one line, e.g. `branches main, release/*; events push`.
    pub(crate) fn describe(&self) -> String {
        if self.is_always() {
            return "always".into();
        }
        [
            ("branches", &self.branches),
            ("events", &self.events),
            ("paths", &self.paths),
        ]
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(label, list)| format!("{label} {}", list.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(branches: &[&str], events: &[&str], paths: &[&str]) -> When {
        let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        When {
            branches: own(branches),
            events: own(events),
            paths: own(paths),
        }
    }

    fn changed(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn when_empty_always_matches() {
        let always = When::default();
        assert!(always.is_always());
        assert!(always.matches("any/branch", "pull_request", Some(&changed(&[]))));
        assert_eq!(always.describe(), "always");
    }

    #[test]
    fn when_branches_match_globs() {
        let w = when(&["main", "release/*"], &[], &[]);
        assert!(w.matches("main", "push", None));
        assert!(w.matches("release/1.2", "push", None));
        assert!(!w.matches("release/1.2/fix", "push", None));
        assert!(!w.matches("feature/x", "push", None));
    }

    #[test]
    fn when_events_match_exactly() {
        let w = when(&[], &["push"], &[]);
        assert!(w.matches("main", "push", None));
        assert!(!w.matches("main", "pull_request", None));
        assert!(!w.matches("main", "pus", None));
    }

    #[test]
    fn when_events_schedule_matches_only_scheduled_runs() {
        let nightly = when(&["main"], &["schedule"], &["src/**"]);
        // A scheduled run changed no paths it knows of: `paths` counts as met.
        assert!(nightly.matches("main", "schedule", None));
        assert!(!nightly.matches("main", "push", None));
        assert!(!nightly.matches("dev", "schedule", None));
    }

    #[test]
    fn when_paths_match_any_changed_path() {
        let w = when(&[], &[], &["src/**", "*.toml"]);
        assert!(w.matches("main", "push", Some(&changed(&["README.md", "src/a/b.rs"]))));
        assert!(w.matches("main", "push", Some(&changed(&["Cargo.toml"]))));
        assert!(!w.matches(
            "main",
            "push",
            Some(&changed(&["docs/x.md", "sub/Cargo.toml"]))
        ));
        assert!(!w.matches("main", "push", Some(&changed(&[]))));
    }

    #[test]
    fn when_paths_that_would_take_too_long_to_match_count_as_matched() {
        // No path has a `b`, but deciding so costs each path thousands of steps per
        // star: past the budget, the paths count as matched and the stage runs.
        let crafted = when(&[], &[], &["*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"]);
        let deep: Vec<String> = (0..10_000)
            .map(|i| format!("{}{i}", "a".repeat(4000)))
            .collect();
        assert!(crafted.matches("main", "push", Some(&deep)));
        // An ordinary filter still decides within it.
        let python = when(&[], &[], &["src/**/*.py"]);
        let docs: Vec<String> = (0..10_000).map(|i| format!("docs/page{i}.md")).collect();
        assert!(!python.matches("main", "push", Some(&docs)));
    }

    #[test]
    fn when_paths_unknown_count_as_matched() {
        let w = when(&[], &[], &["src/**"]);
        assert!(w.matches("main", "push", None));
    }

    #[test]
    fn when_every_condition_must_match() {
        let w = when(&["main"], &["push"], &["src/**"]);
        let src = changed(&["src/x"]);
        assert!(w.matches("main", "push", Some(&src)));
        assert!(!w.matches("dev", "push", Some(&src)));
        assert!(!w.matches("main", "tag", Some(&src)));
        assert!(!w.matches("main", "push", Some(&changed(&["docs/x"]))));
        assert_eq!(w.describe(), "branches main; events push; paths src/**");
    }
}
