//! Parse tests of accepted configs and their resolved defaults, and the helpers that
//! `problem_tests.rs` shares.

use super::*;
use std::time::Duration;

pub(super) const SEED: &str = include_str!("../../examples/python-app/.bosun.yml");

pub(super) fn ok(text: &str) -> PipelineConfig {
    match parse("p.yml", text) {
        Ok(config) => config,
        Err(error) => panic!("expected a valid config, got:\n{error}"),
    }
}

pub(super) fn problems(text: &str) -> Vec<Problem> {
    match parse("p.yml", text) {
        Ok(config) => panic!("expected problems, got {config:#?}"),
        Err(error) => error.problems,
    }
}

/// The only problem in `text`.
pub(super) fn only(text: &str) -> Problem {
    let mut found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

pub(super) fn at(problem: &Problem) -> (usize, usize) {
    (problem.line, problem.column)
}

pub(super) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn stages_of(body: &str) -> String {
    format!("pipeline:\n  stages:\n{body}")
}

#[test]
fn seed_accepted_verbatim_with_resolved_defaults() {
    assert!(SEED.contains("stages: [lint, test, build, security, deploy]"));
    let config = ok(SEED);
    let names: Vec<&str> = config.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["lint", "test", "build", "security", "deploy"]);
    assert_eq!(config.max_failures, None);
    assert!(config.cancel_superseded);
    assert_eq!(
        config.notify,
        NotifyRules {
            on_success: true,
            on_failure: true,
            notifier: "slack".into(),
            with: vec![],
        }
    );
    let mut previous: Option<&str> = None;
    for stage in &config.stages {
        assert_eq!(stage.plugin, stage.name);
        assert_eq!(stage.agent, stage.name);
        assert_eq!(
            stage.needs,
            previous.map(|p| vec![p.to_string()]).unwrap_or_default()
        );
        assert_eq!(stage.retries, 2);
        assert_eq!(stage.backoff, Backoff::default());
        assert_eq!(stage.timeout, Duration::from_secs(900));
        assert!(stage.when.is_always());
        assert!(!stage.allow_failure && !stage.network);
        previous = Some(&stage.name);
    }
    let deploy = config.stage("deploy").unwrap();
    assert_eq!(deploy.environment.as_deref(), Some("staging"));
    assert_eq!(
        deploy.rollback,
        Some(RollbackSpec {
            plugin: "deploy".into(),
            with: pairs(&[("action", "rollback")]),
        })
    );
    for name in ["lint", "test", "build", "security"] {
        let stage = config.stage(name).unwrap();
        assert_eq!(stage.environment, None, "{name}");
        assert_eq!(stage.rollback, None, "{name}");
    }
    assert_eq!(
        config.waves(),
        vec![
            vec!["lint"],
            vec!["test"],
            vec!["build"],
            vec!["security"],
            vec!["deploy"]
        ]
    );
}

#[test]
fn seed_without_retry_on_failure_retries_nothing() {
    let config = ok("pipeline:\n  stages: [test]\n");
    let test = config.stage("test").unwrap();
    assert_eq!(test.retries, 0);
    assert!(!config.notify.on_success);
    assert!(config.notify.on_failure);
    assert!(config.stage("nope").is_none());
}

