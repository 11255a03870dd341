//! Re-run scenarios: passed stages reused, failed ones and their dependents run again
//! with the original's config, plugin digests and grants pinned; refusals.

use super::*;
use crate::known::KnownAgents;
use crate::model::StageState;
use crate::scheduler::rerun::AGENT_SILENT_AFTER_MS;
use crate::settings::SecretGrant;
use bosun_bus::PluginId;
use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};

/// lint → build → test → package, and docs beside them.
const CHAIN: &str = "pipeline:
  stages:
    - name: lint
    - name: build
      needs: [lint]
    - name: test
      needs: [build]
    - name: package
      needs: [test]
    - name: docs
      needs: []
";

fn digest(plugin: &str, build: u32) -> String {
    format!("sha256:{plugin}-build-{build}")
}

fn plugin(name: &str, build: u32) -> PluginId {
    PluginId {
        name: name.into(),
        version: "1.0.0".into(),
        digest: digest(name, build),
    }
}

/// `result` as the agent's plugin `name` (build 1) reports it.
fn by(name: &str, result: StageResult) -> StageResult {
    StageResult {
        plugin: Some(plugin(name, 1)),
        ..result
    }
}

fn request(run_id: &str, stage: Option<&str>) -> RerunRequest {
    RerunRequest {
        run_id: run_id.into(),
        stage: stage.map(str::to_string),
        by: "octo".into(),
    }
}

/// The original CHAIN run: lint, build and docs pass, test fails, package is blocked.
fn failed_chain(h: &mut Harness) -> String {
    let (run_id, effects) = h.start("main", CHAIN);
    let found = tasks(&effects);
    let lint = &found.iter().find(|(t, _)| t == "agent.lint").unwrap().1;
    let docs = &found.iter().find(|(t, _)| t == "agent.docs").unwrap().1;
    assert!(tasks(&h.reply(docs, by("docs", pass("docs built")))).is_empty());
    let build = only_task(&h.reply(lint, by("lint", pass("clean"))), "agent.build");
    let test = only_task(&h.reply(&build, by("build", pass("built"))), "agent.test");
    h.reply(&test, by("test", failing_tests(&["test_total"])));
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    assert!(run.stage("package").unwrap().blocked);
    run_id
}

fn rerun(h: &mut Harness, run_id: &str, stage: Option<&str>) -> (RerunStarted, Vec<Effect>) {
    h.now += 1_000;
    h.scheduler
        .rerun(&request(run_id, stage), h.now)
        .unwrap()
        .unwrap_or_else(|refused| panic!("refused: {refused}"))
}

fn refusal(h: &mut Harness, run_id: &str, stage: Option<&str>) -> RerunRefused {
    h.scheduler
        .rerun(&request(run_id, stage), h.now)
        .unwrap()
        .map(|(started, _)| started)
        .expect_err("the re-run should be refused")
}

/// Agents announce `plugins` on `agent.results`, as they do every 30 s.
fn announce(h: &mut Harness, plugins: &[PluginId]) {
    let plugins = plugins
        .iter()
        .map(|p| InventoryPlugin {
            name: p.name.clone(),
            version: p.version.clone(),
            kind: "stage".into(),
            digest: p.digest.clone(),
            source: "builtin".into(),
        })
        .collect();
    let inventory = AgentReply::Inventory(InventoryMessage {
        version: 1,
        agent_id: "agent-1".into(),
        stages: vec!["lint".into(), "test".into()],
        plugins,
        sent_unix_ms: h.now,
    });
    h.scheduler.on_reply(inventory, h.now).unwrap();
}

fn chain_plugins(test_build: u32) -> Vec<PluginId> {
    let mut all: Vec<PluginId> = ["lint", "build", "package", "docs"]
        .iter()
        .map(|n| plugin(n, 1))
        .collect();
    all.push(plugin("test", test_build));
    all
}

