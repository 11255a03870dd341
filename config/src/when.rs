//! A stage's `when` conditions: which branches, events and changed paths it runs for.

use super::When;
use super::glob::{PathsBudget, glob_matches, glob_matches_within};

impl When {
    /// Whether a stage with these conditions runs for a push of `branch` by `event` that
    /// changed `changed_paths`. Every non-empty condition must match; unknown changed
    /// paths (`None`) satisfy a `paths` condition.
    ///
    /// `budget` is the run's: every stage's `paths` check draws on it. Paths too many or
    /// too deep to match within what is left count as matched, as unknown paths do: the
    /// stage runs rather than the scheduler grinding ([`PathsBudget::is_spent`] tells).
    pub fn matches(
        &self,
        branch: &str,
        event: &str,
        changed_paths: Option<&[String]>,
        budget: &mut PathsBudget,
    ) -> bool {
        let branch_matches =
            self.branches.is_empty() || self.branches.iter().any(|p| glob_matches(p, branch));
        let event_matches = self.events.is_empty() || self.events.iter().any(|e| e == event);
        // Branch and event first: a stage they rule out spends none of the run's budget.
        if !(branch_matches && event_matches) {
            return false;
        }
        self.paths.is_empty()
            || changed_paths.is_none_or(|changed| {
                budget
                    .draw(|left| {
                        for path in changed {
                            for pattern in &self.paths {
                                if glob_matches_within(pattern, path, left)? {
                                    return Some(true);
                                }
                            }
                        }
                        Some(false)
                    })
                    .unwrap_or(true)
            })
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
    use crate::glob::RUN_MATCH_BUDGET;

    impl When {
        /// [`When::matches`] with a run's whole budget.
        fn check(&self, branch: &str, event: &str, changed: Option<&[String]>) -> bool {
            self.matches(branch, event, changed, &mut PathsBudget::per_run(0))
        }
    }

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
        assert!(always.check("any/branch", "pull_request", Some(&changed(&[]))));
        assert_eq!(always.describe(), "always");
    }

    #[test]
    fn when_branches_match_globs() {
        let w = when(&["main", "release/*"], &[], &[]);
        assert!(w.check("main", "push", None));
        assert!(w.check("release/1.2", "push", None));
        assert!(!w.check("release/1.2/fix", "push", None));
        assert!(!w.check("feature/x", "push", None));
    }

    #[test]
    fn when_events_match_exactly() {
        let w = when(&[], &["push"], &[]);
        assert!(w.check("main", "push", None));
        assert!(!w.check("main", "pull_request", None));
        assert!(!w.check("main", "pus", None));
    }

    #[test]
    fn when_events_schedule_matches_only_scheduled_runs() {
        let nightly = when(&["main"], &["schedule"], &["src/**"]);
        // A scheduled run changed no paths it knows of: `paths` counts as met.
        assert!(nightly.check("main", "schedule", None));
        assert!(!nightly.check("main", "push", None));
        assert!(!nightly.check("dev", "schedule", None));
    }

    #[test]
    fn when_paths_match_any_changed_path() {
        let w = when(&[], &[], &["src/**", "*.toml"]);
        assert!(w.check("main", "push", Some(&changed(&["README.md", "src/a/b.rs"]))));
        assert!(w.check("main", "push", Some(&changed(&["Cargo.toml"]))));
        assert!(!w.check(
            "main",
            "push",
            Some(&changed(&["docs/x.md", "sub/Cargo.toml"]))
        ));
        assert!(!w.check("main", "push", Some(&changed(&[]))));
    }

