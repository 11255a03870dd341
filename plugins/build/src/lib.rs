//! Built-in stage plugin `build`: builds the repository's Dockerfile into an image
//! tagged `<registry>/<repository>:<commit>` and `:<branch>`, pushes it, and reports the
//! registry digest as `image` artifacts.
//!
//! `with:` settings (all optional):
//! - `dockerfile` (default `Dockerfile`) and `context` (default `.`), relative to the
//!   workspace root; the Dockerfile must be inside the context.
//! - `repository`: the image repository (default: the task's `owner/name`, lower-cased).
//! - `registry` (default `127.0.0.1:5000`): where the image goes. With the default
//!   builder the agent's image builder picks the registry; the stage checks that it
//!   pushed there and fails with a config error if not.
//! - `push` (default `true`).
//! - `build_args`: a mapping of `--build-arg` values (`build_args.<NAME>` once flattened).
//! - `builder`: `docker` (default: the host's image-build capability) or `kaniko` (the
//!   executor image `kaniko_image` run as a tool container; see [`kaniko`] for why it
//!   cannot run on Bosun's own test machines).
//! - `timeout_secs` (default 1800): limit for build and push.

pub mod kaniko;
pub mod outcome;
pub mod settings;
pub mod tags;

use bosun_sdk::containers::{ImageBuildRequest, Tool, build_image};
use bosun_sdk::fs;
use bosun_sdk::prelude::*;
use settings::{Builder, Settings};
use std::time::Instant;

/// The stage; public so native builds, which do not export it, still use it.
pub struct Build;

impl Stage for Build {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let settings = settings::parse(&task.config, &task.repository)
            .map_err(|e| StageError::InvalidConfig(format!("stage {}: {e}", task.stage)))?;
        let dockerfile = fs::workspace_path(&settings.dockerfile)?;
        if !dockerfile.is_file() {
            return Err(StageError::InvalidConfig(format!(
                "stage {}: no Dockerfile at {} in the workspace; add one or set `dockerfile`",
                task.stage, settings.dockerfile
            )));
        }
        let started = Instant::now();
        let report = match &settings.builder {
            Builder::Docker => with_docker(&settings)?,
            Builder::Kaniko { image } => with_kaniko(task, &settings, image)?,
        };
        let seconds = started.elapsed().as_secs_f64();
        let report = match report {
            Built::Docker(output) => {
                log::info(&outcome::log_tail(&output.log, outcome::LOG_TAIL_LINES));
                outcome::from_docker(&settings, &output, seconds)?
            }
            Built::Kaniko { references, digest } => {
                outcome::from_kaniko(&settings, &references, digest.as_deref(), seconds)?
            }
        };
        log::info(&report.summary);
        Ok(report)
    }
}

/// What a builder produced, before it becomes a report.
enum Built {
    Docker(bosun_sdk::containers::ImageBuildOutput),
    Kaniko {
        references: Vec<String>,
        digest: Option<String>,
    },
}

fn with_docker(settings: &Settings) -> Result<Built, StageError> {
    let request = ImageBuildRequest {
        dockerfile: settings.dockerfile.clone(),
        context: settings.context.clone(),
        repository: settings.repository.clone(),
        build_args: settings.build_args.clone(),
        push: settings.push,
        timeout_ms: settings.timeout_secs.saturating_mul(1000),
    };
    log::info(&format!(
        "building {} from {} (context {})",
        settings.repository, settings.dockerfile, settings.context
    ));
    build_image(&request)
        .map(Built::Docker)
        .map_err(|e| match e {
            StageError::ToolFailed(why) => StageError::ToolFailed(format!("image build: {why}")),
            other => other,
        })
}

fn with_kaniko(task: &Task, settings: &Settings, image: &str) -> Result<Built, StageError> {
    let references = tags::references(
        &settings.registry,
        &settings.repository,
        &task.commit,
        &task.branch,
    );
    let argv = kaniko::argv(settings, &references);
    log::info(&format!("running kaniko in {image}: {}", argv.join(" ")));
    let output = Tool::new(image, argv)
        .timeout_secs(settings.timeout_secs)
        .network(settings.push)
        .run()
        .map_err(|e| match e {
            StageError::ToolFailed(why) => StageError::ToolFailed(format!("kaniko: {why}")),
            other => other,
        })?;
    if output.exit_code != 0 {
        return Err(StageError::ToolFailed(format!(
            "kaniko (image {image}) exited with code {}: {}",
            output.exit_code,
            outcome::log_tail(&output.stderr, 20)
        )));
    }
    let digest = fs::read_out(kaniko::DIGEST_FILE)
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    Ok(Built::Kaniko { references, digest })
}

// Exported only in the component: native builds (unit tests, clippy) link the crate as
// a `cdylib` too, and the export symbols' names are not valid there.
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(Build);
