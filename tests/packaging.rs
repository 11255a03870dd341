//! The packaging checked against the real tools: the Dockerfile built into both role
//! images from this build's own `bosun` binary on the locally imported base image, the
//! images started; the compose file read by the real `docker-compose`; the example
//! settings loaded by the orchestrator's own parser; the Helm chart's value paths
//! looked up in its values and its autoscaling queries in the orchestrator's registry;
//! and every metric the Grafana dashboard queries looked up in the real orchestrator
//! and agent registries.
//!
//! The Docker tests need the engine and `BOSUN_TEST_BASE_IMAGE`, the compose tests
//! `docker-compose` (both from `bash scripts/services.sh`). Under `CI=true` a missing one
//! is a failure; elsewhere those tests skip, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_test_support::assert_contains;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker(args: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    cmd
}

/// The base image to build from, when the engine answers.
fn docker_or_skip(test: &str) -> Option<String> {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    match std::env::var("BOSUN_TEST_BASE_IMAGE") {
        Ok(base) if answers => Some(base),
        Ok(_) => bosun_test_support::missing_service(test, "no Docker engine answers"),
        Err(_) => bosun_test_support::missing_service(
            test,
            "BOSUN_TEST_BASE_IMAGE (the locally built base image) is not set",
        ),
    }
}

/// Removes an image or a container when the test ends, passed or not.
struct Cleanup(Vec<&'static str>, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker(&self.0).arg(&self.1).output();
    }
}

/// A Docker build context as the Dockerfile documents it: the Dockerfile and a binary.
fn build_context(dir: &Path) {
    let binary = Path::new(env!("CARGO_BIN_EXE_bosun"));
    if std::fs::hard_link(binary, dir.join("bosun")).is_err() {
        std::fs::copy(binary, dir.join("bosun")).unwrap();
    }
    std::fs::copy(repo().join("packaging/Dockerfile"), dir.join("Dockerfile")).unwrap();
}

/// Build one role target; the image is removed when the returned guard drops.
fn build_image(context: &Path, base: &str, target: &str) -> (String, Cleanup) {
    let tag = format!("bosun-packaging-test/{target}:{}", std::process::id());
    let guard = Cleanup(vec!["rmi", "-f"], tag.clone());
    stdout_of(
        docker(&["build", "--target", target, "--tag", &tag])
            .args(["--build-arg", &format!("BASE_IMAGE={base}")])
            // The base image has no git and no network is promised inside a build:
            // the image is checked for what it is, not for cloning.
            .args(["--build-arg", "PACKAGES="])
            .arg(context),
    );
    (tag, guard)
}

fn inspect(image: &str, format: &str) -> String {
    stdout_of(&mut docker(&[
        "image", "inspect", "--format", format, image,
    ]))
}

/// GET `path` on `addr` with a bare HTTP/1.0 request; the status line and body.
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.starts_with("HTTP/1.").then_some(text)
}

