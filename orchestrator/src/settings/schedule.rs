//! A tenant's schedules: runs of a repository's branch started by the clock, read in the
//! tenant's time zone. Every field is checked when the settings load, and an error
//! names the tenant, the schedule and the setting.

use super::{CloneScheme, TenantSettings};
use crate::schedule::{Timing, parse_zone};
use serde::Deserialize;

/// One schedule, as written under a tenant's `schedules:`. Fields are optional here
/// only so that a missing one is reported with the tenant and schedule it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// `owner/name`, a repository of this tenant.
    #[serde(default)]
    pub repository: Option<String>,
    /// Where the orchestrator and agents fetch it; checked as a webhook's clone URL is
    /// (the server's `clone_schemes`, the tenant's `clone_hosts`, the repository's path).
    #[serde(default)]
    pub clone_url: Option<String>,
    /// The branch whose head commit each run builds.
    #[serde(default)]
    pub branch: Option<String>,
    /// Five cron fields (minute hour day-of-month month day-of-week) or an alias such as
    /// `@daily`, read in the tenant's `time_zone`.
    #[serde(default)]
    pub cron: Option<String>,
    /// The repository's default branch (what secrets' `default_branch_only` compares
    /// with); default: the branch the repository's `HEAD` names.
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// A schedule whose settings passed every check.
#[derive(Debug, Clone)]
pub struct CheckedSchedule {
    /// The tenant's owner login.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// The clone URL.
    pub clone_url: String,
    /// The branch to build.
    pub branch: String,
    /// The default branch, when the settings name it.
    pub default_branch: Option<String>,
    /// When it fires.
    pub timing: Timing,
}

impl CheckedSchedule {
    /// What identifies it in the run store across restarts: its repository, branch and
    /// pattern (a changed pattern is a new schedule, which starts counting afresh).
    pub fn key(&self) -> String {
        format!(
            "{}@{} {}",
            self.repository.to_ascii_lowercase(),
            self.branch,
            self.timing.pattern()
        )
    }
}

/// Whether `name` is a branch git accepts (`git check-ref-format --branch`, in short).
pub fn is_branch_name(name: &str) -> bool {
    let bad_char = |c: char| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    };
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('-')
        && !name.contains("..")
        && !name.contains("@{")
        && name != "@"
        && !name.chars().any(bad_char)
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.ends_with('.')
                && !part.ends_with(".lock")
        })
}

impl TenantSettings {
    /// The tenant's schedules, each checked; an error names the tenant, the schedule
    /// (by position, and repository and branch when given) and the setting.
    pub fn checked_schedules(
        &self,
        schemes: &[CloneScheme],
    ) -> Result<Vec<CheckedSchedule>, String> {
        let zone = parse_zone(self.time_zone.as_deref())
            .map_err(|e| format!("tenant {}: `time_zone` {e}", self.owner))?;
        let mut checked = Vec::with_capacity(self.schedules.len());
        for (index, schedule) in self.schedules.iter().enumerate() {
            let named = |what: String| {
                let mut label = format!("tenant {}, schedule {}", self.owner, index + 1);
                if let Some(repository) = &schedule.repository {
                    label.push_str(&format!(" ({repository}"));
                    if let Some(branch) = &schedule.branch {
                        label.push_str(&format!(" {branch}"));
                    }
                    label.push(')');
                }
                format!("{label}: {what}")
            };
            let required = |value: &Option<String>, key: &str| {
                value
                    .clone()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| named(format!("`{key}` is missing")))
            };
            let repository = required(&schedule.repository, "repository")?;
            let owner_matches = repository
                .split_once('/')
                .is_some_and(|(owner, _)| owner.eq_ignore_ascii_case(&self.owner));
            if !crate::trust::is_repository_name(&repository) || !owner_matches {
                return Err(named(format!(
                    "`repository` {repository:?} is not an owner/name of tenant {}",
                    self.owner
                )));
            }
            let branch = required(&schedule.branch, "branch")?;
            if !is_branch_name(&branch) {
                return Err(named(format!("`branch` {branch:?} is not a branch name")));
            }
            if let Some(default) = &schedule.default_branch
                && !is_branch_name(default)
            {
                return Err(named(format!(
                    "`default_branch` {default:?} is not a branch name"
                )));
            }
            let clone_url = required(&schedule.clone_url, "clone_url")?;
            crate::trust::check_clone_url(&clone_url, &repository, schemes, &self.clone_hosts)
                .map_err(|e| named(format!("`clone_url`: {e}")))?;
            let cron = required(&schedule.cron, "cron")?;
            let timing =
                Timing::parse(&cron, zone.clone()).map_err(|e| named(format!("`cron` {e}")))?;
            let schedule = CheckedSchedule {
                tenant: self.owner.clone(),
                repository,
                clone_url,
                branch,
                default_branch: schedule.default_branch.clone(),
                timing,
            };
            if let Some(first) = checked
                .iter()
                .position(|c: &CheckedSchedule| c.key() == schedule.key())
            {
                return Err(named(format!(
                    "the same repository, branch and `cron` as schedule {}",
                    first + 1
                )));
            }
            checked.push(schedule);
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_gits_rules() {
        for good in ["main", "release/1.2", "feature/x-y_z", "v1.0"] {
            assert!(is_branch_name(good), "{good}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "a:b", "x.lock", "a//b", "/a", "a/", ".hidden", "a@{1}", "@",
        ] {
            assert!(!is_branch_name(bad), "{bad:?}");
        }
    }
}
