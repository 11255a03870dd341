//! Built-in stage plugin `deploy`: `helm upgrade --install --atomic` of the commit's image
//! into the task's environment (or `kubectl apply`), and `helm rollback` when the
//! orchestrator sends the rollback task (`action: rollback`).
//!
//! `with:` settings:
//! - `environment` (set by the orchestrator from the stage's `environment`): required.
//! - `tool`: `helm` (default) or `kubectl`; `image`: the tool image (default
//!   `alpine/helm:latest` or `bitnami/kubectl:latest`).
//! - `release` (default: the repository's name), `namespace` (default: the environment).
//! - helm: `chart` (a workspace folder, default `chart`, or an `oci://`/`https://`
//!   reference), `values` (workspace files), `image_tag` (default: the commit), set as
//!   `--set image.tag=<tag>`.
//! - kubectl: `manifests` (workspace files or folders, default `k8s`); the manifests
//!   name their image themselves.
//! - `kubeconfig_secret`: the *name* of the agent secret holding the kubeconfig. The
//!   value never passes through the plugin, its logs or its report; see [`command`].
//! - `env.<NAME>`: extra variables for the tool (`HELM_DRIVER`, ...).
//! - `network` (default `true`: a cluster is remote; the stage needs `network: true`),
//!   `timeout_secs` (default 900).
//! - `action`: `deploy` (default) or `rollback`.
//!
//! A tool that runs and fails (a failed upgrade, rolled back by `--atomic`) fails the
//! stage with the tool's error line; a tool that cannot run is a tool error.

pub mod command;
pub mod outcome;
pub mod settings;

use bosun_sdk::containers::Tool;
use bosun_sdk::fs;
use bosun_sdk::prelude::*;
use settings::{Action, DeployTool, Settings};

/// Lines of tool output kept in the stage's log.
const OUTPUT_LINES: usize = 20;

/// The stage; public so native builds, which do not export it, still use it.
pub struct Deploy;

impl Stage for Deploy {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let settings = settings::parse(&task.config, &task.repository, &task.commit)
            .map_err(|e| StageError::InvalidConfig(format!("stage {}: {e}", task.stage)))?;
        check_workspace(&settings)
            .map_err(|e| StageError::InvalidConfig(format!("stage {}: {e}", task.stage)))?;
        let invocation = command::plan(&settings);
        log::info(&format!(
            "{} to {} in {}: {}{}",
            match settings.action {
                Action::Deploy => "deploying",
                Action::Rollback => "rolling back",
            },
            settings.environment,
            settings.image,
            invocation.tool_argv.join(" "),
            match &settings.kubeconfig_secret {
                Some(name) => format!(" (kubeconfig from secret {name})"),
                None => String::new(),
            }
        ));
        let mut tool = Tool::new(&settings.image, invocation.argv)
            .timeout_secs(settings.timeout_secs)
            .network(settings.network);
        for (key, value) in &invocation.env {
            tool = tool.env(key, value);
        }
        let tool_name = settings.tool.name();
        let output = tool.run().map_err(|e| match e {
            StageError::ToolFailed(why) => StageError::ToolFailed(format!("{tool_name}: {why}")),
            StageError::InvalidConfig(why) => {
                StageError::InvalidConfig(format!("{tool_name}: {why}"))
            }
            other => other,
        })?;
        for line in tail(&output.stdout).chain(tail(&output.stderr)) {
            log::info(&format!("{tool_name}: {line}"));
        }
        let report = outcome::report(&settings, &output);
        if report.outcome == Outcome::Failure {
            log::error(&report.summary);
        } else {
            log::info(&report.summary);
        }
        Ok(report)
    }
}

/// The chart, values files and manifests the tool will read must be in the workspace.
fn check_workspace(settings: &Settings) -> Result<(), String> {
    let exists = |path: &str| fs::workspace_path(path).is_ok_and(|p| p.exists());
    if settings.action == Action::Rollback {
        return Ok(());
    }
    match settings.tool {
        DeployTool::Helm => {
            if settings.chart_is_local() && !exists(&settings.chart) {
                return Err(format!(
                    "no Helm chart at {} in the workspace; add one or set `chart`",
                    settings.chart
                ));
            }
            if let Some(missing) = settings.values.iter().find(|v| !exists(v)) {
                return Err(format!("values file {missing} is not in the workspace"));
            }
        }
        DeployTool::Kubectl => {
            if let Some(missing) = settings.manifests.iter().find(|m| !exists(m)) {
                return Err(format!(
                    "no manifests at {missing} in the workspace; add them or set `manifests`"
                ));
            }
        }
    }
    Ok(())
}

fn tail(text: &str) -> impl Iterator<Item = &str> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(OUTPUT_LINES);
    lines.into_iter().skip(start)
}

// Exported only in the component: native builds (unit tests, clippy) link the crate as
// a `cdylib` too, and the export symbols' names are not valid there.
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(Deploy);