#[test]
fn a_rerun_reuses_what_passed_and_runs_the_failed_stage_and_what_needs_it() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    announce(&mut h, &chain_plugins(1));
    let (started, effects) = rerun(&mut h, &original, None);
    assert_eq!(started.rerun, ["test", "package"]);
    assert_eq!(started.reused, ["lint", "build", "docs"]);
    // Only the failed stage goes out: what it needs passed already and is reused.
    let test = only_task(&effects, "agent.test");
    assert_eq!(test.task.run_id, started.run_id);
    assert_eq!(test.task.attempt, 1);

    let run = h.run(&started.run_id);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(
        run.trigger,
        h.run(&original).trigger,
        "the trigger is the original's"
    );
    for name in ["lint", "build", "docs"] {
        let stage = run.stage(name).unwrap();
        assert_eq!(stage.state, StageState::Success, "{name}");
        assert_eq!(stage.reused_from.as_deref(), Some(original.as_str()));
    }
    assert_eq!(run.stage("package").unwrap().state, StageState::Pending);
    // Their attempts (reports, digests) are copied, marked with the run that ran them.
    let attempts = h.scheduler.store().attempts(&started.run_id).unwrap();
    let lint = attempts.iter().find(|a| a.stage == "lint").unwrap();
    assert_eq!(lint.reused_from.as_deref(), Some(original.as_str()));
    assert_eq!(
        lint.plugin_digest.as_deref(),
        Some(digest("lint", 1).as_str())
    );
    assert_eq!(lint.report.as_ref().unwrap().summary, "clean");

    let package = only_task(
        &h.reply(&test, by("test", pass("10 passed"))),
        "agent.package",
    );
    h.reply(&package, by("package", pass("packaged")));
    let run = h.run(&started.run_id);
    assert_eq!(run.status, RunStatus::Success, "{:?}", run.error);
    let rerun = run.rerun_of.unwrap();
    assert_eq!(
        (rerun.run_id.as_str(), rerun.by.as_str()),
        (original.as_str(), "octo")
    );
    // The original's audit log says where it was re-run; the re-run's says what of.
    let noted = |id: &str, kind: &str| {
        h.scheduler
            .store()
            .events(id)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.message)
            .collect::<Vec<_>>()
    };
    assert!(noted(&original, "run.rerun-started")[0].contains(&started.run_id));
    let made = &noted(&started.run_id, "run.rerun")[0];
    assert!(
        made.contains(&original) && made.contains(".bosun.yml@0123456"),
        "{made}"
    );
    assert_eq!(noted(&started.run_id, "stage.reused").len(), 3);
}

#[test]
fn a_rerun_task_carries_the_digest_its_original_attempt_ran() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    announce(&mut h, &chain_plugins(1));
    let (started, effects) = rerun(&mut h, &original, None);
    let test = only_task(&effects, "agent.test");
    assert_eq!(
        test.plugin_digest.as_deref(),
        Some(digest("test", 1).as_str())
    );
    // package never ran in the original: the plugin of that name never ran either,
    // so nothing is pinned for it.
    let pins = h.run(&started.run_id).rerun_of.unwrap().pins;
    let package = pins.iter().find(|p| p.stage == "package").unwrap();
    assert_eq!(package.plugin, None);
    let package = only_task(&h.reply(&test, by("test", pass("ok"))), "agent.package");
    assert_eq!(package.plugin_digest, None);
}

#[test]
fn a_rerun_uses_the_original_config_text_never_a_newer_one() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    // The repository has moved on: its newer runs get another pipeline.
    let newer = "pipeline:\n  stages: [lint, test, extra]\n";
    let (other, _) = h.start("feature", newer);
    assert_eq!(h.run(&other).stages.len(), 3);
    announce(&mut h, &chain_plugins(1));
    let (started, _) = rerun(&mut h, &original, None);
    let run = h.run(&started.run_id);
    assert_eq!(run.config_source.as_deref(), Some(CHAIN));
    assert_eq!(run.config_origin.as_deref(), Some(".bosun.yml@0123456"));
    let names: Vec<&str> = run.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["lint", "build", "test", "package", "docs"]);
    // Never queued for a config: no config source is asked.
    assert!(
        h.scheduler
            .queued_runs()
            .iter()
            .all(|(id, _)| id != &started.run_id)
    );
}

#[test]
fn a_rerun_whose_pinned_plugin_is_gone_is_refused_naming_it() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    // The agents now run another build of the test plugin.
    announce(&mut h, &chain_plugins(2));
    let refused = refusal(&mut h, &original, None);
    assert!(
        matches!(refused, RerunRefused::PluginGone { .. }),
        "{refused:?}"
    );
    let message = refused.to_string();
    for part in ["plugin test@1.0.0", &digest("test", 1), &digest("test", 2)] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(h.scheduler.active_runs(), 0, "nothing was started");
    // An agent that went silent no longer counts.
    announce(&mut h, &chain_plugins(1));
    h.now += AGENT_SILENT_AFTER_MS + 1;
    assert!(matches!(
        refusal(&mut h, &original, None),
        RerunRefused::PluginGone { .. }
    ));
    announce(&mut h, &chain_plugins(1));
    rerun(&mut h, &original, None);
}

#[test]
fn the_embedded_agents_plugins_are_checked_directly() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    let store = Store::open(&h.dir.path().join("runs.db")).unwrap();
    let known = KnownAgents {
        stages: ["lint", "build", "test", "package", "docs"]
            .map(String::from)
            .to_vec(),
        plugins: Arc::new(|| chain_plugins(2)),
    };
    h.scheduler = Scheduler::open(store, Arc::clone(&h.settings))
        .unwrap()
        .with_known_agents(Some(known));
    let refused = refusal(&mut h, &original, None);
    assert!(
        refused.to_string().contains(&digest("test", 1)),
        "{refused}"
    );
}

