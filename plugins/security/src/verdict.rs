//! The decision: which issues block, which are below the threshold, which are ignored,
//! and which ignores have expired.

use crate::date::Date;
use crate::ignore::Ignore;
use crate::issue::Issue;
use bosun_sdk::Severity;

/// Where one issue landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// At or above the threshold, and not ignored: fails the stage.
    Blocking,
    /// Below the threshold: reported, does not fail the stage.
    Below,
    /// Matched an ignore that still applies (index into the ignore list).
    Ignored(usize),
}

/// The decision over every issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The threshold applied (`None`: nothing blocks).
    pub threshold: Option<Severity>,
    /// One status per issue, in issue order.
    pub statuses: Vec<Status>,
    /// Ignores past their date that matched an issue: they no longer apply.
    pub expired: Vec<usize>,
    /// Ignores that matched no issue (stale config, worth a log line).
    pub unused: Vec<usize>,
}

impl Verdict {
    /// How many issues have this status kind.
    pub fn count(&self, wanted: fn(&Status) -> bool) -> usize {
        self.statuses.iter().filter(|s| wanted(s)).count()
    }

    /// Whether anything blocks.
    pub fn blocks(&self) -> bool {
        self.statuses.contains(&Status::Blocking)
    }
}

/// Decide every issue against the threshold and the ignores on `today`.
pub fn decide(
    issues: &[Issue],
    threshold: Option<Severity>,
    ignores: &[Ignore],
    today: Date,
) -> Verdict {
    let mut matched = vec![false; ignores.len()];
    let statuses = issues
        .iter()
        .map(|issue| {
            let ignore = ignores.iter().position(|i| i.id == issue.id());
            if let Some(index) = ignore
                && let Some(seen) = matched.get_mut(index)
            {
                *seen = true;
            }
            match ignore {
                Some(index) if ignores.get(index).is_some_and(|i| i.active_on(today)) => {
                    Status::Ignored(index)
                }
                _ if threshold.is_some_and(|t| issue.severity().rank() >= t.rank()) => {
                    Status::Blocking
                }
                _ => Status::Below,
            }
        })
        .collect();
    let expired = ignores
        .iter()
        .enumerate()
        .filter(|(i, ignore)| matched.get(*i) == Some(&true) && !ignore.active_on(today))
        .map(|(i, _)| i)
        .collect();
    let unused = matched
        .iter()
        .enumerate()
        .filter(|(_, seen)| !**seen)
        .map(|(i, _)| i)
        .collect();
    Verdict {
        threshold,
        statuses,
        expired,
        unused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignore::parse_ignores;

    fn issues() -> Vec<Issue> {
        let report = std::fs::read(format!(
            "{}/tests/fixtures/trivy/debian-buster.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut issues = crate::trivy::parse(&report).unwrap();
        let bandit = std::fs::read(format!(
            "{}/tests/fixtures/bandit/bandit-mixed.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        issues.extend(crate::bandit::parse(&bandit).unwrap());
        issues
    }

    fn ignores(raw: &str) -> Vec<Ignore> {
        parse_ignores(&[("ignore".to_string(), raw.to_string())]).unwrap()
    }

    fn day(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn high_and_critical_block_by_default() {
        let issues = issues();
        let verdict = decide(&issues, Some(Severity::High), &[], day("2026-06-01"));
        let blocking: Vec<&str> = issues
            .iter()
            .zip(&verdict.statuses)
            .filter(|(_, s)| **s == Status::Blocking)
            .map(|(i, _)| i.id())
            .collect();
        assert_eq!(blocking, ["CVE-2019-18224", "B602"]);
        assert_eq!(verdict.count(|s| *s == Status::Below), issues.len() - 2);
        assert!(verdict.blocks());
        let none = decide(&issues, None, &[], day("2026-06-01"));
        assert!(!none.blocks());
    }

    #[test]
    fn an_active_ignore_unblocks_and_an_expired_one_does_not() {
        let issues = issues();
        let list = ignores(
            "CVE-2019-18224 until 2026-06-30: libidn2 is never given user input; \
             B602 until 2026-05-31: the command is a constant; \
             CVE-2000-0001 until 2027-01-01: no longer present",
        );
        let verdict = decide(&issues, Some(Severity::High), &list, day("2026-06-01"));
        let status_of = |id: &str| {
            issues
                .iter()
                .zip(&verdict.statuses)
                .find(|(i, _)| i.id() == id)
                .map(|(_, s)| *s)
                .unwrap()
        };
        assert_eq!(status_of("CVE-2019-18224"), Status::Ignored(0));
        assert_eq!(status_of("B602"), Status::Blocking, "its ignore expired");
        assert_eq!(verdict.expired, [1]);
        assert_eq!(verdict.unused, [2]);
        // On the ignore's last day it still applies.
        let last_day = decide(&issues, Some(Severity::High), &list, day("2026-05-31"));
        assert!(!last_day.blocks());
        assert!(last_day.expired.is_empty());
    }

    #[test]
    fn ignoring_a_low_finding_keeps_it_out_of_the_below_count() {
        let issues = issues();
        let list = ignores("B403 until 2030-01-01: pickle is only used on our own files");
        let verdict = decide(&issues, Some(Severity::High), &list, day("2026-06-01"));
        assert_eq!(verdict.count(|s| matches!(s, Status::Ignored(_))), 1);
        assert_eq!(verdict.count(|s| *s == Status::Below), issues.len() - 3);
    }
}
