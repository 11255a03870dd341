//! `bosun up [DIR]`: the embedded system as a server (orchestrator, agent host and HTTP
//! side over the in-memory bus) on the run store `bosun run DIR` writes, until Ctrl-C or
//! SIGTERM.

use crate::local::{self, LocalArgs, Repository};
use anyhow::{Context, bail};
use bosun::embedded::Embedded;
use bosun_orchestrator::settings::ServerSettings;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// Serve the dashboard, webhook and API, with an agent in the same process.
///
/// Runs and their history live in DIR/.bosun/, the run store `bosun run DIR` writes, so
/// earlier local runs show up too. Manual runs: POST /api/runs (or `bosun trigger`).
/// Stops cleanly on Ctrl-C or SIGTERM.
///
/// Example: bosun up examples/python-app
///
/// Example: bosun up --listen 0.0.0.0:8080 --config bosun-server.yaml --plugins ./my-plugins
#[derive(Args)]
pub struct UpArgs {
    /// The repository folder whose state (DIR/.bosun/) holds the run store.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Address to listen on; port 0 picks a free one (the bound address is printed).
    /// Default: the settings' `listen`, else 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Server settings (YAML: tenants, webhook secrets, policies, api_token…); the run
    /// store and work folders default to DIR/.bosun/.
    #[arg(long, value_name = "SETTINGS.yml", env = "BOSUN_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    local: LocalArgs,
}

fn settings(args: &UpArgs) -> anyhow::Result<ServerSettings> {
    let mut settings = match &args.config {
        Some(path) => local::load_settings(path)?,
        None => ServerSettings::default(),
    };
    if let Some(listen) = &args.listen {
        settings.listen = listen.clone();
    }
    if settings.bus != ServerSettings::default().bus {
        eprintln!(
            "bosun up: the settings' bus {} is not used: everything runs in this process on the in-memory bus (use `bosun orchestrator` and `bosun agent` for a broker)",
            settings.bus
        );
    }
    Ok(settings)
}

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let repo = Repository::open(&args.dir, "bosun up")?;
    let mut lock = repo.lock("bosun up")?;
    args.local.check_plugin_dirs()?;
    let settings = settings(&args)?;
    let listen = settings.listen.clone();
    for warning in settings.warnings() {
        eprintln!("bosun up: WARNING: {warning}");
    }
    // Tried here, before the plugins are compiled, so a busy or mistyped address fails
    // at once and with a hint; the listener is closed again for the server to take.
    if let Err(e) = std::net::TcpListener::bind(listen.as_str()) {
        bail!(
            "cannot listen on {listen}: {e} (another `bosun up` on it? choose a free address with --listen, e.g. --listen 127.0.0.1:0)"
        );
    }
    let tools = local::tools(
        args.local.containers,
        &args.local.registry,
        &repo.agent_id(),
        &repo.step_cache(),
        "bosun up",
    )
    .await?;
    let tools_word = tools.runner.describe();
    let options = repo.embedded_options(settings, args.local.plugins.clone(), &tools);
    let store = options.settings.store.clone();
    // Handlers go in before the URLs are printed: whoever reads them may signal at once.
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
    let system = Embedded::start(options)
        .await
        .with_context(|| format!("bosun up could not start on {listen}"))?;
    // A long-lived server picks up plugins dropped into its folders without a restart.
    let _watch = system.registry.watch(Duration::from_secs(10));

    let base = &system.base_url;
    lock.describe(&format!("bosun up (pid {}) on {base}", std::process::id()))?;
    println!("dashboard: {base}/");
    println!("webhook: {base}/webhook/github");
    println!("api: {base}/api/runs");
    println!("metrics: {base}/metrics");
    eprintln!(
        "bosun up: runs of {} in {}; tools: {tools_word}; stop with Ctrl-C",
        repo.dir.display(),
        store.display()
    );

    let signal_name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "Ctrl-C",
    };
    eprintln!("bosun up: {signal_name}: finishing tasks in flight, then stopping");
    system.shutdown().await;
    tools.sweep().await;
    Ok(ExitCode::SUCCESS)
}