#[test]
fn a_rerun_of_one_named_stage_keeps_the_other_failures() {
    let config = "pipeline:
  stages:
    - name: lint
    - name: test
      needs: []
    - name: deploy
      needs: [lint, test]
";
    let mut h = Harness::new(vec![]);
    let (original, effects) = h.start("main", config);
    let found = tasks(&effects);
    let lint = &found.iter().find(|(t, _)| t == "agent.lint").unwrap().1;
    let test = &found.iter().find(|(t, _)| t == "agent.test").unwrap().1;
    h.reply(
        lint,
        by("lint", result(report(Outcome::Failure, "3 findings"))),
    );
    h.reply(test, by("test", failing_tests(&["test_total"])));
    assert_eq!(h.run(&original).status, RunStatus::Failure);
    announce(&mut h, &[plugin("lint", 1), plugin("test", 1)]);

    let (started, effects) = rerun(&mut h, &original, Some("test"));
    // test and what was blocked run again; lint keeps its failure.
    assert_eq!(started.rerun, ["test", "deploy"]);
    assert_eq!(started.reused, ["lint"]);
    let test = only_task(&effects, "agent.test");
    let end = h.reply(&test, by("test", pass("10 passed")));
    assert!(
        tasks(&end).is_empty(),
        "deploy stays blocked by lint: {end:?}"
    );
    let run = h.run(&started.run_id);
    assert_eq!(run.status, RunStatus::Failure);
    assert_eq!(run.stage("lint").unwrap().state, StageState::Failure);
    assert!(run.stage("deploy").unwrap().blocked);
    assert_eq!(run.rerun_of.unwrap().stage.as_deref(), Some("test"));
}

#[test]
fn a_rerun_is_refused_in_flight_without_failures_or_for_a_passed_or_unknown_stage() {
    let mut h = Harness::new(vec![]);
    let (in_flight, _) = h.start("main", CHAIN);
    assert_eq!(
        refusal(&mut h, &in_flight, None),
        RerunRefused::InFlight(in_flight.clone())
    );
    assert_eq!(
        refusal(&mut h, "no-such-run", None),
        RerunRefused::NoRun("no-such-run".into())
    );
    let (passed, effects) = h.start("other", "pipeline:\n  stages: [lint]\n");
    h.reply(&only_task(&effects, "agent.lint"), pass("clean"));
    assert_eq!(
        refusal(&mut h, &passed, None),
        RerunRefused::NothingFailed(passed.clone())
    );
    let (broken, _) = h.start("broken", "pipeline:\n  stages: [lint]\n  retires: 2\n");
    assert_eq!(
        refusal(&mut h, &broken, None),
        RerunRefused::NoConfig(broken.clone())
    );
    let (_, effects) = h.scheduler.cancel(&in_flight, "stop", h.now).unwrap();
    drop(effects);
    let failed = failed_chain(&mut h);
    assert!(matches!(
        refusal(&mut h, &failed, Some("lint")),
        RerunRefused::StagePassed { .. }
    ));
    let unknown = refusal(&mut h, &failed, Some("tset"));
    assert!(
        unknown.to_string().contains("lint, build, test"),
        "{unknown}"
    );
}

#[test]
fn a_rerun_never_gets_more_grants_than_its_original_attempt() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    // The operator grants the test stage a secret after the original ran.
    let mut settings = (*h.settings).clone();
    settings.tenants[0].secrets = vec![SecretGrant {
        name: "NPM_TOKEN".into(),
        stages: vec!["test".into()],
        events: vec![],
        environments: vec![],
        default_branch_only: false,
    }];
    h.settings = Arc::new(settings);
    h.restart();
    announce(&mut h, &chain_plugins(1));
    let (_, effects) = rerun(&mut h, &original, None);
    let test = only_task(&effects, "agent.test");
    assert!(
        test.secrets_granted.is_empty(),
        "{:?}",
        test.secrets_granted
    );
    // A new run of the same trigger would get it: only the re-run is held back.
    let (_, effects) = h.start("fresh", "pipeline:\n  stages: [test]\n");
    let fresh = only_task(&effects, "agent.test");
    assert_eq!(fresh.secrets_granted, ["NPM_TOKEN"]);
}

#[test]
fn a_rerun_in_flight_survives_a_restart_with_its_pins() {
    let mut h = Harness::new(vec![]);
    let original = failed_chain(&mut h);
    announce(&mut h, &chain_plugins(1));
    let (started, _) = rerun(&mut h, &original, None);
    h.restart();
    let again = only_task(&h.scheduler.resume(h.now).unwrap(), "agent.test");
    assert_eq!(again.task.run_id, started.run_id);
    assert_eq!(
        again.plugin_digest.as_deref(),
        Some(digest("test", 1).as_str())
    );
    h.reply(&again, by("test", pass("ok")));
    let run = h.run(&started.run_id);
    assert_eq!(run.stage("test").unwrap().state, StageState::Success);
    assert_eq!(
        run.stage("lint").unwrap().reused_from.as_deref(),
        Some(original.as_str())
    );
}
