//! Policy gates and notifications through the agent worker on the in-memory bus: real
//! fixture plugins in the real runtime; gates fail closed, notifier faults are replies.

use crate::common;
use bosun_test_support::assert_contains;

use bosun_bus::messages::{self, AgentReply, DeadLetter, MESSAGE_VERSION};
use bosun_bus::notify::{
    NotifyReplyMessage, NotifyTaskMessage, RunStatus, RunSummary, StageStatus, StageSummary,
};
use bosun_bus::policy::{
    Decision, PolicyInput, PolicyPhase, PolicyRef, PolicyReplyMessage, PolicyTaskMessage,
};
use bosun_bus::{Bus, DeadLetterRule, MemoryBus, Subscription, topics};
use bosun_host::agent::metrics::AgentMetrics;
use bosun_host::agent::workspace::WorkspaceCache;
use bosun_host::agent::{Agent, AgentSettings};
use bosun_host::runtime::sha256_hex;
use bosun_host::{ArtifactCache, EngineSettings, HostEngine, PluginRegistry, PluginRuntime};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const POLICY: &str = "production-only-from-default-branch";

/// The agent's plugins: the policy and notifier fixtures and a stage plugin (`hostile`).
const FIXTURES: [&str; 3] = [
    bosun_test_plugins::POLICY_BRANCH,
    bosun_test_plugins::NOTIFIER_TEXT,
    bosun_test_plugins::HOSTILE,
];

/// A runtime like `common::runtime`, with an artifact cache in which the fixtures were
/// compiled once for this test binary: compiling is what costs time in debug builds, and
/// every test starts its own agent.
fn cached_runtime() -> PluginRuntime {
    static WARM: OnceLock<PathBuf> = OnceLock::new();
    let engine = || {
        let settings = EngineSettings {
            limits: common::test_limits(),
            max_concurrent_instances: 16,
            pooling: true,
            ..EngineSettings::default()
        };
        HostEngine::new(settings).unwrap()
    };
    let dir = WARM.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent-gates-artifacts");
        let cache = ArtifactCache::new(Some(dir.clone()));
        let engine = engine();
        for path in FIXTURES {
            let bytes = std::fs::read(path).unwrap();
            cache
                .load(&engine.engine, &bytes, &sha256_hex(&bytes))
                .unwrap();
        }
        dir
    });
    PluginRuntime::new(engine(), ArtifactCache::new(Some(dir.clone()))).unwrap()
}

/// `sha256:` digest of a fixture file, as the registry reports it.
fn digest_of(path: &str) -> String {
    format!("sha256:{}", sha256_hex(&std::fs::read(path).unwrap()))
}

/// An agent serving `policy` and `report` with [`FIXTURES`] installed; its replies are
/// read from `results`.
struct Harness {
    bus: Arc<MemoryBus>,
    results: Box<dyn Subscription>,
    metrics: Arc<AgentMetrics>,
    _stop: tokio::sync::watch::Sender<bool>,
    _work: tempfile::TempDir,
}

