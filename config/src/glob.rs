//! Glob patterns for branches and changed paths: `*` within a segment, `**` across
//! segments, `?` for one character.

/// Whether `text` (a branch or a repository-relative path) matches `pattern`.
///
/// Both are split at `/`. A pattern segment that is exactly `**` matches any number of
/// text segments (none included); elsewhere `*` matches any run of characters within one
/// segment and `?` exactly one character. Everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut unlimited = u64::MAX;
    glob_matches_within(pattern, text, &mut unlimited).unwrap_or(true)
}

/// Work units one run's `when.paths` checks may spend together, on every changed path,
/// pattern and stage: a push of thousands of deep paths against crafted patterns in
/// hundreds of stages stays a bounded piece of the scheduler's time.
pub const RUN_MATCH_BUDGET: u64 = 20_000_000;

/// What one run has spent of its `when.paths` matching budget. The scheduler keeps it
/// with the run, so every stage's check draws on the same [`RUN_MATCH_BUDGET`]; once it
/// is spent, every `paths` condition left counts as matched (those stages run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathsBudget {
    limit: u64,
    spent: u64,
}

impl PathsBudget {
    /// A run's budget after it has already spent `spent` units.
    pub fn per_run(spent: u64) -> PathsBudget {
        PathsBudget::with_limit(RUN_MATCH_BUDGET, spent)
    }

    /// A budget of `limit` units, `spent` of them gone.
    pub fn with_limit(limit: u64, spent: u64) -> PathsBudget {
        PathsBudget {
            limit,
            spent: spent.min(limit),
        }
    }

    /// Units spent so far (what the run records).
    pub fn spent(&self) -> u64 {
        self.spent
    }

    /// The whole budget.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Nothing is left: every further `paths` condition counts as matched.
    pub fn is_spent(&self) -> bool {
        self.spent >= self.limit
    }

    /// Run `check` on what is left, then record what it spent; `None` from `check`
    /// means it ran out, which spends the whole budget.
    pub(crate) fn draw<T>(&mut self, check: impl FnOnce(&mut u64) -> Option<T>) -> Option<T> {
        let mut left = self.limit - self.spent;
        let answer = check(&mut left);
        self.spent = if answer.is_some() {
            self.limit - left
        } else {
            self.limit
        };
        answer
    }
}

/// Take `units` from `budget`; `None` once it is spent.
fn spend(budget: &mut u64, units: u64) -> Option<()> {
    *budget = budget.checked_sub(units)?;
    Some(())
}

/// [`glob_matches`], spending `budget`: `None` when it runs out before an answer.
pub(crate) fn glob_matches_within(pattern: &str, text: &str, budget: &mut u64) -> Option<bool> {
    let mut patterns: Vec<&str> = pattern.split('/').collect();
    // `**/**` matches what `**` does; collapsing keeps the table small.
    patterns.dedup_by(|a, b| *a == "**" && *b == "**");
    let segments: Vec<&str> = text.split('/').collect();
    // matched[j]: do patterns[i..] match segments[j..], for the current i (filled from the
    // end, so each row needs only the row after it).
    let rows = segments.len() + 1;
    let mut after = vec![false; rows];
    if let Some(last) = after.last_mut() {
        *last = true;
    }
    for pattern in patterns.iter().rev() {
        let mut current = vec![false; rows];
        for j in (0..rows).rev() {
            spend(budget, 1)?;
            let next_row = |k: usize| after.get(k).copied().unwrap_or(false);
            let matched = if *pattern == "**" {
                next_row(j) || current.get(j + 1).copied().unwrap_or(false)
            } else {
                match segments.get(j) {
                    Some(segment) if next_row(j + 1) => segment_matches(pattern, segment, budget)?,
                    _ => false,
                }
            };
            if let Some(slot) = current.get_mut(j) {
                *slot = matched;
            }
        }
        after = current;
    }
    Some(after.first().copied().unwrap_or(false))
}

/// Matches one segment: `*` any run of characters, `?` one character.
fn segment_matches(pattern: &str, text: &str, budget: &mut u64) -> Option<bool> {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and how much text it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = text.get(t) {
        spend(budget, 1)?;
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some('?') => {
                p += 1;
                t += 1;
            }
            Some(expected) if expected == c => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return Some(false),
            },
        }
    }
    while pattern.get(p) == Some(&'*') {
        p += 1;
    }
    Some(p == pattern.len())
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn glob_star_stays_within_a_segment() {
        assert!(glob_matches("release/*", "release/1.0"));
        assert!(!glob_matches("release/*", "release/1.0/hotfix"));
        assert!(glob_matches("src/*.py", "src/app.py"));
        assert!(!glob_matches("src/*.py", "src/pkg/app.py"));
        assert!(glob_matches("*", "main"));
        assert!(!glob_matches("*", "feature/x"));
        assert!(glob_matches("feat*-x", "feature-x"));
    }

    #[test]
    fn glob_double_star_crosses_segments() {
        assert!(glob_matches("src/**", "src/a/b/c.rs"));
        assert!(glob_matches("src/**", "src/c.rs"));
        assert!(glob_matches("**/*.md", "README.md"));
        assert!(glob_matches("**/*.md", "docs/guide/intro.md"));
        assert!(glob_matches("a/**/b", "a/b"));
        assert!(glob_matches("a/**/b", "a/x/y/b"));
        assert!(!glob_matches("a/**/b", "a/x/y/c"));
        assert!(glob_matches("**", "anything/at/all"));
        assert!(!glob_matches("docs/**", "src/docs/x"));
    }

    #[test]
    fn glob_question_mark_is_one_character() {
        assert!(glob_matches("v?", "v1"));
        assert!(!glob_matches("v?", "v10"));
        assert!(!glob_matches("v?", "v"));
        assert!(!glob_matches("a?b", "a/b"));
    }

    #[test]
    fn glob_literals_match_exactly() {
        assert!(glob_matches("main", "main"));
        assert!(!glob_matches("main", "main2"));
        assert!(!glob_matches("main", "Main"));
        assert!(glob_matches("src/app.py", "src/app.py"));
    }

    #[test]
    fn glob_backtracks_over_many_stars_quickly() {
        let text = "a".repeat(200);
        assert!(!glob_matches("*a*a*a*a*a*a*a*a*b", &text));
        let deep = vec!["x"; 200].join("/");
        assert!(!glob_matches("**/**/**/**/**/y", &deep));
    }
}