const EXTENDED: &str = "\
pipeline:
  max_failures: 3
  cancel_superseded: false
  retry_on_failure: true
  notify:
    on_success: true
    on_failure: false
    notifier: teams-card
    with: {channel: \"#ci\", mention: [alice, bob]}
  stages:
    - lint
    - name: unit
      needs: []
      retries: 1
      backoff: 500ms
      timeout: 20m
    - name: typecheck
      needs: [lint]
      allow_failure: true
    - name: image
      needs: [unit, typecheck]
      plugin: docker-build
      agent: builders
      network: true
      with:
        context: .
        tags: [latest, sha]
        build:
          args: {PY: \"3.12\"}
          cache: true
        retries: 3
    - name: deploy
      needs: [image]
      plugin: helm
      when:
        branches: [main, \"release/*\"]
        events: push
        paths: [\"src/**\", chart/**]
      backoff: {initial: 2s, max: 30s, factor: 1.5}
      with: {chart: ./chart, action: upgrade}
    - name: smoke
      environment: production
      rollback: {with: {undo: all}}
    - name: report
      needs: [deploy]
      rollback: true
";

#[test]
fn extended_form_resolves_a_dag_in_parallel_waves() {
    let config = ok(EXTENDED);
    assert_eq!(
        config.waves(),
        vec![
            vec!["lint", "unit"],
            vec!["typecheck"],
            vec!["image"],
            vec!["deploy"],
            vec!["smoke", "report"],
        ]
    );
    assert_eq!(config.stage("lint").unwrap().needs, Vec::<String>::new());
    assert_eq!(config.stage("unit").unwrap().needs, Vec::<String>::new());
    assert_eq!(config.stage("image").unwrap().needs, ["unit", "typecheck"]);
    // No `needs`: waits for the stage listed just before it.
    assert_eq!(config.stage("smoke").unwrap().needs, ["deploy"]);
    assert_eq!(config.max_failures, Some(3));
    assert!(!config.cancel_superseded);
}

#[test]
fn extended_form_resolves_stage_settings() {
    let config = ok(EXTENDED);
    let unit = config.stage("unit").unwrap();
    assert_eq!(unit.retries, 1);
    assert_eq!(unit.timeout, Duration::from_secs(1200));
    assert_eq!(
        unit.backoff,
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            factor: 2.0
        }
    );
    let typecheck = config.stage("typecheck").unwrap();
    assert!(typecheck.allow_failure);
    assert_eq!(typecheck.retries, 2);

    let image = config.stage("image").unwrap();
    assert_eq!(
        (image.plugin.as_str(), image.agent.as_str()),
        ("docker-build", "builders")
    );
    assert!(image.network);
    assert_eq!(
        image.with,
        pairs(&[
            ("context", "."),
            ("tags", "latest,sha"),
            ("build.args.PY", "3.12"),
            ("build.cache", "true"),
            ("retries", "3"),
        ])
    );
    assert_eq!(image.rollback, None);

    let deploy = config.stage("deploy").unwrap();
    assert_eq!(deploy.when.branches, ["main", "release/*"]);
    assert_eq!(deploy.when.events, ["push"]);
    assert_eq!(deploy.when.paths, ["src/**", "chart/**"]);
    assert_eq!(deploy.backoff.delay(1), Duration::from_secs(2));
    assert_eq!(deploy.backoff.delay(2), Duration::from_secs(3));
    assert_eq!(deploy.backoff.delay(10), Duration::from_secs(30));
    assert_eq!(
        deploy.rollback,
        Some(RollbackSpec {
            plugin: "helm".into(),
            with: pairs(&[("chart", "./chart"), ("action", "rollback")]),
        })
    );
    assert_eq!(
        config.notify,
        NotifyRules {
            on_success: true,
            on_failure: false,
            notifier: "teams-card".into(),
            with: pairs(&[("channel", "#ci"), ("mention", "alice,bob")]),
        }
    );
}

#[test]
fn rollback_defaults_follow_environment_and_can_be_overridden() {
    let config = ok(EXTENDED);
    let smoke = config.stage("smoke").unwrap();
    assert_eq!(smoke.environment.as_deref(), Some("production"));
    assert_eq!(
        smoke.rollback,
        Some(RollbackSpec {
            plugin: "smoke".into(),
            with: pairs(&[("undo", "all")]),
        })
    );
    let report = config.stage("report").unwrap();
    assert_eq!(
        report.rollback,
        Some(RollbackSpec {
            plugin: "report".into(),
            with: pairs(&[("action", "rollback")]),
        })
    );
    let disabled = ok(
        "pipeline:\n  deploy_environment: prod\n  stages:\n    - {name: deploy, rollback: false}\n",
    );
    let deploy = disabled.stage("deploy").unwrap();
    assert_eq!(deploy.environment.as_deref(), Some("prod"));
    assert_eq!(deploy.rollback, None);
    let own_plugin = ok("pipeline:\n  stages:\n    - {name: deploy, rollback: {plugin: undo}}\n");
    assert_eq!(
        own_plugin.stage("deploy").unwrap().rollback,
        Some(RollbackSpec {
            plugin: "undo".into(),
            with: pairs(&[("action", "rollback")]),
        })
    );
}

#[test]
fn deploy_environment_leaves_an_own_environment_alone() {
    let config = ok(
        "pipeline:\n  deploy_environment: staging\n  stages:\n    - build\n    - {name: deploy, environment: prod}\n",
    );
    assert_eq!(
        config.stage("deploy").unwrap().environment.as_deref(),
        Some("prod")
    );
    assert_eq!(config.stage("build").unwrap().environment, None);
}

#[test]
fn backoff_max_defaults_to_at_least_initial() {
    let config = ok(
        "pipeline:\n  stages:\n    - {name: a, backoff: 2m}\n    - {name: b, backoff: {factor: 3}}\n",
    );
    let a = config.stage("a").unwrap();
    assert_eq!(a.backoff.initial, Duration::from_secs(120));
    assert_eq!(a.backoff.max, Duration::from_secs(120));
    let b = config.stage("b").unwrap();
    assert_eq!(b.backoff.initial, Duration::from_secs(1));
    assert_eq!(b.backoff.delay(3), Duration::from_secs(9));
}

#[test]
fn yaml_anchors_and_merge_keys_are_resolved() {
    let config = ok("\
pipeline:
  stages:
    - &common {name: a, timeout: 5m, network: true}
    - <<: *common
      name: b
");
    let b = config.stage("b").unwrap();
    assert_eq!(b.timeout, Duration::from_secs(300));
    assert!(b.network);
}

#[test]
fn plan_text_shows_waves_rules_and_every_stage() {
    let plan = ok(SEED).plan_text();
    assert!(
        plan.starts_with("pipeline: 5 stages in 5 waves\n  wave 1: lint\n"),
        "{plan}"
    );
    assert!(
        plan.contains("notify: slack on failure and on success"),
        "{plan}"
    );
    assert!(plan.contains("failures: no run-wide limit"), "{plan}");
    assert!(plan.contains("superseded runs: cancelled"), "{plan}");
    assert!(plan.contains("stage deploy\n  plugin       deploy\n  agent        deploy (topic agent.deploy)\n  needs        security\n  retries      2, backoff 1s then x2 up to 1m\n  timeout      15m\n  when         always\n  environment  staging\n  rollback     deploy with action=rollback\n"), "{plan}");
    let extended = ok(EXTENDED).plan_text();
    assert!(extended.contains("  wave 1: lint, unit\n"), "{extended}");
    assert!(
        extended.contains("failures: halt the run after 3 failed attempts"),
        "{extended}"
    );
    assert!(
        extended
            .contains("when         branches main, release/*; events push; paths src/**, chart/**"),
        "{extended}"
    );
    assert!(
        extended.contains("needs        nothing: starts at once"),
        "{extended}"
    );
    assert!(extended.contains("network      yes"), "{extended}");
}

#[test]
fn plan_json_writes_durations_as_config_text() {
    let json = serde_json::to_value(ok(EXTENDED)).unwrap();
    let unit = &json["stages"][1];
    assert_eq!(unit["name"], "unit");
    assert_eq!(unit["timeout"], "20m");
    assert_eq!(unit["backoff"]["initial"], "500ms");
    assert_eq!(unit["backoff"]["max"], "1m");
    assert_eq!(
        json["stages"][3]["with"][1],
        serde_json::json!(["tags", "latest,sha"])
    );
    assert_eq!(json["max_failures"], 3);
}