    #[test]
    fn when_paths_that_would_take_too_long_to_match_count_as_matched() {
        // No path has a `b`, but deciding so costs each path thousands of steps per
        // star: past the budget, the paths count as matched and the stage runs.
        let crafted = when(&[], &[], &["*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"]);
        let deep: Vec<String> = (0..10_000)
            .map(|i| format!("{}{i}", "a".repeat(4000)))
            .collect();
        assert!(crafted.check("main", "push", Some(&deep)));
        // An ordinary filter still decides within it.
        let python = when(&[], &[], &["src/**/*.py"]);
        let docs: Vec<String> = (0..10_000).map(|i| format!("docs/page{i}.md")).collect();
        assert!(!python.check("main", "push", Some(&docs)));
    }

    #[test]
    fn when_paths_budget_is_shared_by_every_stage_of_a_run() {
        // One crafted stage spends the whole budget deciding nothing: it runs.
        let crafted = when(&[], &[], &["*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"]);
        let deep: Vec<String> = (0..10_000)
            .map(|i| format!("{}{i}", "a".repeat(4000)))
            .collect();
        let mut run = PathsBudget::per_run(0);
        assert!(crafted.matches("main", "push", Some(&deep), &mut run));
        assert!(run.is_spent());
        assert_eq!(run.spent(), RUN_MATCH_BUDGET);
        // A second crafted stage of the same run gets no fresh budget: it is not matched
        // again (which would cost another budget), it simply counts as matched.
        let mut before = run;
        assert!(crafted.matches("main", "push", Some(&deep), &mut run));
        assert_eq!(run, before);
        // So does a stage whose filter would have said no: the run's budget is spent.
        let python = when(&[], &[], &["src/**/*.py"]);
        let docs = changed(&["docs/page.md"]);
        assert!(python.matches("main", "push", Some(&docs), &mut run));
        // A fresh run decides it.
        before = PathsBudget::per_run(0);
        assert!(!python.matches("main", "push", Some(&docs), &mut before));
        assert!(!before.is_spent());
    }

    #[test]
    fn when_paths_budget_adds_up_across_stages_and_resumes_from_what_was_spent() {
        let python = when(&[], &[], &["src/**/*.py"]);
        let docs: Vec<String> = (0..1_000).map(|i| format!("docs/page{i}.md")).collect();
        let mut one = PathsBudget::per_run(0);
        assert!(!python.matches("main", "push", Some(&docs), &mut one));
        let per_stage = one.spent();
        assert!(per_stage > 0);
        // Two stages spend twice what one does, from the same budget.
        assert!(!python.matches("main", "push", Some(&docs), &mut one));
        assert_eq!(one.spent(), 2 * per_stage);
        // A budget with room for one stage's check, not two: the second counts as matched.
        let mut small = PathsBudget::with_limit(per_stage + per_stage / 2, 0);
        assert!(!python.matches("main", "push", Some(&docs), &mut small));
        assert!(python.matches("main", "push", Some(&docs), &mut small));
        assert!(small.is_spent());
        // Resumed after a restart from what the run recorded: the same state.
        let resumed = PathsBudget::with_limit(small.limit(), small.spent());
        assert_eq!(resumed, small);
        // A stage ruled out by branch or event spends nothing.
        let main_only = when(&["main"], &[], &["src/**/*.py"]);
        let mut untouched = PathsBudget::per_run(0);
        assert!(!main_only.matches("dev", "push", Some(&docs), &mut untouched));
        assert_eq!(untouched.spent(), 0);
    }

    #[test]
    fn when_paths_unknown_count_as_matched() {
        let w = when(&[], &[], &["src/**"]);
        assert!(w.check("main", "push", None));
    }

    #[test]
    fn when_every_condition_must_match() {
        let w = when(&["main"], &["push"], &["src/**"]);
        let src = changed(&["src/x"]);
        assert!(w.check("main", "push", Some(&src)));
        assert!(!w.check("dev", "push", Some(&src)));
        assert!(!w.check("main", "tag", Some(&src)));
        assert!(!w.check("main", "push", Some(&changed(&["docs/x"]))));
        assert_eq!(w.describe(), "branches main; events push; paths src/**");
    }
}
