//! Command steps without an engine: `check_step`'s rules, the step's folders, the
//! generated script run by a real `/bin/sh`, and services' checks.

use super::*;
use std::time::{Duration, Instant};

fn context(network_allowed: bool) -> ContainerContext {
    ContainerContext {
        run_id: "r1".into(),
        stage: "test".into(),
        attempt: 1,
        commit: "abc".into(),
        branch: "main".into(),
        commit_message: String::new(),
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        event: "push".into(),
        workspace: PathBuf::from("/nonexistent"),
        out: PathBuf::from("/nonexistent"),
        network_allowed,
        deadline: Instant::now() + Duration::from_secs(60),
        secrets: vec![("TOKEN".into(), "s3cret".into())],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        artifacts: None,
        tool_log: None,
    }
}

fn request(commands: &[&str]) -> StepRequest {
    StepRequest {
        image: "bosun/python:3.11".into(),
        commands: commands.iter().map(|c| c.to_string()).collect(),
        env: Vec::new(),
        timeout_ms: 0,
        network: false,
        cache_paths: vec!["~/.cache/pip".into()],
        cache_key: String::new(),
        collect: vec!["./reports/*.xml".into()],
        services: Vec::new(),
    }
}

fn denied(result: Result<StepRequest, ContainerError>) -> String {
    match result {
        Err(ContainerError::Denied(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn steps_keep_every_tool_rule_and_their_own() {
    let ok = check_step(&context(false), request(&["pytest"])).unwrap();
    assert_eq!(ok.collect, vec!["reports/*.xml"], "./ is dropped");
    assert!(ok.timeout_ms > 0 && ok.timeout_ms <= 60_000, "capped");

    let mut networked = request(&["pip install ."]);
    networked.network = true;
    assert!(denied(check_step(&context(false), networked.clone())).contains("network"));
    assert!(check_step(&context(true), networked).is_ok());

    assert!(denied(check_step(&context(false), request(&[]))).contains("no commands"));
    assert!(denied(check_step(&context(false), request(&["ok", " "]))).contains("command 2"));

    let mut reserved = request(&["true"]);
    reserved.env.push(("BOSUN_BRANCH".into(), "main".into()));
    assert!(denied(check_step(&context(false), reserved)).contains("BOSUN_BRANCH"));

    let mut secret = request(&["true"]);
    secret.env.push(("T".into(), "${{ secrets.TOKEN }}".into()));
    assert!(denied(check_step(&context(false), secret)).contains("not granted"));

    for bad in ["/etc/passwd", "~/../../etc", "../outside", "/usr/lib"] {
        let mut cache = request(&["true"]);
        cache.cache_paths = vec![bad.into()];
        assert!(
            denied(check_step(&context(false), cache)).contains("cache path"),
            "{bad}"
        );
    }
    for bad in ["/abs/junit.xml", "../up.xml", "reports/../../x"] {
        let mut collect = request(&["true"]);
        collect.collect = vec![bad.into()];
        assert!(
            denied(check_step(&context(false), collect)).contains("report path"),
            "{bad}"
        );
    }
}

#[test]
fn cached_paths_land_in_the_step_folders() {
    assert_eq!(cache_target("~/.cache/pip"), Some("home/.cache/pip".into()));
    assert_eq!(cache_target("/home/bosun/.npm/"), Some("home/.npm".into()));
    assert_eq!(cache_target("/tmp/venv"), Some("tmp/venv".into()));
    assert_eq!(
        cache_target("./node_modules"),
        Some("workspace/node_modules".into())
    );
    assert_eq!(cache_target("/var/cache"), None);
    assert_eq!(cache_target("~/"), None);
}

/// Run the generated script with the host's `/bin/sh`, its container paths moved into
/// a temporary folder.
fn run_script(commands: &[&str]) -> (i32, String, Option<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("checkout");
    fs::create_dir_all(checkout.join("sub")).unwrap();
    let dirs = StepDirs::prepare(&dir.path().join("scratch"), &checkout).unwrap();
    let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
    dirs.write_script(&commands).unwrap();
    let relocate = |text: String| {
        // `/tmp/` first: the folders substituted below live under the host's /tmp.
        text.replace("/tmp/", &format!("{}/", dirs.tmp().display()))
            .replace("/workspace", &dirs.workspace().display().to_string())
            .replace(
                &format!("{SCRIPT_DIR}/"),
                &format!("{}/", dirs.script_dir().display()),
            )
    };
    let main = relocate(fs::read_to_string(dirs.script_dir().join("step.sh")).unwrap());
    fs::write(dirs.script_dir().join("step.sh"), main).unwrap();
    let output = std::process::Command::new("/bin/sh")
        .arg("-e")
        .arg(dirs.script_dir().join("step.sh"))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        dirs.command_reached(),
    )
}

#[test]
fn the_script_stops_at_the_first_failing_command_with_its_status() {
    let (code, out, reached) = run_script(&["echo one", "cd sub && pwd", "exit 3", "echo never"]);
    assert_eq!(code, 3);
    assert_eq!(reached, Some(2));
    assert!(out.contains("+ echo one\none\n"), "{out}");
    assert!(out.contains("/sub\n"), "cd carries over: {out}");
    assert!(!out.contains("never\n"), "{out}");
}

#[test]
fn one_command_cannot_run_into_the_next() {
    // A trailing backslash or an open quote stays in its own file.
    let (code, out, _) = run_script(&["echo 'it''s' \\", "echo after"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("after\n"), "{out}");
    let (code, _, reached) = run_script(&["echo \"unclosed", "echo after"]);
    assert_ne!(code, 0);
    assert_eq!(reached, Some(0));
}

fn service(name: &str) -> crate::bindings::StepService {
    crate::bindings::StepService {
        name: name.into(),
        image: "bosun/redis:7".into(),
        env: Vec::new(),
        command: Vec::new(),
        ready_tcp: Some(6379),
        ready_command: None,
        ready_timeout_ms: 0,
    }
}

#[test]
fn services_keep_the_step_rules_and_names_the_step_can_resolve() {
    let with = |services: Vec<crate::bindings::StepService>| {
        let mut step = request(&["pytest"]);
        step.services = services;
        step.network = true;
        step
    };
    // From the attacker's side: the network a step shares with its services reaches
    // the agent's host, so a step with no network grant gets no services at all.
    let mut unnetworked = with(vec![service("cache")]);
    unnetworked.network = false;
    assert!(denied(check_step(&context(false), unnetworked)).contains("services need network"));
    let ok = check_step(
        &context(true),
        with(vec![service("cache"), service("db-1")]),
    )
    .unwrap();
    assert_eq!(
        ok.services[0].ready_timeout_ms, 1_000,
        "a deadline is at least a second"
    );

    for bad in ["", "Cache", "db_1", "-db", "a.b", "db\0"] {
        assert!(
            denied(check_step(&context(true), with(vec![service(bad)]))).contains("host name"),
            "{bad:?}"
        );
    }
    assert!(
        denied(check_step(
            &context(true),
            with(vec![service("db"), service("db")])
        ))
        .contains("two services")
    );
    assert!(denied(check_step(&context(true), with(vec![service("db"); 9]))).contains("at most 8"));
    let mut no_image = service("db");
    no_image.image = " ".into();
    assert!(denied(check_step(&context(true), with(vec![no_image]))).contains("no image"));

    // A service's environment follows the step's rules: no reserved names, and secrets
    // only where the tenant grants them.
    let mut reserved = service("db");
    reserved.env.push(("BOSUN_RUN".into(), "x".into()));
    assert!(denied(check_step(&context(true), with(vec![reserved]))).contains("BOSUN_RUN"));
    let mut secret = service("db");
    secret
        .env
        .push(("POSTGRES_PASSWORD".into(), "${{ secrets.TOKEN }}".into()));
    assert!(denied(check_step(&context(true), with(vec![secret]))).contains("not granted"));
}
