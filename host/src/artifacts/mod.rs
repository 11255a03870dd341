//! Artifacts on the agent: the files a command step keeps and the files of the stages
//! it needs. Before the step, the agent downloads the needed stages' files from the
//! orchestrator into the task's folder, checking each digest (`transfer.rs`); the step
//! sees them read-only at `/artifacts/<stage>/`. After the commands, the runner copies
//! the files matching the step's `artifacts` patterns out of its private checkout and
//! `/out` (`keep.rs`: regular files only, never through a link, under the run's cap);
//! the agent uploads them before it publishes the result, so a stage that needs them
//! never starts before they are stored.

pub mod keep;
pub mod transfer;

pub use keep::{Kept, KeptFile};
pub use transfer::{ArtifactClient, TransferError};

use std::path::PathBuf;
use std::sync::Mutex;

/// Where the step's mount folder is mounted.
pub const MOUNT: &str = "/artifacts";

/// What a command step of one task does with artifacts; the runner fills in what it
/// kept.
#[derive(Debug)]
pub struct StepArtifacts {
    /// Host folder with one folder per needed stage, mounted read-only at [`MOUNT`];
    /// none when the step reads nothing.
    pub inputs: Option<PathBuf>,
    /// The step's `artifacts` patterns.
    pub keep: Vec<String>,
    /// Host folder the kept files are copied into (the agent's, never mounted).
    pub kept: PathBuf,
    /// Most bytes kept (the run's cap).
    pub max_bytes: u64,
    /// Secret values: a file whose name holds one is not kept; text files are masked.
    pub secrets: Vec<String>,
    outcome: Mutex<Option<Kept>>,
}

impl StepArtifacts {
    /// What a step reads from `inputs` and keeps into `kept`.
    pub fn new(
        inputs: Option<PathBuf>,
        keep: Vec<String>,
        kept: PathBuf,
        max_bytes: u64,
        secrets: Vec<String>,
    ) -> StepArtifacts {
        StepArtifacts {
            inputs,
            keep,
            kept,
            max_bytes,
            secrets,
            outcome: Mutex::new(None),
        }
    }

    /// Record what the step kept (the runner, after the commands).
    pub fn record(&self, kept: Kept) {
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(kept);
        }
    }

    /// What the step kept; `None` when no step ran.
    pub fn take(&self) -> Option<Kept> {
        self.outcome.lock().ok().and_then(|mut slot| slot.take())
    }
}
