//! `bosun run --rerun-failed`: the last run of DIR again, exactly, for its failed
//! stages only.
//!
//! "Exactly" means what a re-run on a server means: the last run's snapshot commit
//! (not the working tree as it is now), its `.bosun.yml` text, its trigger and its
//! plugin digests. Stages that passed are reused; the rest and what needs them run
//! again. Edits made to the folder since the last run are not seen: they would make it
//! another run, which is what `bosun run` without the flag is for. What may differ is
//! what lies outside the pinned commit, config and plugins (tool images by tag, the
//! network, files outside the repository): that is what a re-run of a flaky stage is
//! for. The commit comes from the agent's git mirror under DIR/.bosun (or the
//! snapshot repository, which holds the last run's commit until the next `bosun run`).

use anyhow::{Context, bail};
use bosun::embedded::Embedded;
use bosun_orchestrator::model::RunRecord;
use bosun_orchestrator::scheduler::{RerunRefused, RerunRequest, RerunStarted};
use bosun_orchestrator::store::{RunFilter, Store};
use std::path::Path;

/// The run `--rerun-failed` repeats: the newest one recorded in DIR's store.
pub fn last_run(store_path: &Path) -> anyhow::Result<RunRecord> {
    let no_run = || {
        anyhow::anyhow!(
            "--rerun-failed: no earlier run is recorded in {}: run `bosun run` first",
            store_path.display()
        )
    };
    if !store_path.exists() {
        return Err(no_run());
    }
    let store = Store::open(store_path)?;
    let filter = RunFilter {
        limit: Some(1),
        ..RunFilter::default()
    };
    let Some(last) = store.list_runs(&filter)?.into_iter().next() else {
        return Err(no_run());
    };
    store
        .run(&last.id)?
        .with_context(|| format!("run {} disappeared from the store", last.id))
}

/// What starting the re-run gave: the new run, or nothing to do.
pub enum Started {
    /// The re-run is under way.
    Run(RerunStarted),
    /// Every stage of the last run passed.
    NothingFailed,
}

/// Ask the embedded orchestrator to re-run `last` (every failed stage, or `stage`).
pub async fn start(
    system: &Embedded,
    last: &RunRecord,
    stage: Option<String>,
) -> anyhow::Result<Started> {
    let request = RerunRequest {
        run_id: last.id.clone(),
        stage,
        by: std::env::var("USER").unwrap_or_else(|_| "local".into()),
    };
    match system
        .orchestrator
        .rerun(request)
        .await
        .map_err(anyhow::Error::msg)?
    {
        Ok(started) => Ok(Started::Run(started)),
        Err(RerunRefused::NothingFailed(_)) => Ok(Started::NothingFailed),
        Err(refused) => bail!("--rerun-failed: {refused}"),
    }
}

/// The line saying what the re-run repeats and pins.
pub fn describe(last: &RunRecord, started: &RerunStarted) -> String {
    let reused = if started.reused.is_empty() {
        "none".to_string()
    } else {
        started.reused.join(", ")
    };
    format!(
        "re-run of run {} at its snapshot {} with its config ({}) and plugin digests pinned; runs again: {}; reused: {reused}; changes made to the folder since are not seen",
        last.id,
        last.trigger.commit.get(..8).unwrap_or(&last.trigger.commit),
        last.config_origin.as_deref().unwrap_or(".bosun.yml"),
        started.rerun.join(", "),
    )
}
