//! The `containers` capability: requests are checked, capped and masked before any
//! runner sees them. A recording runner stands in for Docker here (the Docker runner
//! has its own tests against the real engine).

use crate::common::*;
use bosun_bus::Task;
use bosun_host::bindings::{ContainerError, ContainerOutput, ContainerRequest};
use bosun_host::{ContainerContext, ContainerRunner, RunFuture};
use bosun_test_support::assert_contains;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct RecordingRunner {
    seen: Mutex<Vec<(ContainerRequest, String)>>,
}

impl ContainerRunner for RecordingRunner {
    fn describe(&self) -> String {
        "recording".into()
    }

    fn run<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ContainerRequest,
    ) -> RunFuture<'a> {
        Box::pin(async move {
            let echoed = format!("{} leaked s3cr3t-token", request.argv.join(" "));
            self.seen.lock().unwrap().push((
                request,
                format!("{}/{}/{}", context.run_id, context.stage, context.attempt),
            ));
            Ok(ContainerOutput {
                exit_code: 3,
                stdout: echoed,
                stderr: String::new(),
                truncated: false,
                duration_ms: 7,
            })
        })
    }
}

#[tokio::test]
async fn containers_request_reaches_runner_checked_and_masked() {
    let runner = Arc::new(RecordingRunner::default());
    let rt = runtime().with_containers(runner.clone());
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(
        &rt,
        &plugin,
        &d,
        &[
            ("mode", "container"),
            ("image", "bosun/python-tools"),
            ("argv", "pylint,--version"),
        ],
    )
    .await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("{:?}", result.failure));
    assert!(
        report.summary.contains('3'),
        "exit code in summary: {}",
        report.summary
    );
    assert_contains(&report.summary, "pylint --version leaked ***");
    assert!(!report.summary.contains("s3cr3t-token"));
    let seen = runner.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (request, who) = &seen[0];
    assert_eq!(request.image, "bosun/python-tools");
    assert_eq!(request.argv, ["pylint", "--version"]);
    assert!(request.timeout_ms <= test_limits().deadline.as_millis() as u32);
    assert!(!request.network);
    assert_eq!(who, "run-42/lint/1");
}

#[tokio::test]
async fn containers_unavailable_without_runtime_is_a_tool_error() {
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(
        &rt,
        &plugin,
        &d,
        &[("mode", "container"), ("image", "img"), ("argv", "true")],
    )
    .await;
    let failure = result.failure.unwrap();
    assert_eq!(failure.kind, bosun_bus::StageFailureKind::ToolFailed);
    assert_contains(&failure.message, "no container runtime");
    let _ = ContainerError::Unavailable(String::new());
}

/// A runner standing in for an agent with `--registry 127.0.0.1:5000`: it records each
/// tool's argv and writes the digest file a Kaniko executor would.
#[derive(Default)]
struct KanikoRunner {
    seen: Mutex<Vec<Vec<String>>>,
}

impl ContainerRunner for KanikoRunner {
    fn describe(&self) -> String {
        "recording kaniko".into()
    }

    fn image_registry(&self) -> Option<String> {
        Some("127.0.0.1:5000".into())
    }

    fn run<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ContainerRequest,
    ) -> RunFuture<'a> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(request.argv);
            let digest = format!("sha256:{}", "ab".repeat(32));
            std::fs::write(context.out.join("kaniko-digest"), digest).unwrap();
            Ok(ContainerOutput {
                exit_code: 0,
                stdout: String::new(),
                stderr: String::new(),
                truncated: false,
                duration_ms: 1,
            })
        })
    }
}

#[tokio::test]
async fn containers_kaniko_pushes_only_the_image_the_tenant_prefix_grants() {
    let runner = Arc::new(KanikoRunner::default());
    let rt = runtime().with_containers(runner.clone());
    let plugin = load_builtin(&rt, "build").await;
    let d = dirs();
    std::fs::write(d.workspace.join("Dockerfile"), "FROM scratch\n").unwrap();
    // The tenant's `image_prefix` is `images/acme-`: the operator's name for acme/app is
    // images/acme-app, which the orchestrator puts on the task and in the build's config.
    let mut granted = call(&d);
    granted.network_allowed = true;
    granted.push_repository = Some("images/acme-app".into());
    granted.image_repository = Some("images/acme-app".into());
    let build = |extra: &[(&'static str, &'static str)]| {
        let mut config = vec![("builder", "kaniko"), ("kaniko_image", "bosun/kaniko")];
        config.extend_from_slice(extra);
        Task {
            stage: "build".into(),
            ..task(&config)
        }
    };
    let result = rt
        .run_stage(
            &plugin,
            &build(&[("repository", "images/acme-app")]),
            &granted,
        )
        .await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("{:?}", result.failure));
    assert_contains(&report.summary, "127.0.0.1:5000/images/acme-app:0123456");
    let argv = runner.seen.lock().unwrap().pop().unwrap().join(" ");
    assert_contains(
        &argv,
        "--destination 127.0.0.1:5000/images/acme-app:0123456789abcdef0123456789abcdef01234567",
    );
    // The repository's own `with:` names another image, or another registry: the host
    // refuses before any tool runs, naming the image and the tenant setting.
    for extra in [
        vec![("repository", "acme/app")],
        vec![("repository", "bravo/app")],
        vec![
            ("repository", "images/acme-app"),
            ("registry", "evil.example.com"),
        ],
    ] {
        let result = rt.run_stage(&plugin, &build(&extra), &granted).await;
        let failure = result
            .failure
            .unwrap_or_else(|| panic!("{extra:?} should be refused: {:?}", result.report));
        assert_eq!(
            failure.kind,
            bosun_bus::StageFailureKind::InvalidConfig,
            "{failure:?}"
        );
        for part in [
            "bosun/kaniko",
            "images/acme-app (or a path under it)",
            "`image_prefix`",
        ] {
            assert_contains(&failure.message, part);
        }
    }
    assert!(
        runner.seen.lock().unwrap().is_empty(),
        "no refused run reached the runner"
    );
}
