//! `.bosun.yml` command steps parsed and refused: the documented form, services,
//! matrices, approvals and concurrency, artifacts, and errors naming their place.

use super::super::parse;
use super::super::tests::{at, only, stages_of};
use super::*;

const ISSUE_FORM: &str = r#"pipeline:
  stages:
    - name: test
      image: bosun/python:3.11
      commands:
        - python3 -m venv /tmp/venv
        - /tmp/venv/bin/pip install -e . pytest pytest-cov freezegun
        - /tmp/venv/bin/pytest --junitxml=reports/junit.xml --cov --cov-report=xml:reports/coverage.xml
      env: { PIP_DISABLE_PIP_VERSION_CHECK: "1", RETRIES: 3 }
      network: true
      cache: [~/.cache/pip]
      reports:
        junit: [reports/*.xml]
        coverage: reports/coverage.xml
        sarif: [ruff.sarif]
      with: { min_coverage: 80 }
    - name: lint
      needs: []
      image: bosun/node:18
      commands: [npm ci, npx eslint . -f json -o reports/eslint.json]
      network: true
      cache: { key: [package-lock.json], paths: [~/.npm] }
      reports: { eslint: reports/eslint.json }
"#;

#[test]
fn the_documented_form_becomes_command_steps() {
    let config = parse(".bosun.yml", ISSUE_FORM).unwrap();
    let test = config.stage("test").unwrap();
    assert_eq!(test.plugin, COMMANDS_PLUGIN);
    assert_eq!(
        test.agent, COMMANDS_POOL,
        "any agent with an engine runs command steps"
    );
    let step = test.step.as_ref().unwrap();
    assert_eq!(step.image, "bosun/python:3.11");
    assert_eq!(step.commands.len(), 3);
    assert!(step.network);
    assert_eq!(
        step.env,
        vec![
            ("PIP_DISABLE_PIP_VERSION_CHECK".to_string(), "1".to_string()),
            ("RETRIES".to_string(), "3".to_string())
        ]
    );
    assert_eq!(step.cache.paths, vec!["~/.cache/pip"]);
    assert!(step.cache.key.is_empty());
    assert_eq!(
        step.reports,
        vec![
            ("junit".to_string(), vec!["reports/*.xml".to_string()]),
            (
                "coverage".to_string(),
                vec!["reports/coverage.xml".to_string()]
            ),
            ("sarif".to_string(), vec!["ruff.sarif".to_string()]),
        ]
    );
    assert_eq!(
        test.with,
        vec![("min_coverage".to_string(), "80".to_string())]
    );
    let lint = config.stage("lint").unwrap().step.as_ref().unwrap();
    assert_eq!(lint.cache.key, vec!["package-lock.json"]);
    assert_eq!(lint.cache.paths, vec!["~/.npm"]);
    let json: serde_json::Value = serde_json::from_str(&lint.to_json()).unwrap();
    assert_eq!(json["reports"][0][0], "eslint");
    assert_eq!(json["cache"]["key"][0], "package-lock.json");
    assert_eq!(json["network"], true);
}

#[test]
fn stages_without_commands_keep_their_plugins() {
    let config = parse("p.yml", "pipeline:\n  stages: [lint, test]\n").unwrap();
    assert!(config.stages.iter().all(|s| s.step.is_none()));
    assert_eq!(config.stage("test").unwrap().plugin, "test");
}

#[test]
fn a_half_written_step_names_what_is_missing() {
    let problem = only(&stages_of("    - name: test\n      commands: [pytest]\n"));
    assert_eq!(
        problem.message,
        "stage 'test' has commands but no 'image' to run them in"
    );
    let problem = only(&stages_of(
        "    - name: test\n      image: bosun/python:3.11\n",
    ));
    assert!(
        problem.message.contains("no 'commands'"),
        "{}",
        problem.message
    );
}

#[test]
fn bad_step_values_are_refused_where_they_are_written() {
    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      reports: { xunit: a.xml }\n",
    ));
    assert_eq!(at(&problem), (6, 18));
    assert_eq!(
        problem.message,
        "stage 't', in 'reports': unknown key 'xunit'"
    );

    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      reports: { junit: ../../etc/passwd }\n",
    ));
    assert!(
        problem.message.contains("must be relative"),
        "{}",
        problem.message
    );

    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      cache: [/usr/lib]\n",
    ));
    assert!(
        problem.message.contains("cache path \"/usr/lib\""),
        "{}",
        problem.message
    );

    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      env: { BOSUN_BRANCH: main }\n",
    ));
    assert!(
        problem.message.contains("BOSUN_ is reserved"),
        "{}",
        problem.message
    );

    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      plugin: lint\n",
    ));
    assert!(
        problem
            .message
            .contains("runs them with the 'commands' plugin"),
        "{}",
        problem.message
    );

    let problem = only(&stages_of(
        "    - name: t\n      with: { bosun.step: '{}' }\n",
    ));
    assert!(problem.message.contains("reserved"), "{}", problem.message);
    // A rollback's settings are merged over the stage's: the same rule.
    let problem = only(&stages_of(
        "    - name: t\n      rollback: { with: { bosun: { step: '{}' } } }\n",
    ));
    assert!(
        problem.message.contains("'bosun.step' is reserved"),
        "{}",
        problem.message
    );
}

const WITH_SERVICES: &str = r#"pipeline:
  stages:
    - name: test
      image: bosun/python:3.11
      commands: [pytest tests/integration]
      network: true
      services:
        - name: cache
          image: bosun/redis:7
          ready: { tcp: 6379, timeout: 20s }
        - name: db
          image: bosun/postgres:15
          env: { POSTGRES_PASSWORD: ci }
          command: postgres -c fsync=off
          ready: { command: pg_isready -h 127.0.0.1 }
"#;

#[test]
fn services_are_read_with_their_readiness_and_travel_in_the_step() {
    let config = parse(".bosun.yml", WITH_SERVICES).unwrap();
    let step = config.stage("test").unwrap().step.as_ref().unwrap();
    assert_eq!(step.services.len(), 2);
    let cache = &step.services[0];
    assert_eq!(
        (cache.name.as_str(), cache.image.as_str()),
        ("cache", "bosun/redis:7")
    );
    assert_eq!(cache.ready.tcp, Some(6379));
    assert_eq!(cache.ready.timeout, std::time::Duration::from_secs(20));
    assert!(cache.command.is_empty(), "the image's own command");
    let db = &step.services[1];
    assert_eq!(
        db.env,
        vec![("POSTGRES_PASSWORD".to_string(), "ci".to_string())]
    );
    assert_eq!(db.command, ["/bin/sh", "-c", "postgres -c fsync=off"]);
    assert_eq!(db.ready.command.as_deref(), Some("pg_isready -h 127.0.0.1"));
    assert_eq!(db.ready.timeout, crate::DEFAULT_READY_TIMEOUT);
    let json: serde_json::Value = serde_json::from_str(&step.to_json()).unwrap();
    assert_eq!(json["services"][0]["ready"]["timeout_ms"], 20_000);
    assert_eq!(json["services"][1]["command"][2], "postgres -c fsync=off");
}

#[test]
fn bad_services_are_refused_with_their_place() {
    let cases = [
        ("      services: redis\n", "a list of services"),
        (
            "      services:\n        - { image: bosun/redis:7 }\n",
            "has no 'name'",
        ),
        (
            "      services:\n        - { name: Cache_1, image: x }\n",
            "must be a host name",
        ),
        (
            "      services:\n        - { name: db }\n",
            "has no 'image'",
        ),
        (
            "      services:\n        - { name: db, image: x }\n        - { name: db, image: y }\n",
            "two services are named 'db'",
        ),
        (
            "      services:\n        - { name: db, image: x, ready: { tcp: 70000 } }\n",
            "'tcp' must be a whole number from 1 to 65535",
        ),
        (
            "      services:\n        - { name: db, image: x, ready: { timeout: 5s } }\n",
            "'tcp: PORT' or 'command",
        ),
        (
            "      services:\n        - { name: db, image: x, ready: { tcp: 1, command: nc -z localhost 1 } }\n",
            "not both",
        ),
        (
            "      services:\n        - { name: db, image: x, ports: [5432] }\n",
            "ports",
        ),
        (
            "      services:\n        - { name: db, image: x, env: { BOSUN_RUN: 1 } }\n",
            "BOSUN_ is reserved",
        ),
    ];
    for (services, expected) in cases {
        let text = format!(
            "pipeline:\n  stages:\n    - name: test\n      image: bosun/python:3.11\n      commands: [pytest]\n{services}"
        );
        let error = parse(".bosun.yml", &text).unwrap_err().to_string();
        assert!(error.contains(expected), "{services}: {error}");
        assert!(error.contains(".bosun.yml:"), "names the place: {error}");
    }
}

const MATRIX: &str = r#"pipeline:
  stages:
    - name: lint
      image: bosun/python:3.11
      commands: [ruff check .]
    - name: test
      matrix: { python: ["3.11", "3.12"], db: [redis, "7"] }
      max_parallel: 2
      image: "bosun/python:${{ matrix.python }}"
      env: { DB: "${{ matrix.db }}", TOKEN: "${{ secrets.TOKEN }}" }
      commands: ["echo ${{ matrix.python }}"]
    - name: publish
      plugin: build
"#;

#[test]
fn a_matrix_stage_becomes_its_instances_and_later_stages_wait_for_all() {
    let config = parse(".bosun.yml", MATRIX).unwrap();
    let names: Vec<&str> = config.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "lint",
            "test-3_11-redis",
            "test-3_11-7",
            "test-3_12-redis",
            "test-3_12-7",
            "publish"
        ]
    );
    let one = config.stage("test-3_12-7").unwrap();
    let step = one.step.as_ref().unwrap();
    assert_eq!(step.image, "bosun/python:3.12");
    assert_eq!(step.commands, ["echo 3.12"]);
    assert_eq!(
        step.env,
        [
            ("DB".to_string(), "7".to_string()),
            ("TOKEN".to_string(), "${{ secrets.TOKEN }}".to_string())
        ],
        "secrets are left for the agent"
    );
    assert_eq!(
        one.needs,
        ["lint"],
        "each instance needs what the stage needs"
    );
    let matrix = one.matrix.as_ref().unwrap();
    assert_eq!(matrix.of, "test");
    assert_eq!((matrix.fail_fast, matrix.max_parallel), (true, Some(2)));
    assert_eq!(
        config.stage("publish").unwrap().needs,
        [
            "test-3_11-redis",
            "test-3_11-7",
            "test-3_12-redis",
            "test-3_12-7"
        ]
    );
}

#[test]
fn bad_matrices_are_refused_with_their_place() {
    let cases = [
        ("      matrix: [3.11]\n", "a mapping of keys to lists"),
        ("      matrix: { python: [] }\n", "a non-empty list"),
        ("      matrix: { python: [3.11, 3.11] }\n", "twice"),
        ("      matrix: { python: [[1]] }\n", "quote versions"),
        (
            "      matrix: { python: [\"a.b\", \"a_b\"] }\n",
            "both be named 'test-a_b'",
        ),
        (
            "      matrix: { py: [\"3\"] }\n      commands: [\"echo ${{ matrix.os }}\"]\n",
            "no key 'os'",
        ),
        ("      max_parallel: 2\n", "applies to a 'matrix'"),
        (
            "      matrix: { a: [1,2,3,4,5,6,7,8], b: [1,2,3,4,5,6,7,8,9] }\n",
            "72 instances",
        ),
    ];
    for (extra, expected) in cases {
        let commands = if extra.contains("commands") {
            ""
        } else {
            "      commands: [pytest]\n"
        };
        let text = format!(
            "pipeline:\n  stages:\n    - name: test\n      image: bosun/python:3.11\n{commands}{extra}"
        );
        let error = parse(".bosun.yml", &text).unwrap_err().to_string();
        assert!(error.contains(expected), "{extra}: {error}");
    }
}

#[test]
fn approval_and_concurrency_are_read_with_their_defaults() {
    let config = parse(
        ".bosun.yml",
        r#"pipeline:
  stages:
    - name: build
    - name: deploy
      environment: production
      approval: { from: [alice, "@acme/release"], timeout: 2h }
      concurrency: { group: "deploy-${{environment}}-${{ branch }}" }
    - name: smoke
      concurrency: smoke
"#,
    )
    .unwrap();
    let deploy = config.stage("deploy").unwrap();
    let approval = deploy.approval.as_ref().unwrap();
    assert_eq!(approval.from, ["alice", "@acme/release"]);
    assert_eq!(approval.timeout, std::time::Duration::from_secs(7200));
    let lock = deploy.concurrency.as_ref().unwrap();
    assert!(
        lock.queue && !lock.cancel_in_progress,
        "waits in order by default"
    );
    assert_eq!(
        lock.group_for(deploy.environment.as_deref(), "main", "acme/shop"),
        "deploy-production-main"
    );
    assert_eq!(
        config
            .stage("smoke")
            .unwrap()
            .concurrency
            .as_ref()
            .unwrap()
            .group,
        "smoke"
    );

    for (stage, expected) in [
        (
            "      approval: { from: [\"al ice\"] }\n",
            "neither a GitHub login",
        ),
        (
            "      approval: { timeout: 5s }\n",
            "'timeout' of 5s is out of range",
        ),
        ("      approval: yes\n", "a mapping with 'from'"),
        ("      concurrency: { queue: false }\n", "name the 'group'"),
        (
            "      concurrency: \"x-${{ secrets.T }}\"\n",
            "may use ${{ environment }}",
        ),
        ("      concurrency: { group: g, wait: true }\n", "wait"),
    ] {
        let text = format!("pipeline:\n  stages:\n    - name: deploy\n{stage}");
        let error = parse(".bosun.yml", &text).unwrap_err().to_string();
        assert!(error.contains(expected), "{stage}: {error}");
    }
}

#[test]
fn artifacts_are_read_and_travel_in_the_step_only_when_listed() {
    let config = parse(
        ".bosun.yml",
        "pipeline:\n  stages:\n    - name: build\n      image: x\n      commands: [make]\n      artifacts: [\"dist/*.whl\", /out/sbom.json]\n    - name: test\n      image: x\n      commands: [make test]\n",
    )
    .unwrap();
    let build = config.stage("build").unwrap().step.as_ref().unwrap();
    assert_eq!(build.artifacts, ["dist/*.whl", "/out/sbom.json"]);
    let json: serde_json::Value = serde_json::from_str(&build.to_json()).unwrap();
    assert_eq!(json["artifacts"][1], "/out/sbom.json");
    let plan = config.plan_text();
    assert!(
        plan.contains(
            "artifacts    dist/*.whl, /out/sbom.json (read by later steps at /artifacts/build/)"
        ),
        "{plan}"
    );
    let test = config.stage("test").unwrap().step.as_ref().unwrap();
    assert!(
        !test.to_json().contains("artifacts"),
        "a plugin that predates artifacts still reads the step"
    );
    let one = parse(
        ".bosun.yml",
        "pipeline:\n  stages:\n    - name: b\n      image: x\n      commands: [a]\n      artifacts: dist\n",
    )
    .unwrap();
    assert_eq!(
        one.stage("b").unwrap().step.as_ref().unwrap().artifacts,
        ["dist"]
    );
}

#[test]
fn artifact_paths_outside_the_workspace_are_refused_where_they_are_written() {
    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      artifacts: [dist, ../../etc/passwd]\n",
    ));
    assert_eq!(at(&problem), (6, 25));
    assert_eq!(
        problem.message,
        "stage 't': artifact path \"../../etc/passwd\" must not contain '..'"
    );
    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      artifacts: [/etc/shadow]\n",
    ));
    assert!(
        problem.message.contains("or start with /out/"),
        "{}",
        problem.message
    );
    let problem = only(&stages_of(
        "    - name: t\n      image: x\n      commands: [a]\n      artifacts: []\n",
    ));
    assert!(
        problem.message.contains("lists no paths"),
        "{}",
        problem.message
    );
    let found =
        super::super::tests::problems(&stages_of("    - name: t\n      artifacts: [dist]\n"));
    assert!(
        found.iter().any(|p| p.message.contains("no 'image'")),
        "artifacts belong to a command step: {found:#?}"
    );
}

#[test]
fn services_without_a_network_grant_are_refused_where_they_are_written() {
    let text = "pipeline:\n  stages:\n    - name: test\n      image: x\n      commands: [pytest]\n      services:\n        - { name: db, image: y }\n";
    let error = parse(".bosun.yml", text).unwrap_err().to_string();
    assert!(error.contains(".bosun.yml:7:"), "{error}");
    assert!(error.contains("services need 'network: true'"), "{error}");
}
