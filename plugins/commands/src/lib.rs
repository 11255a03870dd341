//! Built-in stage plugin `commands`: runs a stage's own `commands` in the `image` it
//! names, through the host's command-step capability (a private writable checkout, a
//! writable `HOME` and `/tmp`, the stage's caches), then reads the reports the commands
//! wrote and gives the verdict.
//!
//! The step itself (image, commands, env, network, cache, reports) arrives in the
//! reserved `bosun.step` setting, written by the orchestrator from `.bosun.yml`. The
//! stage's `with:` holds the verdict settings:
//! - `min_coverage`: fail when line coverage is below this percentage.
//! - `fail_on`: fail when a finding is at least this severe (`low` … `critical`); by
//!   default findings are reported and the commands' exit status decides.
//!
//! The first command that fails fails the step; the report names it, its exit status
//! and the end of its output. Failed tests fail it too, whatever the exit status.

pub mod findings;
pub mod reports;
pub mod spec;
pub mod verdict;

use bosun_sdk::containers::{self, StepRequest};
use bosun_sdk::prelude::*;
use sha2::{Digest, Sha256};
use spec::StepSpec;
use std::path::Path;

/// The stage; public so that native builds, which do not export it, still use it.
pub struct CommandsStage;

/// The `with:` settings this stage knows besides the reserved step.
pub const KNOWN_SETTINGS: &[&str] = &[spec::STEP_KEY, "min_coverage", "fail_on"];

impl Stage for CommandsStage {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let invalid =
            |why: String| StageError::InvalidConfig(format!("stage {}: {why}", task.stage));
        bosun_sdk::settings::check_known(&task.config, KNOWN_SETTINGS).map_err(invalid)?;
        let spec = StepSpec::from_config(&task.config).map_err(invalid)?;
        let bar = verdict::Bar::from_task(task).map_err(invalid)?;
        let cache_key = cache_key(&task.stage, &spec).map_err(invalid)?;
        let request = StepRequest {
            image: spec.image.clone(),
            commands: spec.commands.clone(),
            env: spec.env.clone(),
            timeout_ms: 0,
            network: spec.network,
            cache_paths: spec.cache.paths.clone(),
            cache_key,
            collect: spec.report_patterns(),
            services: spec
                .services
                .iter()
                .map(spec::ServiceSpec::request)
                .collect(),
        };
        // What the commands print reaches the attempt's log from the host as they print
        // it (masked, capped, and live while the step runs), so it is not logged here.
        let output = containers::run_step(&request)?;
        match output.cache_restored {
            Some(bytes) => log::info(&format!(
                "cache restored ({})",
                bosun_sdk::report_file::human_size(bytes)
            )),
            None if !spec.cache.paths.is_empty() => log::info("no cache yet for this key"),
            None => {}
        }
        if output.cache_saved {
            log::info("cache saved");
        }
        let read = reports::read(
            &spec,
            &output.collected,
            &Path::new(bosun_sdk::fs::OUT).join("workspace"),
        );
        for problem in &read.problems {
            log::error(problem);
        }
        let report = verdict::report(&spec, &output, read, &bar)?;
        if let Some(failed) = report.findings.iter().find(|f| f.tool == "commands") {
            log::error(&failed.message);
        }
        Ok(report)
    }
}

/// The cache this step uses: the stage (two stages never overwrite each other's), the
/// image, the cached paths and the contents of the key files (lockfiles), so a changed
/// lockfile starts a fresh cache.
fn cache_key(stage: &str, spec: &StepSpec) -> Result<String, String> {
    cache_key_from(stage, spec, |file| bosun_sdk::fs::read_workspace(file).ok())
}

/// [`cache_key`], reading the key files with `read` (`None`: not in the repository).
fn cache_key_from(
    stage: &str,
    spec: &StepSpec,
    read: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<String, String> {
    if spec.cache.paths.is_empty() {
        return Ok(String::new());
    }
    let mut hash = Sha256::new();
    hash.update(stage.as_bytes());
    hash.update(b"\0image\0");
    hash.update(spec.image.as_bytes());
    for path in &spec.cache.paths {
        hash.update(b"\0path\0");
        hash.update(path.as_bytes());
    }
    for file in &spec.cache.key {
        bosun_sdk::settings::check_relative(file)
            .map_err(|why| format!("cache key file: {why}"))?;
        let bytes = read(file).ok_or_else(|| {
            format!("cache key file {file} is not in the repository at this commit")
        })?;
        hash.update(b"\0file\0");
        hash.update(file.as_bytes());
        hash.update(Sha256::digest(&bytes));
    }
    Ok(hex::encode(hash.finalize()))
}

#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(CommandsStage);

#[cfg(test)]
mod tests;
