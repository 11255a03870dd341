//! `bosun trigger`: start a run on a running orchestrator (`POST /api/runs`).

use anyhow::{Context, bail};
use clap::Args;
use std::process::ExitCode;

/// Start a run on a running orchestrator (`POST /api/runs`).
///
/// Example: bosun trigger --server http://127.0.0.1:8080 --repository acme/shop --clone-url https://github.com/acme/shop.git --commit 4807158 --branch main
#[derive(Args)]
pub struct TriggerArgs {
    /// The orchestrator's base URL.
    #[arg(long, env = "BOSUN_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// `owner/name`; the owner is the tenant.
    #[arg(long)]
    repository: String,
    /// Where agents fetch the code.
    #[arg(long)]
    clone_url: String,
    /// The commit sha.
    #[arg(long)]
    commit: String,
    /// The branch.
    #[arg(long, default_value = "main")]
    branch: String,
    /// The repository's default branch (for policies).
    #[arg(long)]
    default_branch: Option<String>,
    /// The API token, when the orchestrator requires one.
    #[arg(long, env = "BOSUN_API_TOKEN")]
    token: Option<String>,
}

pub async fn run(args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let url = format!("{}/api/runs", args.server.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&url).json(&serde_json::json!({
        "repository": args.repository,
        "clone_url": args.clone_url,
        "commit": args.commit,
        "branch": args.branch,
        "default_branch": args.default_branch,
    }));
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the orchestrator at {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the orchestrator answered {status}: {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
    }
    let run_id = body["run_id"].as_str().unwrap_or_default();
    if body["duplicate"] == true {
        println!("run {run_id} (already started)");
    } else {
        println!(
            "run {run_id} started; follow it at {}/api/runs/{run_id}",
            args.server.trim_end_matches('/')
        );
    }
    Ok(ExitCode::SUCCESS)
}
