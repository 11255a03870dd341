//! Dashboard renderers on data written to a real run store: escaping of hostile names,
//! the "why it failed" box, flaky tests, verdicts, digests, stats and the inventory.

use super::html::short_digest;
use super::run::RunView;
use super::*;
use crate::model::{RunRecord, RunStatus, RunTrigger, StageRecord, StageState};
use crate::store::RunFilter;
use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};
use bosun_bus::policy::{Decision, PolicyVerdict};
use bosun_bus::{
    Finding, LogLevel, LogLine, Outcome, PluginId, Severity, StageReport, StageResult, TestFailure,
};

const HOSTILE: &str = "zzz\";echo${IFS}\"hi\";#<script>alert(1)</script>";
const DIGEST: &str = "sha256:5f1d0e6c9b7a4e2f8d3c1b0a9e8f7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

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
        sender: "<b>dev</b>".into(),
        message: Some("fix <img src=x onerror=alert(2)>".into()),
        fork: false,
    }
}

fn stage(name: &str, state: StageState, attempt: u32, from: u64, to: u64) -> StageRecord {
    StageRecord {
        state,
        attempt,
        started_ms: Some(from),
        finished_ms: Some(to),
        summary: format!("{name} done"),
        ..StageRecord::pending(name)
    }
}

fn report(outcome: Outcome) -> StageReport {
    StageReport {
        outcome,
        summary: "report".into(),
        findings: vec![],
        tests: None,
        test_failures: vec![],
        coverage: None,
        artifacts: vec![],
        metrics: vec![],
        truncated: false,
    }
}

fn failure(name: &str) -> TestFailure {
    TestFailure {
        suite: "tests.test_cart".into(),
        name: name.into(),
        message: "assert 3 == 2 <diff>".into(),
        path: Some("tests/test_cart.py".into()),
        line: Some(30),
    }
}

fn vulnerability() -> Finding {
    Finding {
        rule: "B602".into(),
        severity: Severity::High,
        message: "subprocess call with shell=True <identified>".into(),
        path: Some("src/shop/receipts.py".into()),
        line: Some(7),
        column: None,
        tool: "bandit".into(),
        fixed_version: None,
    }
}

fn result(task: &str, report: StageReport) -> StageResult {
    StageResult {
        task_id: task.into(),
        plugin: Some(PluginId {
            name: "test".into(),
            version: "0.1.0".into(),
            digest: DIGEST.into(),
        }),
        report: Some(report),
        failure: None,
        logs: vec![LogLine {
            at_ms: 5,
            level: LogLevel::Warn,
            source: "stderr".into(),
            message: format!("branch {HOSTILE} checked out"),
        }],
        logs_dropped_bytes: 0,
        duration_ms: 1500,
    }
}

/// A halted seed run in a fresh store: test flaky, security denied by a policy.
fn seeded(branch: &str) -> (tempfile::TempDir, Store, RunRecord) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
    let t0 = 1_700_000_000_000;
    let run = RunRecord {
        id: "r-1".into(),
        trigger: trigger(branch),
        status: RunStatus::Halted,
        created_ms: t0,
        finished_ms: Some(t0 + 60_000),
        config_source: Some(
            "pipeline:\n  stages:\n    - name: test\n    - name: security\n      needs: [test]\n"
                .into(),
        ),
        config_origin: Some(".bosun.yml@0123456".into()),
        error: Some("halted by policy at security: no-critical-vulns: B602 (HIGH)".into()),
        failures: 1,
        stages: vec![
            stage("test", StageState::Success, 2, t0, t0 + 30_000),
            stage("security", StageState::Failure, 1, t0 + 30_000, t0 + 50_000),
        ],
        denials: vec!["no-critical-vulns: B602 (HIGH) in src/shop/receipts.py".into()],
        warnings: vec![],
        notified: true,
        paths_budget_spent: 0,
        rerun_of: None,
    };
    let mut first = report(Outcome::Failure);
    first.test_failures = vec![failure("test_total"), failure("test_discount")];
    let mut scan = report(Outcome::Success);
    scan.findings = vec![vulnerability()];
    let verdicts = serde_json::to_value(vec![PolicyVerdict {
        policy: "no-critical-vulns".into(),
        digest: Some(DIGEST.into()),
        decision: Decision::Deny(vec!["B602 (HIGH) in src/shop/receipts.py".into()]),
    }])
    .unwrap();
    store
        .write(|w| {
            w.save_run(&run)?;
            w.insert_attempt("r-1", "test", 1, t0, t0 + 100_000)?;
            w.settle_attempt(
                "r-1",
                "test",
                1,
                "agent-a",
                &result("r-1/test/1", first),
                t0 + 10_000,
            )?;
            w.insert_attempt("r-1", "test", 2, t0 + 11_000, t0 + 100_000)?;
            let passed = report(Outcome::Success);
            w.settle_attempt(
                "r-1",
                "test",
                2,
                "agent-a",
                &result("r-1/test/2", passed),
                t0 + 30_000,
            )?;
            w.insert_attempt("r-1", "security", 1, t0 + 30_000, t0 + 100_000)?;
            w.settle_attempt(
                "r-1",
                "security",
                1,
                "agent-b",
                &result("r-1/security/1", scan),
                t0 + 45_000,
            )?;
            w.gate_requested(
                "r-1/security/1/after-stage",
                "r-1",
                "security",
                "after-stage",
                t0 + 45_000,
            )?;
            w.gate_answered("r-1/security/1/after-stage", &verdicts, t0 + 50_000)?;
            w.notification("r-1", "slack", "sent", 1, "posted <ok>", t0 + 61_000)?;
            w.event(
                "r-1",
                t0,
                "run.created",
                None,
                None,
                &format!("push {branch}"),
                None,
            )?;
            w.event(
                "r-1",
                t0 + 50_000,
                "gate.denied",
                Some("security"),
                Some(1),
                "denied",
                None,
            )
        })
        .unwrap();
    (dir, store, run)
}

