//! `bosun orchestrator`: the webhook, scheduler, run store and API over a bus.

use anyhow::Context;
use bosun_orchestrator::server::{AppState, GuardedListener, router};
use bosun_orchestrator::service::{Orchestrator, ServiceOptions};
use bosun_orchestrator::settings::{ServerSettings, StoreLocation};
use bosun_orchestrator::store::Store;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Run the orchestrator: webhook, scheduler, run store and API.
///
/// Example: bosun orchestrator --config bosun-server.yaml --bus kafka://127.0.0.1:9092
#[derive(Args)]
pub struct OrchestratorArgs {
    /// The server settings file (YAML: listen, bus, store, tenants, repositories).
    #[arg(long, env = "BOSUN_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Overrides the settings' bus: `memory://` or `kafka://HOST:PORT`.
    #[arg(long, env = "BOSUN_BUS")]
    bus: Option<String>,
    /// Overrides the settings' listen address.
    #[arg(long, env = "BOSUN_LISTEN")]
    listen: Option<String>,
    /// Overrides the settings' run store: a SQLite file or `postgres://user:password@host/db`.
    #[arg(long, env = "BOSUN_STORE")]
    store: Option<StoreLocation>,
}

/// Load settings, applying the command-line overrides.
pub fn settings(args: &OrchestratorArgs) -> anyhow::Result<ServerSettings> {
    let mut settings = match &args.config {
        Some(path) => crate::local::load_settings(path)?,
        None => ServerSettings::default(),
    };
    if let Some(bus) = &args.bus {
        settings.bus = bus.clone();
    }
    if let Some(listen) = &args.listen {
        settings.listen = listen.clone();
    }
    if let Some(store) = &args.store {
        settings.store = store.clone();
    }
    Ok(settings)
}

pub async fn run(args: OrchestratorArgs) -> anyhow::Result<ExitCode> {
    let settings = Arc::new(settings(&args)?);
    let bus = crate::agent_cmd::connect_with_retry(&settings.bus).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (orchestrator, worker) = Orchestrator::start(
        Arc::clone(&settings),
        Arc::clone(&bus),
        ServiceOptions::default(),
        stopped,
    )
    .await
    .context("the orchestrator could not start")?;
    let reads = Store::open(&settings.store)
        .with_context(|| format!("cannot open the run store {}", settings.store.display()))?;
    let app = router(AppState {
        orchestrator,
        reads: Arc::new(Mutex::new(reads)),
        extra_metrics: None,
    });
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let bound = listener.local_addr()?;
    println!(
        "bosun orchestrator on http://{bound} (webhook: /webhook/github, API: /api/runs) over {}; run store {}",
        bus.describe(),
        settings.store.display()
    );
    let listener = GuardedListener::new(listener, settings.read_timeout());
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        crate::agent_cmd::wait_for_signal().await;
        let _ = stop.send(true);
    });
    server.await.context("the HTTP server stopped")?;
    let _ = worker.await;
    Ok(ExitCode::SUCCESS)
}
