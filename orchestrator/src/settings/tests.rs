//! The settings' parsing, defaults, lookups and warnings, tested on YAML text.

use super::*;
use bosun_bus::policy::PolicyPhase;
#[test]
fn settings_parse_with_defaults_and_tenants() {
    let text = "
listen: 127.0.0.1:9000
tenants:
  - owner: Acme
    webhook_secret: { env: ACME_SECRET }
    slack_webhook: { value: http://127.0.0.1:1/hook }
    policies:
      - plugin: no-critical-vulns
        with: { threshold: high }
        phases: [after-stage]
repositories:
  - name: acme/shop
    pipeline: |
      pipeline:
        stages: [lint]
";
    let s = ServerSettings::parse(Path::new("bosun.yaml"), text).unwrap();
    assert_eq!(s.bus, "memory://");
    let tenant = s.tenant("acme").unwrap();
    assert_eq!(
        tenant.slack_webhook.resolve().as_deref(),
        Some("http://127.0.0.1:1/hook")
    );
    let policy = &tenant.policies[0];
    assert!(policy.applies("security", PolicyPhase::AfterStage));
    assert!(!policy.applies("security", PolicyPhase::BeforeStage));
    assert!(s.fallback_pipeline("ACME/shop").unwrap().contains("lint"));
    assert_eq!(s.base_url(), "http://127.0.0.1:9000");
}

#[test]
fn a_tenant_whose_webhook_secret_is_unset_is_warned_about_by_name() {
    let s = ServerSettings::parse(
            Path::new("s.yaml"),
            "tenants:\n  - owner: acme\n    webhook_secret: { env: BOSUN_TEST_SURELY_UNSET_SECRET }\n  - owner: bravo\n  - owner: carol\n    webhook_secret: { value: s3cret }\n",
        )
        .unwrap();
    // bravo configures no secret at all: it takes no webhooks, on purpose.
    let warnings = s.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("acme") && warnings[0].contains("BOSUN_TEST_SURELY_UNSET_SECRET"));
}

#[test]
fn a_production_secret_reaches_only_production_deploys_from_the_default_branch() {
    let grant = SecretGrant {
        name: "KUBE_PROD".into(),
        stages: vec![],
        events: vec![],
        environments: vec!["production".into()],
        default_branch_only: true,
    };
    let used = |environment, on_default_branch| SecretUse {
        stage: "deploy",
        event: "push",
        environment,
        on_default_branch,
    };
    assert!(grant.applies(&used(Some("Production"), true)));
    assert!(
        !grant.applies(&used(Some("production"), false)),
        "a feature branch"
    );
    assert!(
        !grant.applies(&used(Some("staging"), true)),
        "another environment"
    );
    assert!(
        !grant.applies(&used(None, true)),
        "a stage that deploys nowhere"
    );
}

#[test]
fn an_open_api_beyond_loopback_and_an_unset_api_token_are_warned_about() {
    let parse = |text: &str| ServerSettings::parse(Path::new("s.yaml"), text).unwrap();
    assert!(parse("listen: 127.0.0.1:8080\n").warnings().is_empty());
    assert!(parse("listen: '[::1]:8080'\n").warnings().is_empty());
    assert!(parse("listen: localhost:8080\n").warnings().is_empty());
    let open = parse("listen: 0.0.0.0:8080\n").warnings();
    assert!(
        open.len() == 1 && open[0].contains("no api_token"),
        "{open:?}"
    );
    let unset = parse("listen: 0.0.0.0:8080\napi_token: { env: BOSUN_TEST_SURELY_UNSET_TOKEN }\n")
        .warnings();
    assert!(
        unset.len() == 1 && unset[0].contains("refused"),
        "{unset:?}"
    );
}