fn view(store: &Store) -> RunView {
    RunView {
        run: store.run("r-1").unwrap().unwrap(),
        attempts: store.attempts("r-1").unwrap(),
        gates: store.gates("r-1").unwrap(),
        notifications: store.notifications("r-1").unwrap(),
        events: store.events("r-1").unwrap(),
        artifacts: store.artifacts("r-1").unwrap(),
    }
}

fn assert_no_raw_markup(page: &str) {
    assert!(!page.contains("<script>alert"), "raw script in {page}");
    assert!(!page.contains("<img src=x"), "raw img in {page}");
    assert!(!page.contains("<b>dev"), "raw bold in {page}");
    assert!(!page.contains("\";echo"), "raw quote in {page}");
}

#[test]
fn hostile_branch_names_are_escaped_on_every_page() {
    let (_dir, store, _) = seeded(HOSTILE);
    let escaped = Esc(HOSTILE).to_string();
    let rows = store.list_runs(&RunFilter::default()).unwrap();
    let query = runs::RunsQuery {
        branch: Some(HOSTILE.into()),
        ..Default::default()
    };
    let list = runs::render(&rows, &query, 0);
    assert!(list.contains(&escaped), "{list}");
    assert_no_raw_markup(&list);

    let page = run::render(&view(&store), 0);
    assert!(page.contains(&escaped), "{page}");
    assert!(
        page.contains("fix &lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    assert_no_raw_markup(&page);

    let attempt = store.attempts("r-1").unwrap().remove(0);
    let lines = store.attempt_logs("r-1", "test", 1).unwrap().unwrap();
    let logs = logs::render("r-1", &attempt, &lines);
    assert!(logs.contains(&escaped), "{logs}");
    assert_no_raw_markup(&logs);
}

#[test]
fn run_page_puts_the_denial_and_blocking_finding_first_and_marks_flaky_tests() {
    let (_dir, store, _) = seeded("main");
    let page = run::render(&view(&store), 0);
    let why = page.find("id=\"why\"").unwrap();
    let timeline = page.find("id=\"timeline\"").unwrap();
    assert!(why < timeline, "the why box comes before the detail");
    let why_box = &page[why..timeline];
    assert!(why_box.contains("no-critical-vulns: B602 (HIGH) in src/shop/receipts.py"));
    assert!(why_box.contains("B602") && why_box.contains("b-high\">HIGH</span>"));
    let flaky = &page[page.find("id=\"flaky\"").unwrap()..timeline];
    assert!(flaky.contains("tests.test_cart::test_total"), "{flaky}");
    assert!(flaky.contains("tests.test_cart::test_discount"), "{flaky}");
    // Attempts name their agent, plugin and digest, and link their logs.
    assert!(page.contains("agent-a") && page.contains("agent-b"));
    assert!(page.contains("test@0.1.0"));
    assert!(page.contains(&short_digest(DIGEST)));
    assert!(page.contains("/runs/r-1/stages/test/attempts/1/logs"));
    // The verdict with its reason, the notification, the event log, the waves.
    assert!(page.contains("b-deny\">deny</span>"));
    assert!(page.contains("B602 (HIGH) in src/shop/receipts.py"));
    assert!(page.contains("posted &lt;ok&gt;"));
    assert!(page.contains("gate.denied"));
    let test_row = page.find("#stage-test\"").unwrap();
    let security_row = page.find("#stage-security\"").unwrap();
    assert!(test_row < security_row);
    assert!(page.contains("Halted because"));
    // A final run's page does not open an event stream.
    assert!(!page.contains("data-live"));
}

#[test]
fn a_running_run_page_listens_for_changes() {
    let (_dir, mut store, mut run) = seeded("main");
    run.status = RunStatus::Running;
    run.finished_ms = None;
    run.error = None;
    store.write(|w| w.save_run(&run)).unwrap();
    let page = run::render(&view(&store), run.created_ms + 1000);
    assert!(page.contains("data-live=\"/runs/r-1/live\""), "{page}");
    assert!(page.contains("new EventSource"));
    assert!(!page.contains("id=\"why\""), "no verdict before the end");
}

#[test]
fn stats_count_runs_and_attempts_per_group_and_day() {
    let (_dir, store, run) = seeded("main");
    let since = run.created_ms - 1;
    let view = stats::StatsView {
        runs: store.runs_per_day(since).unwrap(),
        attempts: store.attempts_per_day(since).unwrap(),
        durations: store.stage_durations(since).unwrap(),
        first_day: run.created_ms / 86_400_000 - 13,
    };
    assert_eq!(view.runs.len(), 1);
    assert_eq!(view.runs[0].group, "acme/shop");
    assert_eq!(view.runs[0].outcome, "halted");
    let test_failed = view
        .attempts
        .iter()
        .find(|c| c.group == "test" && c.outcome == "failure")
        .unwrap();
    assert_eq!(test_failed.count, 1);
    let page = stats::render(&view);
    assert!(
        page.contains("<td>acme/shop</td><td>0</td><td>1</td>"),
        "{page}"
    );
    assert!(page.contains("<td>test</td><td>1</td><td>1</td>"), "{page}");
    assert!(page.contains("1.5 s"), "average durations: {page}");
}

#[test]
fn agents_upsert_one_row_and_plugins_page_joins_agents_and_attempts() {
    let (_dir, mut store, _) = seeded("main");
    let message = |at: u64, version: &str| InventoryMessage {
        version: 1,
        agent_id: "agent-a".into(),
        stages: vec!["test".into()],
        plugins: vec![InventoryPlugin {
            name: "test".into(),
            version: version.into(),
            kind: "stage".into(),
            digest: DIGEST.into(),
            source: "builtin".into(),
        }],
        sent_unix_ms: at,
    };
    store
        .write(|w| w.upsert_agent(&message(1, "0.1.0"), 1_000))
        .unwrap();
    store
        .write(|w| w.upsert_agent(&message(2, "0.2.0"), 9_000))
        .unwrap();
    let agents = store.agents().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].first_seen_ms, 1_000);
    assert_eq!(agents[0].last_seen_ms, 9_000);
    assert_eq!(agents[0].plugins[0].version, "0.2.0");
    let used = store.plugins_used(10).unwrap();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].attempts, 3);
    assert_eq!(used[0].agents, ["agent-a", "agent-b"]);
    let page = plugins::render(&plugins::PluginsView { agents, used }, 10_000);
    assert!(page.contains("1 s ago"), "{page}");
    assert!(page.contains(&short_digest(DIGEST)));
    assert!(
        page.contains("<td class=\"mono\">agent-a, agent-b</td>"),
        "{page}"
    );
}

#[test]
fn dead_letters_link_known_runs_and_escape_payloads() {
    let row = |key: &str| crate::store::DeadLetterRow {
        seq: 1,
        topic: "agent.lint".into(),
        key: key.into(),
        reason: "plugin trapped".into(),
        deliveries: 5,
        payload: "{\"branch\":\"<script>\"}".into(),
        at_ms: 0,
    };
    let page = dead_letters::render(&[(row("r-1"), true), (row("stray"), false)]);
    assert!(page.contains("href=\"/runs/r-1\""));
    assert!(!page.contains("href=\"/runs/stray\""));
    assert!(page.contains("&lt;script&gt;") && !page.contains("<script>\""));
    let empty = dead_letters::render(&[]);
    assert!(empty.contains("queue is empty"));
}
