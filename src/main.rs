//! The `bosun` command line: plugin authoring tools today, the whole system as it grows.

mod agent_cmd;
mod orchestrator_cmd;
mod plugin_cmd;
mod report_view;
mod run_cmd;
mod trigger_cmd;
mod validate_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Bosun: CI/CD pipelines whose stages are sandboxed WebAssembly agents.
#[derive(Parser)]
#[command(name = "bosun", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=bosun=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BOSUN_LOG_FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check, run and list plugins.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    /// Run a stage agent: take tasks from the bus, run plugins, publish results.
    Agent(agent_cmd::AgentArgs),
    /// Run a repository's pipeline locally on the embedded default.
    Run(run_cmd::RunArgs),
    /// Run the orchestrator: webhook, scheduler, run store and API.
    Orchestrator(orchestrator_cmd::OrchestratorArgs),
    /// Start a run on a running orchestrator.
    Trigger(trigger_cmd::TriggerArgs),
    /// Check a pipeline config: its errors (exit 1) or the resolved plan (exit 0).
    Validate(validate_cmd::ValidateArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Plugin(cmd) => plugin_cmd::run(cmd).await,
            Command::Agent(args) => agent_cmd::run(args).await,
            Command::Run(args) => run_cmd::run(args).await,
            Command::Orchestrator(args) => orchestrator_cmd::run(args).await,
            Command::Trigger(args) => trigger_cmd::run(args).await,
            Command::Validate(args) => validate_cmd::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