#[test]
fn trust_settings_parse_and_default_to_the_narrowest() {
    let s = ServerSettings::parse(
            Path::new("s.yaml"),
            "clone_schemes: [https, ssh]\ntenants:\n  - owner: Acme\n    network_stages: [build]\n    pull_requests: { from_forks: ignore, network: true }\n    clone_hosts: [github.com]\n    image_prefix: registry/acme/\n    secrets:\n      - { name: KUBE, stages: [deploy] }\n  - owner: bravo\n",
        )
        .unwrap();
    assert_eq!(s.clone_schemes, [CloneScheme::Https, CloneScheme::Ssh]);
    let acme = s.tenant("acme").unwrap();
    assert_eq!(acme.pull_requests.from_forks, ForkRuns::Ignore);
    assert_eq!(
        acme.push_repository("Acme/Shop").as_deref(),
        Some("registry/acme/shop")
    );
    let used = |stage, event| SecretUse {
        stage,
        event,
        environment: None,
        on_default_branch: true,
    };
    assert_eq!(acme.granted_secrets(&used("deploy", "push")), ["KUBE"]);
    assert!(
        acme.granted_secrets(&used("deploy", "pull_request"))
            .is_empty()
    );
    assert!(acme.granted_secrets(&used("test", "push")).is_empty());
    let bravo = s.tenant("bravo").unwrap();
    assert_eq!(bravo.pull_requests.from_forks, ForkRuns::Approve);
    assert!(!bravo.pull_requests.network);
    assert_eq!(
        bravo.push_repository("bravo/app").as_deref(),
        Some("bravo/app")
    );
    let defaults = ServerSettings::parse(Path::new("s.yaml"), "{}").unwrap();
    assert_eq!(defaults.clone_schemes, [CloneScheme::Https]);
    let err = ServerSettings::parse(Path::new("s.yaml"), "clone_schemes: [file]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("file"), "{err}");
}

#[test]
fn unknown_keys_and_duplicate_tenants_are_named() {
    let err = ServerSettings::parse(Path::new("s.yaml"), "tenantz: []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("s.yaml") && err.contains("tenantz"), "{err}");
    let err = ServerSettings::parse(
        Path::new("s.yaml"),
        "tenants:\n  - owner: a\n  - owner: A\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("listed twice"), "{err}");
}

const SCHEDULED: &str = "
tenants:
  - owner: acme
    time_zone: Europe/Paris
    clone_hosts: [github.com]
    schedules:
      - repository: acme/shop
        clone_url: https://github.com/acme/shop.git
        branch: main
        cron: \"0 3 * * *\"
      - repository: acme/shop
        clone_url: https://github.com/acme/shop.git
        branch: release/1.x
        cron: \"@weekly\"
        default_branch: main
  - owner: bravo
";

#[test]
fn schedules_parse_in_their_tenants_time_zone() {
    let s = ServerSettings::parse(Path::new("s.yaml"), SCHEDULED).unwrap();
    let schedules = s.schedules().unwrap();
    assert_eq!(schedules.len(), 2);
    let nightly = &schedules[0];
    assert_eq!(
        (nightly.tenant.as_str(), nightly.branch.as_str()),
        ("acme", "main")
    );
    assert_eq!(nightly.timing.zone_name(), "Europe/Paris");
    assert_eq!(nightly.key(), "acme/shop@main 0 3 * * *");
    assert_eq!(schedules[1].default_branch.as_deref(), Some("main"));
    // No zone: UTC.
    let utc = SCHEDULED.replace("    time_zone: Europe/Paris\n", "");
    let s = ServerSettings::parse(Path::new("s.yaml"), &utc).unwrap();
    assert_eq!(s.schedules().unwrap()[0].timing.zone_name(), "UTC");
}

#[test]
fn a_bad_schedule_is_refused_naming_the_tenant_the_schedule_and_the_setting() {
    let err = |from: &str, to: &str| {
        let text = SCHEDULED.replacen(from, to, 1);
        assert_ne!(text, SCHEDULED, "{from:?} is in the sample");
        ServerSettings::parse(Path::new("s.yaml"), &text)
            .unwrap_err()
            .to_string()
    };
    let cron = err("\"0 3 * * *\"", "\"0 27 * * *\"");
    assert!(
        cron.contains("s.yaml")
            && cron.contains("tenant acme, schedule 1 (acme/shop main)")
            && cron.contains("`cron` \"0 27 * * *\""),
        "{cron}"
    );
    let zone = err("Europe/Paris", "Europe/Pariss");
    assert!(
        zone.contains("tenant acme: `time_zone` \"Europe/Pariss\" is not an IANA time zone"),
        "{zone}"
    );
    let branch = err("        branch: main\n", "");
    assert!(
        branch.contains("tenant acme, schedule 1 (acme/shop): `branch` is missing"),
        "{branch}"
    );
    let bad_branch = err("branch: release/1.x", "branch: release..x");
    assert!(
        bad_branch.contains("schedule 2") && bad_branch.contains("`branch` \"release..x\""),
        "{bad_branch}"
    );
    let url = err("https://github.com/acme/shop.git", "file:///srv/acme/shop");
    assert!(
        url.contains("schedule 1") && url.contains("`clone_url`") && url.contains("file://"),
        "{url}"
    );
    let host = err(
        "https://github.com/acme/shop.git",
        "https://git.example/acme/shop.git",
    );
    assert!(host.contains("`clone_hosts`"), "{host}");
    let other = err("repository: acme/shop", "repository: bravo/shop");
    assert!(
        other.contains("`repository` \"bravo/shop\" is not an owner/name of tenant acme"),
        "{other}"
    );
    let same = SCHEDULED
        .replace("\"@weekly\"", "\"0 3 * * *\"")
        .replace("release/1.x", "main");
    let twice = ServerSettings::parse(Path::new("s.yaml"), &same)
        .unwrap_err()
        .to_string();
    assert!(
        twice.contains(
            "schedule 2 (acme/shop main): the same repository, branch and `cron` as schedule 1"
        ),
        "{twice}"
    );
    let unknown = err("        cron: \"@weekly\"", "        crn: \"@weekly\"");
    assert!(unknown.contains("crn"), "{unknown}");
}

#[test]
fn a_tenants_email_settings_parse_and_a_bad_recipient_names_the_tenant() {
    let text = "tenants:\n  - owner: acme\n    email:\n      smtp_host: smtp.acme.example\n      username: ci\n      password: { env: ACME_SMTP_PASSWORD }\n      from: Bosun <ci@acme.example>\n      to: [team@acme.example]\n";
    let s = ServerSettings::parse(Path::new("s.yaml"), text).unwrap();
    let email = s.tenant("acme").unwrap().email.as_ref().unwrap();
    assert_eq!((email.smtp_port, email.notifier.as_str()), (587, "email"));
    let err = ServerSettings::parse(
        Path::new("s.yaml"),
        &text.replace("team@acme.example", "team at acme"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("orchestrator settings s.yaml: tenant acme: email.to `team at acme`"),
        "{err}"
    );
}

#[test]
fn cluster_settings_parse_with_defaults_and_warn_where_orchestrators_could_not_share() {
    let parse = |text: &str| ServerSettings::parse(Path::new("bosun.yaml"), text).unwrap();
    let shared = parse(
        "bus: kafka://kafka:9092\nstore: postgres://bosun:pw@db:5432/bosun\ncluster: { id: orch-a }\n",
    );
    let cluster = shared.cluster.clone().unwrap();
    assert_eq!(cluster.owner_id(), "orch-a");
    assert_eq!(cluster.lease().as_millis(), 10_000);
    assert_eq!(cluster.inbox_poll().as_millis(), 50);
    assert_eq!(shared.cluster_warning(), None);
    // Without an id, two processes never share a name.
    let unnamed = ClusterSettings::default();
    assert_ne!(unnamed.owner_id(), unnamed.owner_id());

    let memory = parse("cluster: {}\n");
    assert!(memory.warnings().iter().any(|w| w.contains("memory://")));
    let sqlite = parse("bus: kafka://kafka:9092\ncluster: {}\n");
    let warning = sqlite.cluster_warning().unwrap();
    assert!(
        warning.contains("SQLite") && warning.contains("postgres://"),
        "{warning}"
    );
    let short =
        parse("bus: kafka://k:9092\nstore: postgres://b@db/b\ncluster: { lease_ms: 200 }\n");
    assert!(short.cluster_warning().unwrap().contains("1000 is used"));
    assert_eq!(short.cluster.unwrap().lease().as_millis(), 1_000);
    let unknown = ServerSettings::parse(Path::new("bosun.yaml"), "cluster: { leese_ms: 5 }\n");
    assert!(unknown.unwrap_err().to_string().contains("leese_ms"));
}
