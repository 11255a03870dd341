//! `artifacts:` in the server settings: where the files command steps keep are stored,
//! and how much one run may keep.

use serde::Deserialize;
use std::path::PathBuf;

fn default_max_run_mib() -> u64 {
    1024
}
fn default_max_files() -> u32 {
    1000
}

/// The operator's limits on kept files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSettings {
    /// The folder the files live in, by content digest (default: `WORK_DIR/artifacts`).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Most MiB all the stages of one run keep together; an upload past it is refused
    /// and fails its stage.
    #[serde(default = "default_max_run_mib")]
    pub max_run_mib: u64,
    /// Most files one attempt keeps.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

impl Default for ArtifactSettings {
    fn default() -> Self {
        ArtifactSettings {
            dir: None,
            max_run_mib: default_max_run_mib(),
            max_files: default_max_files(),
        }
    }
}

impl ArtifactSettings {
    /// The cap in bytes.
    pub fn max_run_bytes(&self) -> u64 {
        self.max_run_mib.saturating_mul(1 << 20)
    }
}