/// Start `image` detached with `args` before it, wait until `path` on `port` answers
/// 200, and return the body; the container is removed when the test ends.
fn serve_and_get(image: &str, args: &[&str], port: &str, path: &str, wait: Duration) -> String {
    let id = stdout_of(
        docker(&[
            "run",
            "--detach",
            "--publish",
            &format!("127.0.0.1::{port}"),
        ])
        .args(args)
        .arg(image),
    );
    let _guard = Cleanup(vec!["rm", "--force"], id.clone());
    let addr = stdout_of(&mut docker(&["port", &id, &format!("{port}/tcp")]));
    let addr = addr.lines().next().unwrap().to_string();
    let start = Instant::now();
    loop {
        if let Some(text) = http_get(&addr, path)
            && text.split(' ').nth(1) == Some("200")
        {
            return text;
        }
        let state = stdout_of(&mut docker(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &id,
        ]));
        if state != "running" || start.elapsed() > wait {
            let logs = run(&mut docker(&["logs", &id]));
            panic!(
                "{image} ({state}) did not answer {path} within {wait:?}; its logs:\n{}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn packaging_images_run_the_binary_as_non_root() {
    let Some(base) = docker_or_skip("packaging_images_run_the_binary_as_non_root") else {
        return;
    };
    let context = tempfile::tempdir().unwrap();
    build_context(context.path());
    // Dropped last: the binary stage the builder leaves behind, once the images are gone.
    let _stage = Cleanup(
        vec!["image", "prune", "--force", "--filter"],
        "label=org.bosun.build-stage=binary".into(),
    );
    let (orchestrator, _o) = build_image(context.path(), &base, "orchestrator");
    let (agent, _a) = build_image(context.path(), &base, "agent");
    let expected = format!("bosun {}", env!("CARGO_PKG_VERSION"));

    for image in [&orchestrator, &agent] {
        let version = stdout_of(&mut docker(&["run", "--rm", image, "--version"]));
        assert_eq!(version, expected, "{image}");
        assert_eq!(inspect(image, "{{.Config.User}}"), "1000:1000", "{image}");
        let uid = stdout_of(&mut docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "id",
            image,
            "-u",
        ]));
        assert_eq!(uid, "1000", "{image} runs as uid {uid}");
        assert_eq!(
            inspect(image, "{{json .Config.Entrypoint}}"),
            r#"["/usr/local/bin/bosun"]"#
        );
    }
    assert_eq!(
        inspect(&orchestrator, "{{json .Config.Cmd}}"),
        r#"["orchestrator","--config","/etc/bosun/bosun-server.yaml"]"#
    );
    assert_eq!(inspect(&agent, "{{json .Config.Cmd}}"), r#"["agent"]"#);

    // The orchestrator image with the compose example's settings (the in-memory bus in
    // place of Kafka): it starts as uid 1000, creates its run store, and answers.
    let settings = repo().join("examples/deploy/bosun-server.yaml");
    let mount = format!(
        "{}:/etc/bosun/bosun-server.yaml:ro",
        settings.to_str().unwrap()
    );
    let health = serve_and_get(
        &orchestrator,
        &["--env", "BOSUN_BUS=memory://", "--volume", &mount],
        "8080",
        "/healthz",
        Duration::from_secs(60),
    );
    assert!(health.trim_end().ends_with("\r\n\r\nok"), "{health}");

    // The agent image on the in-memory bus and without tools: it starts as uid 1000
    // and serves its metrics (families appear once they have a sample: before any
    // task, the gauge and the plain counters).
    let metrics = serve_and_get(
        &agent,
        &[
            "--env",
            "BOSUN_BUS=memory://",
            "--env",
            "BOSUN_CONTAINERS=none",
        ],
        "9464",
        "/metrics",
        Duration::from_secs(180),
    );
    assert_contains(&metrics, "\nbosun_agent_tasks_in_flight 0\n");
}

/// The text of a Dockerfile from its runtime marker on.
fn runtime_part(name: &str) -> String {
    let text = std::fs::read_to_string(repo().join("packaging").join(name)).unwrap();
    let at = text
        .find("# ---- runtime:")
        .unwrap_or_else(|| panic!("packaging/{name} has no runtime marker"));
    text[at..].to_string()
}

#[test]
fn packaging_dockerfiles_share_the_runtime_stages() {
    // Only packaging/Dockerfile is built here; the from-source file must not drift.
    assert_eq!(
        runtime_part("Dockerfile"),
        runtime_part("Dockerfile.source"),
        "packaging/Dockerfile.source's runtime stages differ from packaging/Dockerfile's"
    );
}

fn compose_or_skip(test: &str) -> bool {
    let found = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        bosun_test_support::missing_service::<()>(
            test,
            "docker-compose (Debian's package, installed by the script) is missing",
        );
    }
    found
}

/// `docker-compose -f examples/deploy/compose.yaml` with `args`, in a clean environment
/// as far as the file's variables go.
fn compose(args: &[&str], docker_gid: Option<&str>) -> Command {
    let dir = repo().join("examples/deploy");
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(&dir)
        .arg("-f")
        .arg("compose.yaml")
        .args(args);
    for var in [
        "DOCKER_GID",
        "BOSUN_ORCHESTRATOR_IMAGE",
        "BOSUN_AGENT_IMAGE",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
    ] {
        cmd.env_remove(var);
    }
    if let Some(gid) = docker_gid {
        cmd.env("DOCKER_GID", gid);
    }
    cmd
}

