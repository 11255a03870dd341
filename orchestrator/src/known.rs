//! What the agents of an installation can run, when the orchestrator knows it: the
//! embedded default runs one agent in the same process, so a stage no agent serves, or
//! a plugin none has loaded, is refused as a config error at once instead of waiting
//! out its timeout for an agent that never comes.

use crate::config::PipelineConfig;
use bosun_bus::PluginId;
use std::sync::Arc;

/// The agent pools served and the plugins loaded (asked on every check, so drop-in
/// plugins added since start-up count).
#[derive(Clone)]
pub struct KnownAgents {
    /// Agent pools (stage topics) the agents consume.
    pub stages: Vec<String>,
    /// The plugins loaded now: name, version and digest (a re-run checks its pins
    /// against them).
    pub plugins: Arc<dyn Fn() -> Vec<PluginId> + Send + Sync>,
}

impl std::fmt::Debug for KnownAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownAgents")
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

impl KnownAgents {
    /// Refuse a stage whose agent pool or plugin (or rollback plugin) nothing serves.
    pub fn check(&self, config: &PipelineConfig) -> Result<(), String> {
        let plugins: Vec<String> = (self.plugins)().into_iter().map(|p| p.name).collect();
        for spec in &config.stages {
            if !self.stages.iter().any(|s| s == &spec.agent) {
                return Err(format!(
                    "stage `{}` goes to agent pool `{}`, which no agent here serves (they serve: {})",
                    spec.name,
                    spec.agent,
                    self.stages.join(", ")
                ));
            }
            let rollback = spec.rollback.as_ref().map(|r| r.plugin.as_str());
            for plugin in std::iter::once(spec.plugin.as_str()).chain(rollback) {
                if !plugins.iter().any(|p| p == plugin) {
                    let mut loaded = plugins.clone();
                    loaded.sort();
                    return Err(format!(
                        "stage `{}` uses plugin `{plugin}`, which no agent here has loaded (loaded: {})",
                        spec.name,
                        loaded.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownAgents {
        KnownAgents {
            stages: vec!["lint".into(), "test".into()],
            plugins: Arc::new(|| {
                ["test", "lint"]
                    .map(|name| PluginId {
                        name: name.into(),
                        version: "1.0.0".into(),
                        digest: format!("sha256:{name}"),
                    })
                    .to_vec()
            }),
        }
    }

    #[test]
    fn a_misspelt_stage_is_refused_naming_what_is_there() {
        let config =
            crate::config::parse(".bosun.yml", "pipeline:\n  stages: [lint, tset]\n").unwrap();
        let err = known().check(&config).unwrap_err();
        assert!(
            err.contains("`tset`") && err.contains("lint, test"),
            "{err}"
        );
        let config = crate::config::parse(
            ".bosun.yml",
            "pipeline:\n  stages:\n    - {name: lint, plugin: lnit}\n",
        )
        .unwrap();
        let err = known().check(&config).unwrap_err();
        assert!(
            err.contains("plugin `lnit`") && err.contains("loaded: lint, test"),
            "{err}"
        );
        let config =
            crate::config::parse(".bosun.yml", "pipeline:\n  stages: [lint, test]\n").unwrap();
        assert_eq!(known().check(&config), Ok(()));
    }
}
