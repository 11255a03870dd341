//! `bosun run [DIR]`: the repository's pipeline on the embedded default (in-memory bus,
//! SQLite under `.bosun/`, built-in plugins, Docker when it answers), with progress per
//! stage, a stage's live output with `--follow` (`run_follow.rs`) and a summary table.

use crate::local::{self, LocalArgs, Repository};
use crate::run_follow::Follow;
use crate::run_rerun;
use crate::snapshot;
use anyhow::{Context, bail};
use bosun::embedded::Embedded;
use bosun_orchestrator::model::{RunRecord, RunStatus, RunTrigger, StageState};
use bosun_orchestrator::scheduler::Accepted;
use bosun_orchestrator::settings::{ServerSettings, TenantSettings};
use bosun_orchestrator::store::{AttemptRow, Store};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The tenant a local run belongs to.
const LOCAL_TENANT: &str = "local";

/// Run a repository's pipeline locally on the embedded default.
///
/// The run is recorded in DIR/.bosun/bosun.db; `bosun up DIR` serves it on the dashboard
/// and API afterwards.
///
/// Example: bosun run examples/python-app
///
/// Example (tools as plain processes, JSON out): bosun run . --containers process --json
#[derive(Args)]
pub struct RunArgs {
    /// The repository (its working tree as it is, uncommitted changes included).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Print the finished run as JSON instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    local: LocalArgs,
    /// Branch name the pipeline sees.
    #[arg(long, default_value = "main")]
    branch: String,
    /// A stage whose tools may use the network when its config asks for it
    /// (`network: true`); repeatable or comma-separated. Without `--config`, every stage
    /// that asks is granted anyway (you are the operator of a local run); with it, this
    /// adds to what the settings grant.
    #[arg(long = "network", value_name = "STAGE", value_delimiter = ',')]
    network: Vec<String>,
    /// Server settings (YAML, as for `bosun up`): the run gets the grants of the tenant
    /// `local` in them, or of their only tenant.
    #[arg(long, value_name = "SETTINGS.yml")]
    config: Option<PathBuf>,
    /// Re-run the last run's failed stages (`--rerun-failed=STAGE`: that stage) and
    /// what needs them, reusing the stages that passed: at the last run's snapshot,
    /// with its config and plugin digests pinned. Edits made since are not seen; run
    /// without it to test them.
    #[arg(
        long,
        value_name = "STAGE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    rerun_failed: Option<String>,
    /// Print this stage's output while it runs (its tools' output and its plugin's log
    /// lines, masked and capped as in its log), besides the progress lines; repeatable
    /// or comma-separated. A matrix stage's name follows all its instances.
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    follow: Vec<String>,
}

/// The settings a local run uses and what it says about them: the operator's file,
/// or, without one, a tenant that grants network to every stage that asks for it.
fn local_settings(
    args: &RunArgs,
    config_text: Option<&str>,
) -> anyhow::Result<(ServerSettings, String, Vec<String>)> {
    let mut said = Vec::new();
    let mut settings = match &args.config {
        Some(path) => local::load_settings(path)?,
        None => ServerSettings::default(),
    };
    settings.listen = "127.0.0.1:0".into();
    let tenant_name = match &args.config {
        None => LOCAL_TENANT.to_string(),
        Some(path) => {
            let owners: Vec<&str> = settings.tenants.iter().map(|t| t.owner.as_str()).collect();
            match owners.as_slice() {
                _ if owners.contains(&LOCAL_TENANT) => LOCAL_TENANT.to_string(),
                [only] => only.to_string(),
                _ => bail!(
                    "{}: bosun run takes the grants of the tenant `{LOCAL_TENANT}`, or of the only tenant; these settings have {}",
                    path.display(),
                    if owners.is_empty() {
                        "none".to_string()
                    } else {
                        owners.join(", ")
                    }
                ),
            }
        }
    };
    if args.config.is_none() {
        // Without settings, the person at the keyboard is the operator: what the
        // repository asks for is granted, and said.
        let asking: Vec<String> = config_text
            .and_then(|text| bosun_config::parse(".bosun.yml", text).ok())
            .map(|config| {
                config
                    .stages
                    .iter()
                    .filter(|s| s.network)
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !asking.is_empty() {
            said.push(format!(
                "network granted to stage(s) {} as their config asks (no --config: you are the operator of this run)",
                asking.join(", ")
            ));
        }
        settings.tenants = vec![TenantSettings {
            owner: LOCAL_TENANT.into(),
            network_stages: asking,
            ..TenantSettings::default()
        }];
    }
    let Some(tenant) = settings.tenants.iter_mut().find(|t| t.owner == tenant_name) else {
        bail!("no tenant {tenant_name} in the settings");
    };
    for stage in &args.network {
        if !tenant.network_stages.contains(stage) {
            tenant.network_stages.push(stage.clone());
        }
    }
    Ok((settings, tenant_name, said))
}

fn state_word(state: StageState) -> &'static str {
    match state {
        StageState::Pending => "waiting",
        StageState::AwaitingApproval => "approval?",
        StageState::Gating => "policy check",
        StageState::Running => "running",
        StageState::RetryWait => "retry soon",
        StageState::Success => "passed",
        StageState::Failure => "FAILED",
        StageState::Errored => "ERROR",
        StageState::Skipped => "skipped",
        StageState::Cancelled => "cancelled",
    }
}

fn key_numbers(attempts: &[AttemptRow], stage: &str) -> String {
    let Some(last) = attempts
        .iter()
        .filter(|a| a.stage == stage)
        .max_by_key(|a| a.attempt)
    else {
        return String::new();
    };
    let Some(report) = &last.report else {
        return last.failure_message.clone().unwrap_or_default();
    };
    let mut parts = Vec::new();
    if let Some(t) = report.tests {
        parts.push(format!("tests {}/{} passed", t.passed, t.total));
    }
    if !report.findings.is_empty() {
        parts.push(format!("{} findings", report.findings.len()));
    }
    if let Some(c) = report.coverage {
        parts.push(format!("coverage {:.1}%", c.percent()));
    }
    if parts.is_empty() {
        report.summary.clone()
    } else {
        parts.join(", ")
    }
}

fn table(run: &RunRecord, attempts: &[AttemptRow]) -> String {
    let mut out = format!(
        "{:<12} {:<12} {:>9} {:>8}  {}\n",
        "STAGE", "OUTCOME", "TIME", "ATTEMPTS", "DETAILS"
    );
    for stage in &run.stages {
        let time = match (stage.started_ms, stage.finished_ms) {
            (Some(a), Some(b)) => format!("{:.1}s", b.saturating_sub(a) as f64 / 1000.0),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<12} {:<12} {:>9} {:>8}  {}\n",
            stage.name,
            state_word(stage.state),
            time,
            stage.attempt,
            match &stage.reused_from {
                Some(from) => format!(
                    "reused from run {from}: {}",
                    key_numbers(attempts, &stage.name)
                ),
                None => key_numbers(attempts, &stage.name),
            }
        ));
    }
    out
}