#[test]
fn packaging_compose_config_lists_the_services() {
    if !compose_or_skip("packaging_compose_config_lists_the_services") {
        return;
    }
    let services: BTreeSet<String> =
        stdout_of(&mut compose(&["config", "--services"], Some("999")))
            .lines()
            .map(str::to_string)
            .collect();
    let expected: BTreeSet<String> = [
        "kafka",
        "postgres",
        "registry",
        "orchestrator",
        "agent-1",
        "agent-2",
        "prometheus",
        "grafana",
    ]
    .map(String::from)
    .into();
    assert_eq!(services, expected);

    // Every file the services mount from the repository exists (the resolved config
    // names bind sources by absolute path), and both agents get the Docker socket.
    let resolved = stdout_of(&mut compose(&["config"], Some("999")));
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&resolved).unwrap();
    let root = repo();
    let mut mounted = 0;
    for (name, service) in config["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let volumes: Vec<&str> = service["volumes"]
            .as_sequence()
            .map(|v| v.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        for volume in &volumes {
            let source = Path::new(volume.split(':').next().unwrap());
            if source.starts_with(&root) {
                assert!(source.exists(), "{name} mounts {volume}: no such file");
                mounted += 1;
            }
        }
        if name.starts_with("agent-") {
            assert!(
                volumes
                    .iter()
                    .any(|v| v.starts_with("/var/run/docker.sock:")),
                "{name} has no Docker socket: {volumes:?}"
            );
            assert_eq!(service["group_add"][0].as_str(), Some("999"), "{name}");
        }
    }
    // settings, prometheus.yml, two provisioning folders, the dashboard
    assert_eq!(mounted, 5, "{resolved}");
    // The orchestrator's run store is the postgres service, started healthy first.
    let orchestrator = &config["services"]["orchestrator"];
    let store = orchestrator["environment"]["BOSUN_STORE"]
        .as_str()
        .unwrap_or_default();
    assert!(
        store.starts_with("postgres://bosun:") && store.ends_with("@postgres:5432/bosun"),
        "{store}"
    );
    assert_eq!(
        orchestrator["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy"),
        "{resolved}"
    );
}

#[test]
fn packaging_compose_config_requires_the_docker_group() {
    if !compose_or_skip("packaging_compose_config_requires_the_docker_group") {
        return;
    }
    let out = run(&mut compose(&["config", "--services"], None));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "config passed without DOCKER_GID");
    assert_contains(&stderr, "DOCKER_GID");
}

#[test]
fn packaging_compose_settings_load_as_orchestrator_settings() {
    let path = repo().join("examples/deploy/bosun-server.yaml");
    let settings = bosun_orchestrator::settings::ServerSettings::load(&path).unwrap();
    assert_eq!(settings.listen, "0.0.0.0:8080");
    assert_eq!(settings.bus, "kafka://kafka:9092");
    let tenant = settings.tenant("acme").unwrap();
    assert_eq!(
        tenant.webhook_secret.env.as_deref(),
        Some("ACME_WEBHOOK_SECRET")
    );
}

