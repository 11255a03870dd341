//! Scheduler tests: real run store (SQLite in a temp folder), real pipeline configs,
//! agent replies built as agents build them. The harness and result builders are here;
//! the scenarios are in one module per area.

mod approvals;
mod artifacts;
mod concurrency;
mod email;
mod gates;
mod matrix;
mod ownership;
mod replies;
mod rerun;
mod runs;
mod stages;

use super::*;
use crate::model::LoadedConfig;
use crate::settings::{PolicySettings, Secret, TenantSettings};
use bosun_bus::messages::{self, AgentReply, ResultMessage, TaskMessage};
use bosun_bus::{
    Finding, Outcome, Severity, StageFailure, StageReport, StageResult, TestFailure, TestTotals,
};

const SEED: &str = "pipeline:
  stages: [lint, test, build, security, deploy]
  retry_on_failure: true
  notify_on_success: true
  deploy_environment: staging
";

struct Harness {
    scheduler: Scheduler,
    dir: tempfile::TempDir,
    now: u64,
    settings: Arc<ServerSettings>,
}

fn tenant(policies: Vec<PolicySettings>) -> TenantSettings {
    TenantSettings {
        owner: "acme".into(),
        slack_webhook: Secret {
            value: Some("http://127.0.0.1:9/slack".into()),
            env: None,
        },
        github_token: Secret {
            value: Some("token".into()),
            env: None,
        },
        policies,
        ..TenantSettings::default()
    }
}

fn trigger(branch: &str) -> RunTrigger {
    RunTrigger {
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        clone_url: "file:///srv/shop".into(),
        default_branch: "main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        branch: branch.into(),
        event: "push".into(),
        changed_paths: None,
        pull_request: None,
        sender: "dev".into(),
        message: None,
        fork: false,
    }
}

impl Harness {
    fn new(policies: Vec<PolicySettings>) -> Harness {
        Harness::with_tenant(tenant(policies))
    }

    fn with_tenant(tenant: TenantSettings) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let settings = Arc::new(ServerSettings {
            tenants: vec![tenant],
            ..ServerSettings::default()
        });
        let store = Store::open(&dir.path().join("runs.db")).unwrap();
        let scheduler = Scheduler::open(store, Arc::clone(&settings)).unwrap();
        Harness {
            scheduler,
            dir,
            now: 1_700_000_000_000,
            settings,
        }
    }

    fn restart(&mut self) {
        let store = Store::open(&self.dir.path().join("runs.db")).unwrap();
        self.scheduler = Scheduler::open(store, Arc::clone(&self.settings)).unwrap();
    }

    fn start(&mut self, branch: &str, config: &str) -> (String, Vec<Effect>) {
        let Accepted::Queued { run_id } = self
            .scheduler
            .accept(trigger(branch), None, self.now)
            .unwrap()
        else {
            panic!("not queued")
        };
        let effects = self.load(&run_id, config);
        (run_id, effects)
    }

    /// Hand queued run `run_id` its `.bosun.yml` (as read at the pushed commit).
    fn load(&mut self, run_id: &str, config: &str) -> Vec<Effect> {
        self.scheduler
            .config_loaded(
                run_id,
                Ok(LoadedConfig::new(config, ".bosun.yml@0123456")),
                self.now,
            )
            .unwrap()
    }

    fn reply(&mut self, task: &TaskMessage, result: StageResult) -> Vec<Effect> {
        self.now += 5;
        let reply = AgentReply::Stage(ResultMessage {
            version: 1,
            agent_id: "agent-1".into(),
            result: StageResult {
                task_id: task.task.id(),
                ..result
            },
        });
        self.scheduler.on_reply(reply, self.now).unwrap()
    }

    fn tick(&mut self, advance_ms: u64) -> Vec<Effect> {
        self.now += advance_ms;
        self.scheduler.tick(self.now).unwrap()
    }

    fn run(&self, id: &str) -> RunRecord {
        self.scheduler.store().run(id).unwrap().unwrap()
    }
}

fn tasks(effects: &[Effect]) -> Vec<(String, TaskMessage)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic.starts_with("agent.") => {
                messages::decode::<TaskMessage>(payload)
                    .ok()
                    .map(|m| (topic.clone(), m))
            }
            _ => None,
        })
        .collect()
}

fn only_task(effects: &[Effect], topic: &str) -> TaskMessage {
    let found = tasks(effects);
    assert_eq!(
        found.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        [topic],
        "effects: {effects:?}"
    );
    found.into_iter().next().unwrap().1
}

fn report(outcome: Outcome, summary: &str) -> StageReport {
    StageReport {
        outcome,
        summary: summary.into(),
        findings: vec![],
        tests: None,
        test_failures: vec![],
        coverage: None,
        artifacts: vec![],
        metrics: vec![],
        truncated: false,
    }
}

fn result(report: StageReport) -> StageResult {
    StageResult {
        task_id: String::new(),
        plugin: None,
        report: Some(report),
        failure: None,
        logs: vec![],
        logs_dropped_bytes: 0,
        duration_ms: 7,
    }
}

fn pass(summary: &str) -> StageResult {
    result(report(Outcome::Success, summary))
}

fn failing_tests(names: &[&str]) -> StageResult {
    let mut r = report(Outcome::Failure, "2 of 10 tests failed");
    r.tests = Some(TestTotals {
        total: 10,
        passed: 8,
        failed: names.len() as u32,
        errors: 0,
        skipped: 0,
        duration_ms: 40,
    });
    r.test_failures = names
        .iter()
        .map(|n| TestFailure {
            suite: "tests.test_cart".into(),
            name: n.to_string(),
            message: "assert 3 == 4".into(),
            path: None,
            line: None,
        })
        .collect();
    result(r)
}

fn high_vulnerability() -> StageResult {
    let mut r = report(Outcome::Failure, "1 HIGH vulnerability");
    r.findings = vec![Finding {
        rule: "CVE-2023-0286".into(),
        severity: Severity::High,
        message: "openssl: X.400 address type confusion".into(),
        path: Some("libssl1.1".into()),
        line: None,
        column: None,
        tool: "trivy".into(),
        fixed_version: Some("1.1.1t-r0".into()),
    }];
    result(r)
}

fn kinds(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, .. } => Some(topic.as_str()),
            _ => None,
        })
        .collect()
}
