//! GitHub's "Re-run" buttons (`check_run` / `check_suite` `rerequested`): the stage a
//! check run names by its external id, or what failed in the latest run of a check
//! suite's commit, re-run through the same re-run as `POST /api/runs/{id}/rerun`. The
//! run must be the signing tenant's, of the payload's repository and commit; a check
//! run naming anything else is ignored without saying whether that run exists.

use super::AppState;
use super::webhook::Outcome;
use crate::scheduler::RerunRequest;
use crate::settings::TenantSettings;
use crate::store::RunFilter;
use crate::webhook::{RerunAsk, RerunTarget};

/// Most recent runs of a repository searched for a check suite's commit.
const RUNS_SEARCHED: u32 = 500;

/// Re-run what `ask` names, for the tenant whose secret signed it.
pub(super) async fn rerun(
    state: &AppState,
    tenant: &TenantSettings,
    delivery: &str,
    event: &str,
    ask: RerunAsk,
) -> Outcome {
    if !ask.tenant.eq_ignore_ascii_case(&tenant.owner) {
        return Outcome::Forbidden(format!(
            "signed with the secret of tenant {} but the repository belongs to {}",
            tenant.owner, ask.tenant
        ));
    }
    let (run_id, stage) = match find_run(state, tenant, &ask) {
        Ok(Some(found)) => found,
        Ok(None) => {
            let what = match &ask.target {
                RerunTarget::Stage { .. } => "the check run names no run",
                RerunTarget::FailedOfCommit => "no run is known",
            };
            let short: String = ask.commit.chars().take(12).collect();
            return Outcome::Ignored(format!("{what} of {}@{short}", ask.repository));
        }
        Err(e) => return Outcome::Unavailable(e),
    };
    let orchestrator = &state.orchestrator;
    match orchestrator
        .record_delivery(delivery, &tenant.owner, event, "rerun")
        .await
    {
        Ok(true) => {}
        Ok(false) => return Outcome::Duplicate { run_id: None },
        Err(e) => return Outcome::Unavailable(e.to_string()),
    }
    let request = RerunRequest {
        run_id,
        stage,
        by: format!("{} through GitHub's Re-run", ask.sender),
    };
    match orchestrator.rerun(request).await {
        Ok(Ok(started)) => Outcome::Queued {
            run_id: started.run_id,
        },
        Ok(Err(refused)) => Outcome::Ignored(refused.to_string()),
        Err(e) => Outcome::Unavailable(e.to_string()),
    }
}

/// The run (and stage) to re-run: it must be the tenant's, of the payload's
/// repository and at its commit.
fn find_run(
    state: &AppState,
    tenant: &TenantSettings,
    ask: &RerunAsk,
) -> Result<Option<(String, Option<String>)>, String> {
    let store = state
        .reads
        .lock()
        .map_err(|_| "run store lock poisoned".to_string())?;
    match &ask.target {
        RerunTarget::Stage { run_id, stage } => {
            let run = store.run(run_id).map_err(|e| e.to_string())?;
            let ours = run.is_some_and(|run| {
                let trigger = &run.trigger;
                trigger.tenant.eq_ignore_ascii_case(&tenant.owner)
                    && trigger.repository.eq_ignore_ascii_case(&ask.repository)
                    && trigger.commit == ask.commit
            });
            Ok(ours.then(|| (run_id.clone(), Some(stage.clone()))))
        }
        RerunTarget::FailedOfCommit => {
            let filter = RunFilter {
                repository: Some(ask.repository.clone()),
                tenant: Some(tenant.owner.clone()),
                limit: Some(RUNS_SEARCHED),
                ..RunFilter::default()
            };
            let runs = store.list_runs(&filter).map_err(|e| e.to_string())?;
            Ok(runs
                .into_iter()
                .find(|run| run.commit == ask.commit)
                .map(|run| (run.id, None)))
        }
    }
}
