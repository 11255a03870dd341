//! `bosun validate FILE`: check a pipeline config and print its errors or resolved plan.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Validate a pipeline config.
///
/// Example: bosun validate .bosun.yml
#[derive(Args)]
pub struct ValidateArgs {
    /// The pipeline config file (`.bosun.yml`).
    file: PathBuf,
}

/// Print the errors (exit 1) or the resolved plan (exit 0).
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("validating {} is not built yet", args.file.display())
}