async fn start() -> Harness {
    let bus = Arc::new(MemoryBus::new());
    let results = bus
        .subscribe("test", &[topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let plugins = FIXTURES
        .iter()
        .map(|path| (path.to_string(), Cow::Owned(std::fs::read(path).unwrap())))
        .collect();
    let registry = PluginRegistry::open(Arc::new(cached_runtime()), vec![], plugins).await;
    assert!(registry.refused().is_empty(), "{:?}", registry.refused());
    let settings = AgentSettings {
        agent_id: "agent-gates".into(),
        stages: vec!["policy".into(), "notify".into()],
        concurrency: 1,
        shutdown_grace: Duration::from_secs(5),
        dead_letter: DeadLetterRule::new(2),
        secrets: vec![],
        orchestrator_url: None,
    };
    let work = tempfile::tempdir().unwrap();
    let agent = Agent::new(
        settings,
        bus.clone(),
        registry,
        WorkspaceCache::new(work.path().to_path_buf()),
    );
    let metrics = agent.metrics.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { agent.run(stopped).await.unwrap() });
    Harness {
        bus,
        results,
        metrics,
        _stop: stop,
        _work: work,
    }
}

impl Harness {
    /// The next reply on `agent.results`, checked to be keyed by `run_id`.
    async fn reply(&mut self, run_id: &str) -> AgentReply {
        let delivery = common::next_task_reply(&mut self.results).await;
        assert_eq!(delivery.record.key, run_id, "replies are keyed by run id");
        messages::decode(&delivery.record.payload).unwrap()
    }

    async fn ask_policies(&mut self, request: PolicyTaskMessage) -> PolicyReplyMessage {
        let run_id = request.input.run_id.clone();
        self.bus
            .publish(topics::AGENT_POLICY, &run_id, messages::encode(&request))
            .await
            .unwrap();
        match self.reply(&run_id).await {
            AgentReply::Policy(reply) => {
                assert_eq!(reply.request_id, request.request_id);
                assert_eq!(reply.run_id, run_id);
                assert_eq!(reply.agent_id, "agent-gates");
                reply
            }
            other => panic!("expected a policy reply, got {other:?}"),
        }
    }

    async fn ask_notify(&mut self, request: NotifyTaskMessage) -> NotifyReplyMessage {
        let run_id = request.summary.run_id.clone();
        self.bus
            .publish(topics::AGENT_NOTIFY, &run_id, messages::encode(&request))
            .await
            .unwrap();
        match self.reply(&run_id).await {
            AgentReply::Notify(reply) => {
                assert_eq!(reply.request_id, request.request_id);
                assert_eq!(reply.run_id, run_id);
                reply
            }
            other => panic!("expected a report reply, got {other:?}"),
        }
    }
}

fn policy_ref(plugin: &str, config: &[(&str, &str)]) -> PolicyRef {
    PolicyRef {
        plugin: plugin.into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A before-stage request for a deploy to `environment` from `branch` (default `main`).
fn deploy_request(branch: &str, environment: &str, policies: Vec<PolicyRef>) -> PolicyTaskMessage {
    PolicyTaskMessage {
        version: MESSAGE_VERSION,
        request_id: "run-42/deploy/1/before-stage".into(),
        policies,
        input: PolicyInput {
            tenant: "acme".into(),
            run_id: "run-42".into(),
            repository: "acme/app".into(),
            stage: "deploy".into(),
            phase: PolicyPhase::BeforeStage,
            branch: branch.into(),
            default_branch: "main".into(),
            event: "push".into(),
            fork: false,
            environment: Some(environment.into()),
            report: None,
        },
        deadline_unix_ms: 0,
    }
}

fn summary() -> RunSummary {
    RunSummary {
        run_id: "run-42".into(),
        tenant: "acme".into(),
        repository: "acme/app".into(),
        branch: "main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        status: RunStatus::Failure,
        url: "http://127.0.0.1/runs/run-42".into(),
        duration_ms: 4321,
        stages: vec![
            StageSummary {
                name: "lint".into(),
                status: StageStatus::Success,
                duration_ms: 120,
                attempts: 1,
                summary: "clean".into(),
                reasons: vec![],
            },
            StageSummary {
                name: "test".into(),
                status: StageStatus::Failure,
                duration_ms: 900,
                attempts: 2,
                summary: "1 failed".into(),
                reasons: vec!["test failed: tests.test_cart::test_total: assert 3 == 4".into()],
            },
        ],
        failed_tests: vec![],
        flaky_tests: vec!["tests/test_cart.py::test_total".into()],
        blocking_findings: vec![],
        policy_denials: vec![],
    }
}

fn notify_request(notifier: &str) -> NotifyTaskMessage {
    NotifyTaskMessage {
        version: MESSAGE_VERSION,
        request_id: "run-42/notify/1".into(),
        notifier: notifier.into(),
        config: vec![("channel".into(), "#ci".into())],
        summary: summary(),
        deadline_unix_ms: 0,
    }
}

#[tokio::test]
async fn agent_policy_denies_a_production_deploy_from_a_feature_branch() {
    let mut agent = start().await;
    let reply = agent
        .ask_policies(deploy_request(
            "feature/x",
            "production",
            vec![policy_ref(POLICY, &[])],
        ))
        .await;
    assert_eq!(reply.verdicts.len(), 1);
    let verdict = &reply.verdicts[0];
    assert_eq!(verdict.policy, POLICY);
    assert_eq!(
        verdict.digest.as_deref(),
        Some(digest_of(bosun_test_plugins::POLICY_BRANCH).as_str())
    );
    assert_eq!(
        verdict.decision,
        Decision::Deny(vec![
            "production deploys come only from main; this run is on feature/x".into()
        ])
    );
}

#[tokio::test]
async fn agent_policy_allows_a_production_deploy_from_the_default_branch() {
    let mut agent = start().await;
    let reply = agent
        .ask_policies(deploy_request(
            "main",
            "production",
            vec![policy_ref(POLICY, &[])],
        ))
        .await;
    assert_eq!(reply.verdicts.len(), 1);
    assert_eq!(reply.verdicts[0].decision, Decision::Allow);
    assert_eq!(
        reply.verdicts[0].digest.as_deref(),
        Some(digest_of(bosun_test_plugins::POLICY_BRANCH).as_str())
    );
    assert!(reply.denials().is_empty());
}

#[tokio::test]
async fn agent_policy_evaluates_each_ref_with_its_own_settings() {
    let mut agent = start().await;
    // Staging is not protected by default; this tenant protects it, as a warning only.
    let tenant = [("protected", "staging,production"), ("mode", "warn")];
    let reply = agent
        .ask_policies(deploy_request(
            "feature/x",
            "staging",
            vec![policy_ref(POLICY, &[]), policy_ref(POLICY, &tenant)],
        ))
        .await;
    let decisions: Vec<_> = reply.verdicts.iter().map(|v| v.decision.clone()).collect();
    assert_eq!(
        decisions,
        [
            Decision::Allow,
            Decision::Warn(vec![
                "staging deploys come only from main; this run is on feature/x".into()
            ])
        ]
    );
}

#[tokio::test]
async fn agent_policy_fails_closed_on_a_missing_policy() {
    let mut agent = start().await;
    let reply = agent
        .ask_policies(deploy_request(
            "main",
            "production",
            vec![policy_ref("no-such-policy", &[]), policy_ref(POLICY, &[])],
        ))
        .await;
    assert_eq!(reply.verdicts.len(), 2, "one verdict per policy, in order");
    let missing = &reply.verdicts[0];
    assert_eq!(missing.policy, "no-such-policy");
    assert_eq!(missing.digest, None);
    let Decision::Deny(reasons) = &missing.decision else {
        panic!("a missing policy must deny, got {:?}", missing.decision);
    };
    assert!(
        reasons[0].contains("policy no-such-policy is not installed on agent agent-gates"),
        "{reasons:?}"
    );
    assert!(reasons[0].contains("fail closed"), "{reasons:?}");
    // The others are still evaluated.
    assert_eq!(reply.verdicts[1].policy, POLICY);
    assert_eq!(reply.verdicts[1].decision, Decision::Allow);
    assert_eq!(reply.denials().len(), 1);
    assert!(reply.denials()[0].starts_with("no-such-policy: "));
    let metrics = agent.metrics.render();
    for counted in [
        r#"bosun_agent_policy_verdicts_total{verdict="deny",decided_by="host"} 1"#,
        r#"bosun_agent_policy_verdicts_total{verdict="allow",decided_by="plugin"} 1"#,
    ] {
        assert!(metrics.contains(counted), "{counted} in {metrics}");
    }
}

#[tokio::test]
async fn agent_policy_fails_closed_on_a_stage_plugin() {
    let mut agent = start().await;
    let reply = agent
        .ask_policies(deploy_request(
            "main",
            "production",
            vec![policy_ref("hostile", &[])],
        ))
        .await;
    let verdict = &reply.verdicts[0];
    assert_eq!(verdict.policy, "hostile");
    let Decision::Deny(reasons) = &verdict.decision else {
        panic!(
            "a stage plugin as a policy must deny, got {:?}",
            verdict.decision
        );
    };
    assert!(
        reasons[0].contains("plugin hostile is a stage plugin, not a policy plugin"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn agent_policy_fails_closed_past_the_deadline() {
    let mut agent = start().await;
    let mut request = deploy_request("main", "production", vec![policy_ref(POLICY, &[])]);
    request.deadline_unix_ms = 1;
    let reply = agent.ask_policies(request).await;
    let Decision::Deny(reasons) = &reply.verdicts[0].decision else {
        panic!(
            "a late request must deny, got {:?}",
            reply.verdicts[0].decision
        );
    };
    assert!(
        reasons[0].contains(
            "reached its deadline before policy production-only-from-default-branch was evaluated"
        ),
        "{reasons:?}"
    );
    assert_eq!(reply.verdicts[0].digest, None, "the plugin never ran");
}

#[tokio::test]
async fn agent_dead_letters_an_undecodable_policy_request() {
    let mut agent = start().await;
    let mut dead = agent
        .bus
        .subscribe("test", &[topics::DEAD_LETTER.to_string()])
        .await
        .unwrap();
    agent
        .bus
        .publish(topics::AGENT_POLICY, "run-x", b"{not json".to_vec())
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(60), dead.next())
        .await
        .expect("a dead letter within a minute")
        .unwrap();
    let letter: DeadLetter = messages::decode(&delivery.record.payload).unwrap();
    assert_contains(&letter.reason, "undecodable task on agent.policy");
    assert_eq!(letter.topic, topics::AGENT_POLICY);
    // The agent goes on serving.
    let reply = agent
        .ask_policies(deploy_request(
            "main",
            "production",
            vec![policy_ref(POLICY, &[])],
        ))
        .await;
    assert_eq!(reply.verdicts[0].decision, Decision::Allow);
}

#[tokio::test]
async fn agent_report_formats_the_summary_with_the_notifier() {
    let mut agent = start().await;
    let reply = agent.ask_notify(notify_request("notifier-text")).await;
    assert_eq!(reply.error, None);
    let notifier = reply.notifier.expect("the notifier that ran");
    assert_eq!(notifier.name, "notifier-text");
    assert_eq!(
        notifier.digest,
        digest_of(bosun_test_plugins::NOTIFIER_TEXT)
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body.unwrap()).unwrap();
    let text = "*acme/app* on `main`: failure\n\
                • lint passed in 120 ms (1 attempts)\n\
                • test failed in 900 ms (2 attempts)\n\
                flaky: tests/test_cart.py::test_total";
    assert_eq!(
        body,
        serde_json::json!({
            "text": "acme/app failure",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        })
    );
    assert!(
        agent
            .metrics
            .render()
            .contains(r#"bosun_agent_notifications_total{result="formatted"} 1"#),
        "{}",
        agent.metrics.render()
    );
}

#[tokio::test]
async fn agent_report_names_a_missing_notifier_in_its_error() {
    let mut agent = start().await;
    let reply = agent.ask_notify(notify_request("slack-blocks")).await;
    assert_eq!(reply.body, None);
    assert_eq!(reply.notifier, None);
    let error = reply.error.expect("an error");
    assert_contains(
        &error,
        "agent agent-gates has no notifier plugin named slack-blocks",
    );
    assert!(
        agent
            .metrics
            .render()
            .contains(r#"bosun_agent_notifications_total{result="failed"} 1"#),
        "{}",
        agent.metrics.render()
    );
}

#[tokio::test]
async fn agent_report_returns_the_notifiers_own_error() {
    let mut agent = start().await;
    let mut request = notify_request("notifier-text");
    // The fixture refuses a summary without a run id.
    request.summary.run_id.clear();
    let reply = agent.ask_notify(request).await;
    assert_eq!(reply.body, None);
    assert_eq!(reply.notifier.unwrap().name, "notifier-text");
    let error = reply.error.expect("an error");
    assert_contains(
        &error,
        "plugin notifier-text: the run summary has no run id",
    );
    assert!(
        agent
            .metrics
            .render()
            .contains(r#"bosun_agent_notifications_total{result="failed"} 1"#),
        "{}",
        agent.metrics.render()
    );
}
