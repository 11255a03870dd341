//! Concurrency groups across runs: which runs hold a group (a stage of theirs with that
//! `concurrency.group` has begun and not settled) and which wait for it, and since when.
//! Groups are per tenant and repository: one repository's config never holds up another's.

use super::ActiveRun;
use crate::config::StageSpec;
use crate::model::{RunRecord, StageState};
use std::collections::HashMap;

/// One run's use of a group, as the other runs see it.
#[derive(Debug, Clone)]
pub struct GroupUse {
    /// `tenant\0repository\0group`: the lock's identity.
    pub key: String,
    /// The run.
    pub run_id: String,
    /// A stage of the run holds the group.
    pub holding: bool,
    /// The run waits for the group since then (ms).
    pub waiting_since: Option<u64>,
    /// The waiting stage may take the group from its holder.
    pub cancel_in_progress: bool,
}

/// The lock identity of `spec`'s group for `run`, if the stage has one.
pub fn group_key(run: &RunRecord, spec: &StageSpec) -> Option<String> {
    let concurrency = spec.concurrency.as_ref()?;
    let t = &run.trigger;
    let group = concurrency.group_for(spec.environment.as_deref(), &t.branch, &t.repository);
    Some(format!(
        "{}\0{}\0{group}",
        t.tenant.to_ascii_lowercase(),
        t.repository.to_ascii_lowercase()
    ))
}

/// Every group use of the runs in `active`.
pub(super) fn group_uses(active: &HashMap<String, ActiveRun>) -> Vec<GroupUse> {
    let mut uses = Vec::new();
    for run in active.values() {
        let Some(config) = run.config.as_deref() else {
            continue;
        };
        if run.record.status.is_final() {
            continue;
        }
        for stage in &run.record.stages {
            let Some(spec) = config.stage(&stage.name) else {
                continue;
            };
            let Some(key) = group_key(&run.record, spec) else {
                continue;
            };
            let holding = under_way(stage.state);
            let waiting_since = stage
                .group_wait_ms
                .filter(|_| stage.state == StageState::Pending);
            if holding || waiting_since.is_some() {
                uses.push(GroupUse {
                    key,
                    run_id: run.record.id.clone(),
                    holding,
                    waiting_since,
                    cancel_in_progress: spec
                        .concurrency
                        .as_ref()
                        .is_some_and(|c| c.cancel_in_progress),
                });
            }
        }
    }
    uses
}

/// Whether a newer push may not cancel `run`: one of its stages with an `environment`
/// or a concurrency group is running and does not say `cancel_in_progress`.
pub(super) fn protected_from_superseding(run: &ActiveRun) -> bool {
    let Some(config) = run.config.as_deref() else {
        return false;
    };
    run.record.stages.iter().any(|stage| {
        let begun = under_way(stage.state);
        begun
            && config.stage(&stage.name).is_some_and(|spec| {
                (spec.environment.is_some() || spec.concurrency.is_some())
                    && !spec
                        .concurrency
                        .as_ref()
                        .is_some_and(|c| c.cancel_in_progress)
            })
    })
}

/// A stage that has begun and not settled; one waiting for a person has not begun (it
/// holds no group, and a newer push may still supersede its run).
pub fn under_way(state: StageState) -> bool {
    !matches!(state, StageState::Pending | StageState::AwaitingApproval) && !state.is_settled()
}
