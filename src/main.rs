//! The `bosun` command line: the embedded system (`run`, `up`), the distributed parts
//! (`orchestrator`, `agent`, `trigger`), and tools for pipeline and plugin authors.

mod agent_cmd;
mod local;
mod orchestrator_cmd;
mod plugin_cmd;
mod plugin_new;
mod report_view;
mod run_cmd;
mod run_follow;
mod run_rerun;
mod snapshot;
mod trigger_cmd;
mod up_cmd;
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

// The commands' help comes from their argument structs' doc comments (summary, then
// `Example:` lines), so a variant carries no doc comment of its own: it would replace them.
#[derive(Subcommand)]
enum Command {
    /// Check, run, list and scaffold plugins.
    ///
    /// Example: bosun plugin new my-check --kind stage
    ///
    /// Example: bosun plugin check my-check/target/wasm32-wasip2/release/my_check.wasm
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    Agent(agent_cmd::AgentArgs),
    Run(run_cmd::RunArgs),
    Up(up_cmd::UpArgs),
    Orchestrator(orchestrator_cmd::OrchestratorArgs),
    Trigger(trigger_cmd::TriggerArgs),
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
            Command::Up(args) => up_cmd::run(args).await,
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
