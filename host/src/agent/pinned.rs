//! Pinned plugins: a re-run's task names the digest its original attempt's plugin had,
//! and an agent runs it only with exactly that file. A different build under the same
//! name (an upgrade, a rebuilt drop-in) is refused before anything is fetched, with a
//! failure that names both digests, so a re-run never passes on other code than the
//! run it repeats.

use bosun_bus::{PluginId, StageFailure, StageFailureKind};

/// `Ok` when `loaded` is the plugin the task pins (or the task pins none); otherwise
/// the failure the task's result carries.
pub fn check_pinned(
    loaded: &PluginId,
    pinned_digest: Option<&str>,
    agent_id: &str,
) -> Result<(), StageFailure> {
    let Some(pinned) = pinned_digest else {
        return Ok(());
    };
    if pinned == loaded.digest {
        return Ok(());
    }
    // Not retried blindly by kind alone: another agent of the pool may hold the pinned
    // file, so the kind is the one for "the plugin asked for is not here".
    Err(StageFailure {
        kind: StageFailureKind::PluginUnavailable,
        message: format!(
            "agent {agent_id} refuses the task: it pins plugin {} at digest {pinned}, but this agent has {}@{} loaded with digest {} (a re-run runs exactly the plugin of the run it repeats)",
            loaded.name, loaded.name, loaded.version, loaded.digest
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Agent, AgentSettings};
    use crate::{ArtifactCache, EngineSettings, HostEngine, PluginRegistry, PluginRuntime};
    use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION, TaskMessage};
    use bosun_bus::{Bus, DeadLetterRule, MemoryBus, Task, topics};
    use std::borrow::Cow;
    use std::sync::Arc;
    use std::time::Duration;

    fn plugin(digest: &str) -> PluginId {
        PluginId {
            name: "test".into(),
            version: "0.1.0".into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn a_task_pinning_the_loaded_digest_or_none_runs() {
        let loaded = plugin("sha256:aaaa");
        assert_eq!(check_pinned(&loaded, None, "agent-1"), Ok(()));
        assert_eq!(
            check_pinned(&loaded, Some("sha256:aaaa"), "agent-1"),
            Ok(())
        );
    }

    #[test]
    fn a_task_pinning_another_digest_is_refused_naming_both() {
        let loaded = plugin("sha256:bbbb");
        let refused = check_pinned(&loaded, Some("sha256:aaaa"), "agent-1").unwrap_err();
        assert_eq!(refused.kind, StageFailureKind::PluginUnavailable);
        for part in [
            "agent-1",
            "plugin test",
            "sha256:aaaa",
            "test@0.1.0",
            "sha256:bbbb",
        ] {
            assert!(
                refused.message.contains(part),
                "{part}: {}",
                refused.message
            );
        }
    }

    /// The agent itself, over the in-memory bus with the built-ins: a task pinning a
    /// digest its `lint` plugin does not have comes back failed, naming both digests,
    /// before any workspace is fetched (the clone URL leads nowhere).
    #[tokio::test]
    async fn the_agent_refuses_a_task_whose_pinned_digest_differs_from_its_plugin() {
        let engine = HostEngine::new(EngineSettings {
            max_concurrent_instances: 16,
            ..EngineSettings::default()
        })
        .unwrap();
        let runtime = Arc::new(PluginRuntime::new(engine, ArtifactCache::new(None)).unwrap());
        let builtins = bosun_builtins::BUILTINS
            .iter()
            .filter(|b| b.file_name.contains("lint"))
            .map(|b| (b.file_name.to_string(), Cow::Borrowed(b.bytes)))
            .collect();
        let registry = PluginRegistry::open(runtime, vec![], builtins).await;
        let loaded = registry
            .get("lint")
            .expect("the built-in lint plugin loads");
        let work = tempfile::tempdir().unwrap();
        let bus = MemoryBus::new();
        let shared: Arc<dyn Bus> = Arc::new(bus.clone());
        let agent = Agent::new(
            AgentSettings {
                agent_id: "agent-pinned".into(),
                stages: vec!["lint".into()],
                concurrency: 1,
                shutdown_grace: Duration::from_secs(1),
                dead_letter: DeadLetterRule::new(2),
                secrets: vec![],
                orchestrator_url: None,
            },
            Arc::clone(&shared),
            registry,
            crate::agent::workspace::WorkspaceCache::new(work.path().to_path_buf()),
        );
        let mut results = bus
            .subscribe("test-results", &[topics::AGENT_RESULTS.to_string()])
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn({
            let agent = Arc::clone(&agent);
            async move { agent.run(stopped).await }
        });
        let pinned = format!("sha256:{}", "0".repeat(64));
        let task = TaskMessage {
            version: MESSAGE_VERSION,
            task: Task {
                run_id: "run-7".into(),
                stage: "lint".into(),
                attempt: 1,
                tenant: "acme".into(),
                repository: "acme/shop".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: "main".into(),
                event: "push".into(),
                commit_message: String::new(),
                config: vec![],
            },
            plugin: Some("lint".into()),
            clone_url: "https://git.invalid/acme/shop.git".into(),
            deadline_unix_ms: 0,
            network_allowed: false,
            secrets_granted: vec![],
            secrets_withheld: Vec::new(),
            push_repository: None,
            image_repository: None,
            plugin_digest: Some(pinned.clone()),
            artifacts: None,
        };
        shared
            .publish(
                &topics::stage_topic("lint"),
                "run-7",
                messages::encode(&task),
            )
            .await
            .unwrap();
        let result = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let delivery = results.next().await.unwrap();
                results.ack(&delivery).await.unwrap();
                if let Ok(AgentReply::Stage(reply)) = delivery.decode::<AgentReply>() {
                    return reply.result;
                }
            }
        })
        .await
        .expect("a result within 30 s");
        let _ = stop.send(true);
        let _ = running.await;
        assert_eq!(result.task_id, "run-7/lint/1");
        assert!(result.report.is_none(), "nothing ran: {result:?}");
        let failure = result.failure.expect("a failure");
        assert_eq!(failure.kind, StageFailureKind::PluginUnavailable);
        assert!(failure.message.contains(&pinned), "{}", failure.message);
        assert!(
            failure.message.contains(&loaded.id.digest),
            "{}",
            failure.message
        );
    }
}
