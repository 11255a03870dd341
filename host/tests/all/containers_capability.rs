//! The `containers` capability: requests are checked, capped and masked before any
//! runner sees them. A recording runner stands in for Docker here (the Docker runner
//! has its own tests against the real engine).

use crate::common::*;
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