/// The agent pools the repository's stages name (`agent:`) beyond those the embedded
/// agent serves anyway: served too, or their stages would wait for an agent that never
/// comes.
fn agent_pools(config_text: Option<&str>) -> Vec<String> {
    let Some(config) = config_text.and_then(|text| bosun_config::parse(".bosun.yml", text).ok())
    else {
        return Vec::new();
    };
    let mut pools: Vec<String> = config
        .stages
        .iter()
        .map(|s| s.agent.clone())
        .filter(|pool| !bosun::embedded::DEFAULT_STAGES.contains(&pool.as_str()))
        .collect();
    pools.sort();
    pools.dedup();
    pools
}

/// Why each failed stage failed, under the table: what people read first.
fn reasons(run: &RunRecord, attempts: &[AttemptRow]) -> String {
    let config = run
        .config_source
        .as_deref()
        .and_then(|text| bosun_config::parse(".bosun.yml", text).ok());
    let mut out = String::new();
    for stage in &run.stages {
        let spec = config.as_ref().and_then(|c| c.stage(&stage.name));
        let why = bosun_orchestrator::scheduler::summary::why::stage_reasons(stage, spec, attempts);
        if why.is_empty() {
            continue;
        }
        out.push_str(&format!("why {} failed:\n", stage.name));
        for line in why {
            out.push_str(&format!("  {line}\n"));
        }
        out.push('\n');
    }
    out
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let repo = Repository::open(&args.dir, "bosun run")?;
    args.local.check_plugin_dirs()?;
    let dir = repo.dir.clone();
    if args.rerun_failed.is_none() && !dir.join(".bosun.yml").exists() {
        bail!(
            "{} has no .bosun.yml: write one (see `bosun validate --help` for the format) or give the repository folder that holds it",
            dir.display()
        );
    }
    let _lock = repo.lock("bosun run")?;
    let store_path = repo.store();
    // A re-run repeats the last run: its snapshot, config and plugins, not the folder now.
    let last = match &args.rerun_failed {
        Some(_) => Some(run_rerun::last_run(&store_path)?),
        None => None,
    };
    // The snapshot lives outside the repository, so tools that scan the repository never
    // see a second copy of its sources; one place per repository keeps mirrors reusable.
    let snapshot_repo = snapshot::place(&dir)?;
    let sha = match &last {
        Some(last) => last.trigger.commit.clone(),
        None => snapshot::take(&dir, &snapshot_repo)?,
    };
    let tools = local::tools(
        args.local.containers,
        &args.local.registry,
        &repo.agent_id(),
        &repo.step_cache(),
        "bosun run",
    )
    .await?;
    let tools_word = tools.runner.describe();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "repo".into());
    let config_text = match &last {
        Some(last) => last.config_source.clone(),
        None => std::fs::read_to_string(dir.join(".bosun.yml")).ok(),
    };
    let (settings, tenant, said) = local_settings(&args, config_text.as_deref())?;
    // Said on stderr in JSON mode too: a grant is never silent.
    for line in &said {
        eprintln!("bosun run: {line}");
    }
    let mut options = repo.embedded_options(settings, args.local.plugins.clone(), &tools);
    options.extra_stages = agent_pools(config_text.as_deref());
    let system = Embedded::start(options).await?;
    let (run_id, what) = match &last {
        Some(last) => {
            let stage = args.rerun_failed.clone().filter(|s| !s.is_empty());
            match run_rerun::start(&system, last, stage).await {
                Ok(run_rerun::Started::Run(started)) => {
                    let what = run_rerun::describe(last, &started);
                    (started.run_id, what)
                }
                Ok(run_rerun::Started::NothingFailed) => {
                    eprintln!(
                        "bosun run: every stage of the last run ({}) passed: nothing to re-run",
                        last.id
                    );
                    system.shutdown().await;
                    tools.sweep().await;
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => {
                    system.shutdown().await;
                    tools.sweep().await;
                    return Err(e);
                }
            }
        }
        None => {
            let trigger = RunTrigger {
                repository: format!("{tenant}/{name}"),
                tenant,
                clone_url: format!("file://{}", snapshot_repo.display()),
                default_branch: "main".into(),
                commit: sha.clone(),
                branch: args.branch.clone(),
                event: "manual".into(),
                changed_paths: None,
                pull_request: None,
                sender: std::env::var("USER").unwrap_or_else(|_| "local".into()),
                message: None,
                fork: false,
            };
            let run_id = match system
                .orchestrator
                .trigger(trigger, None)
                .await
                .map_err(anyhow::Error::msg)?
            {
                Accepted::Queued { run_id } | Accepted::AwaitingApproval { run_id } => run_id,
                Accepted::Duplicate { run_id } => run_id.unwrap_or_default(),
            };
            (run_id, format!("tools: {tools_word}"))
        }
    };
    if !args.json {
        let what = if last.is_some() {
            format!("{what}; tools: {tools_word}")
        } else {
            what
        };
        eprintln!(
            "bosun run {name}@{} (run {run_id}; {what}; dashboard API {}/api/runs/{run_id})",
            sha.get(..8).unwrap_or(&sha),
            system.base_url
        );
    }
    let store = Store::open(&store_path)?;
    let started = Instant::now();
    let mut shown: HashMap<String, (StageState, u32)> = HashMap::new();
    let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut tick = 0usize;
    let mut follow = Follow::new(args.follow.clone());
    let run = loop {
        let run = store
            .run(&run_id)?
            .context("the run disappeared from the store")?;
        follow.print_new(&store, &run)?;
        if !args.json {
            for stage in &run.stages {
                let now = (stage.state, stage.attempt);
                if shown.get(&stage.name) != Some(&now)
                    && let Some(from) = &stage.reused_from
                {
                    eprintln!(
                        "  {:<10} {:<12} reused from run {from}",
                        stage.name,
                        state_word(stage.state)
                    );
                    shown.insert(stage.name.clone(), now);
                } else if shown.get(&stage.name) != Some(&now) && stage.state != StageState::Pending
                {
                    eprintln!(
                        "  {:<10} {:<12} attempt {}  {:>6.1}s",
                        stage.name,
                        state_word(stage.state),
                        stage.attempt,
                        started.elapsed().as_secs_f64()
                    );
                    if stage.state == StageState::AwaitingApproval {
                        // Nobody else can decide a local run: the dashboard's buttons can.
                        eprintln!(
                            "  {:<10} waits for an approval: approve or reject it at {}/runs/{run_id}",
                            stage.name, system.base_url
                        );
                    }
                    shown.insert(stage.name.clone(), now);
                }
            }
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprint!(
                    "\r{} {:.1}s\r",
                    spinner[tick % spinner.len()],
                    started.elapsed().as_secs_f64()
                );
            }
        }
        tick += 1;
        if run.status.is_final() {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let attempts = store.attempts(&run_id)?;
    if args.json {
        let events = store.events(&run_id)?;
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "run": run, "attempts": attempts, "events": events })
            )?
        );
    } else {
        println!("\n{}", table(&run, &attempts));
        print!("{}", reasons(&run, &attempts));
        let verdict = match run.status {
            RunStatus::Success => "passed".to_string(),
            other => format!(
                "{}: {}",
                other.as_str(),
                run.error.clone().unwrap_or_default()
            ),
        };
        println!(
            "pipeline {verdict} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        // This process's server stops with it; the run stays in the store.
        eprintln!(
            "browse this run and earlier ones: bosun up {}",
            args.dir.display()
        );
    }
    system.shutdown().await;
    tools.sweep().await;
    Ok(match run.status {
        RunStatus::Success => ExitCode::SUCCESS,
        RunStatus::ConfigError => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}