#[test]
fn packaging_helm_values_settings_load_as_orchestrator_settings() {
    // The chart's ConfigMap is `toYaml` of these values; nothing here renders the chart
    // itself, but the settings it would render must be ones the orchestrator accepts.
    let path = repo().join("examples/helm/bosun/values.yaml");
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let settings = &values["orchestrator"]["settings"];
    assert!(
        settings.is_mapping(),
        "values.yaml has no orchestrator.settings"
    );
    let text = serde_yaml_ng::to_string(settings).unwrap();
    let settings = bosun_orchestrator::settings::ServerSettings::parse(&path, &text).unwrap();
    assert_eq!(settings.listen, "0.0.0.0:8080");
    // Every secret the settings name by variable comes from the chart's Secret.
    let secret_keys: BTreeSet<&str> = values["secrets"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    for tenant in &settings.tenants {
        for secret in [
            &tenant.webhook_secret,
            &tenant.slack_webhook,
            &tenant.github_token,
        ] {
            if let Some(var) = &secret.env {
                assert!(secret_keys.contains(var.as_str()), "{var} not in secrets");
            }
        }
    }
}

/// The chart's values, parsed.
fn helm_values() -> serde_yaml_ng::Value {
    let path = repo().join("examples/helm/bosun/values.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Each template of the chart: its file name and text.
fn helm_templates() -> Vec<(String, String)> {
    let dir = repo().join("examples/helm/bosun/templates");
    let mut templates: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "tpl"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    templates.sort();
    templates
}

#[test]
fn packaging_helm_templates_read_only_values_that_are_set() {
    // Helm renders a missing value as nothing, so a misspelt path would go unnoticed
    // until a cluster refused the object.
    let values = helm_values();
    let mut checked = 0;
    for (name, text) in helm_templates() {
        for (at, _) in text.match_indices(".Values.") {
            let path: String = text[at + ".Values.".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let mut value = &values;
            for key in path.trim_end_matches('.').split('.') {
                value = value.get(key).unwrap_or_else(|| {
                    panic!("{name} reads .Values.{path}, which values.yaml does not set")
                });
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} value paths found");
}

#[test]
fn packaging_helm_autoscaling_off_by_default_on_series_the_orchestrator_serves() {
    let values = helm_values();
    let scale = &values["agent"]["autoscaling"];
    assert_eq!(scale["enabled"].as_bool(), Some(false), "{scale:?}");
    assert_eq!(scale["kind"].as_str(), Some("keda"));
    let templates = helm_templates();
    let text = &templates
        .iter()
        .find(|(name, _)| name == "agent-autoscaling.yaml")
        .expect("templates/agent-autoscaling.yaml")
        .1;
    assert!(
        text.starts_with("{{- if .Values.agent.autoscaling.enabled }}"),
        "the autoscaler must render nothing unless enabled"
    );
    // The Deployment leaves its replica count to the autoscaler while it is on.
    let agent = &templates.iter().find(|(n, _)| n == "agent.yaml").unwrap().1;
    assert_contains(
        agent,
        "{{- if not .Values.agent.autoscaling.enabled }}\n  replicas:",
    );

    // `$scale` is `.Values.agent.autoscaling`: every key read from it is set.
    for (at, _) in text.match_indices("$scale.") {
        let key: String = text[at + "$scale.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            scale.get(&key).is_some(),
            "agent.autoscaling.{key} is not set"
        );
    }

    // Every query (KEDA) and metric (HPA) names a series the orchestrator serves, with
    // the labels it uses.
    let series = exposed_series();
    let mut queried = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("query:"))
    {
        let format = line
            .split_once("printf \"")
            .and_then(|(_, rest)| rest.split_once("\" $match"))
            .unwrap_or_else(|| panic!("unexpected query line: {line}"))
            .0
            .replace("\\\"", "\"");
        let expr = format.replace("%s", "pool=~\"test\"");
        let used = parse_expr(&expr);
        assert!(!used.metrics.is_empty(), "no bosun metric in {expr}");
        for metric in &used.metrics {
            let labels = series
                .get(metric)
                .unwrap_or_else(|| panic!("{metric} is not served: {expr}"));
            for label in &used.labels {
                assert!(
                    labels.contains(label),
                    "{metric} has no label {label}: {expr}"
                );
            }
        }
        queried.extend(used.metrics);
    }
    assert_eq!(
        queried,
        BTreeSet::from([
            "bosun_stage_queue_lag".to_string(),
            "bosun_stage_queue_oldest_seconds".to_string()
        ])
    );
    assert_contains(text, "name: bosun_stage_queue_lag");
    assert!(series["bosun_stage_queue_lag"].contains("pool"));
}

// ------------------------------------------------------------------- the dashboard

/// Series names Prometheus stores for each metric the registries expose, with the
/// labels seen on them.
fn exposed_series() -> BTreeMap<String, BTreeSet<String>> {
    use bosun_host::agent::metrics as agent;
    use bosun_orchestrator::metrics as orch;
    // One observation in every family, so that sample lines show the labels.
    let o = orch::OrchestratorMetrics::default();
    let stage = || orch::StageLabels {
        stage: "lint".into(),
    };
    o.runs
        .get_or_create(&orch::StatusLabels {
            status: "success".into(),
        })
        .inc();
    o.active_runs.set(1);
    o.stage_seconds.get_or_create(&stage()).observe(1.0);
    o.task_wait_seconds.get_or_create(&stage()).observe(1.0);
    o.retries.get_or_create(&stage()).inc();
    o.halts.inc();
    o.dead_letters.inc();
    o.webhook("accepted");
    let pool = || orch::PoolLabels {
        pool: "test".into(),
    };
    o.queue_lag.get_or_create(&pool()).set(1);
    o.queue_oldest_seconds.get_or_create(&pool()).set(1.0);
    o.queue_refresh_failures.inc();

    let a = agent::AgentMetrics::default();
    let stage = || agent::StageLabels {
        stage: "lint".into(),
    };
    a.tasks
        .get_or_create(&agent::TaskLabels {
            stage: "lint".into(),
            outcome: "success".into(),
        })
        .inc();
    a.in_flight.set(1);
    a.task_seconds.get_or_create(&stage()).observe(1.0);
    a.plugin_seconds.get_or_create(&stage()).observe(1.0);
    a.container_seconds.get_or_create(&stage()).observe(1.0);
    a.dead_lettered.inc();
    a.released.inc();
    a.count_verdict(&bosun_bus::policy::Decision::Allow, true);
    a.count_notification(true);

    let text = o.render() + &a.render();
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            for suffix in suffixes {
                series.entry(format!("{name}{suffix}")).or_default();
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap();
            let labels = series.entry(line[..end].to_string()).or_default();
            if let Some(inner) = line[end..]
                .strip_prefix('{')
                .and_then(|l| l.split_once('}'))
            {
                for pair in inner.0.split(',') {
                    labels.insert(pair.split_once('=').unwrap().0.to_string());
                }
            }
        }
    }
    series
}

/// What one PromQL expression uses: metric names, label names in selectors and in
/// `by (…)` clauses.
#[derive(Default, Debug)]
struct Used {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_expr(expr: &str) -> Used {
    let mut used = Used::default();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '"' {
            // A label value or string literal: not names.
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if !ident_char(chars[i]) || chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j] == ' ' {
            j += 1;
        }
        let next = chars.get(j).copied();
        if word == "by" || word == "without" {
            let close = chars[j..].iter().position(|&c| c == ')').unwrap() + j;
            let inner: String = chars[j + 1..close].iter().collect();
            used.labels
                .extend(inner.split(',').map(|l| l.trim().to_string()));
            i = close + 1;
        } else if word.starts_with("bosun_") {
            used.metrics.insert(word);
            if next == Some('{') {
                // Matchers: `name op "value"`, comma-separated; values may hold commas.
                i = j + 1;
                while i < chars.len() && chars[i] != '}' {
                    while chars[i] == ' ' || chars[i] == ',' {
                        i += 1;
                    }
                    let start = i;
                    while ident_char(chars[i]) {
                        i += 1;
                    }
                    used.labels.insert(chars[start..i].iter().collect());
                    while chars[i] != '"' {
                        i += 1;
                    }
                    i += 1;
                    while chars[i] != '"' {
                        i += 1;
                    }
                    i += 1;
                    while chars[i] == ' ' {
                        i += 1;
                    }
                }
                i += 1;
            }
        }
    }
    used
}

#[test]
fn dashboard_queries_parse_names_and_labels() {
    let used = parse_expr(
        r#"histogram_quantile(0.95, sum by (stage, le) (rate(bosun_stage_seconds_bucket{stage!="x", a="y,z"}[5m]))) / bosun_b"#,
    );
    assert_eq!(
        used.metrics,
        BTreeSet::from(["bosun_stage_seconds_bucket".into(), "bosun_b".into()])
    );
    assert_eq!(
        used.labels,
        BTreeSet::from(["stage".into(), "le".into(), "a".into()])
    );
}

#[test]
fn dashboard_queries_only_metrics_the_registries_expose() {
    let series = exposed_series();
    // Added by Prometheus to every scraped series (`role` by examples/deploy/prometheus.yml).
    let scrape_labels = ["instance", "job", "role"];
    let path = repo().join("examples/grafana/bosun-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut queried = BTreeSet::new();
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap();
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {title:?} has no queries");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let used = parse_expr(expr);
            assert!(
                !used.metrics.is_empty(),
                "{title:?}: no bosun metric in {expr}"
            );
            for metric in &used.metrics {
                let labels = series.get(metric).unwrap_or_else(|| {
                    panic!("{title:?} queries {metric}, which no registry exposes: {expr}")
                });
                for label in &used.labels {
                    assert!(
                        labels.contains(label) || scrape_labels.contains(&label.as_str()),
                        "{title:?}: {metric} has no label {label:?} (has {labels:?}): {expr}"
                    );
                }
            }
            // A legend can only show labels the query keeps.
            let legend = target["legendFormat"].as_str().unwrap_or("");
            for part in legend.split("{{").skip(1) {
                let label = part.split("}}").next().unwrap().trim();
                assert!(
                    used.labels.contains(label),
                    "{title:?}: legend {{{{{label}}}}} is not kept by {expr}"
                );
            }
            queried.extend(used.metrics);
        }
    }
    // The panels the dashboard promises, by what they query.
    for metric in [
        "bosun_runs_total",
        "bosun_active_runs",
        "bosun_stage_seconds_bucket",
        "bosun_task_wait_seconds_bucket",
        "bosun_retries_total",
        "bosun_halts_total",
        "bosun_dead_letters_total",
        "bosun_webhook_deliveries_total",
        "bosun_agent_plugin_call_seconds_bucket",
        "bosun_agent_container_seconds_bucket",
    ] {
        assert!(queried.contains(metric), "no panel queries {metric}");
    }
}
