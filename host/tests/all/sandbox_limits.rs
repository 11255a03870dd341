//! Hostile plugins hit the sandbox's limits, get a clear error, and the host carries on.

use crate::common::*;
use bosun_bus::StageFailureKind;
use bosun_host::SandboxLimits;
use bosun_test_support::assert_contains;
use std::time::Duration;

async fn hostile_failure(
    limits: SandboxLimits,
    mode: &str,
) -> (bosun_bus::StageFailure, bosun_bus::StageResult) {
    let rt = runtime_with(limits);
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", mode)]).await;
    let failure = result
        .failure
        .clone()
        .unwrap_or_else(|| panic!("mode {mode} should fail, got report {:?}", result.report));
    assert_host_still_serves(&rt, &plugin).await;
    (failure, result)
}

#[tokio::test]
async fn sandbox_memory_of_one_call_is_gone_in_the_next() {
    // Pool slots keep the pages a call wrote mapped for the next call; they must come
    // back as a fresh instance's: statics at their initial values, the heap zeroed.
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    for _ in 0..4 {
        let result = run_mode(&rt, &plugin, &d, &[("mode", "residue")]).await;
        let report = result
            .report
            .unwrap_or_else(|| panic!("residue failed: {:?}", result.failure));
        assert_eq!(report.summary, "calls 1, non-zero bytes 0");
    }
}

#[tokio::test]
async fn sandbox_infinite_loop_stopped_at_deadline() {
    let limits = SandboxLimits {
        deadline: Duration::from_millis(300),
        ..test_limits()
    };
    let (failure, _) = hostile_failure(limits, "spin").await;
    assert_eq!(failure.kind, StageFailureKind::DeadlineExceeded);
    assert_contains(&failure.message, "deadline exceeded");
}

#[tokio::test]
async fn sandbox_deadline_exceeded_while_blocked_in_host_call() {
    let limits = SandboxLimits {
        deadline: Duration::from_millis(300),
        ..test_limits()
    };
    let rt = runtime_with(limits);
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "sleep"), ("ms", "60000")]).await;
    assert_eq!(
        result.failure.unwrap().kind,
        StageFailureKind::DeadlineExceeded
    );
}

#[tokio::test]
async fn sandbox_sleep_within_deadline_completes() {
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "sleep"), ("ms", "20")]).await;
    assert_eq!(result.report.unwrap().summary, "slept 20 ms");
}

#[tokio::test]
async fn sandbox_memory_bomb_stopped_at_limit() {
    let (failure, _) = hostile_failure(test_limits(), "memory").await;
    assert_eq!(
        failure.kind,
        StageFailureKind::MemoryLimit,
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains("memory limit of 67108864 bytes exceeded"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn sandbox_unbounded_recursion_traps_with_stack_overflow() {
    let (failure, _) = hostile_failure(test_limits(), "recurse").await;
    assert_eq!(
        failure.kind,
        StageFailureKind::StackOverflow,
        "{}",
        failure.message
    );
    assert!(failure.message.contains("stack overflow"));
}

#[tokio::test]
async fn sandbox_fuel_exhausted_when_metered() {
    let limits = SandboxLimits {
        fuel: Some(50_000_000),
        ..test_limits()
    };
    let (failure, _) = hostile_failure(limits, "spin").await;
    assert_eq!(
        failure.kind,
        StageFailureKind::FuelExhausted,
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn sandbox_panic_becomes_stage_error_with_message() {
    let (failure, _) = hostile_failure(test_limits(), "panic").await;
    assert_eq!(
        failure.kind,
        StageFailureKind::Panicked,
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains("hostile plugin panicked on purpose"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn sandbox_log_flood_is_capped() {
    // Pushing 100 MB through WASI takes seconds on a loaded machine; this test is
    // about the caps, not the deadline.
    let rt = runtime_with(SandboxLimits {
        deadline: Duration::from_secs(60),
        ..test_limits()
    });
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "log-flood")]).await;
    assert!(result.report.is_some(), "{:?}", result.failure);
    let kept: usize = result.logs.iter().map(|l| l.message.len()).sum();
    let limits = test_limits();
    assert!(kept <= limits.log_total_bytes, "kept {kept} bytes");
    assert!(
        result.logs_dropped_bytes >= 99 << 20,
        "dropped {}",
        result.logs_dropped_bytes
    );
    assert!(
        result
            .logs
            .iter()
            .all(|l| l.message.len() <= limits.log_line_bytes + 32)
    );
    assert_host_still_serves(&rt, &plugin).await;
}

#[tokio::test]
async fn sandbox_stdout_flood_is_capped() {
    // Pushing 100 MB through WASI takes seconds on a loaded machine; this test is
    // about the caps, not the deadline.
    let rt = runtime_with(SandboxLimits {
        deadline: Duration::from_secs(60),
        ..test_limits()
    });
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "stdout-flood")]).await;
    assert!(result.report.is_some(), "{:?}", result.failure);
    let kept: usize = result.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= test_limits().log_total_bytes);
    assert!(
        result
            .logs
            .iter()
            .all(|l| l.source == "stdout" || l.source == "log" || l.source == "host")
    );
    // The cut is said once, as the last line.
    let cut: Vec<&str> = result
        .logs
        .iter()
        .filter(|l| l.source == "host")
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].starts_with("… output cut at "), "{cut:?}");
    assert!(
        result.logs_dropped_bytes >= 99 << 20,
        "dropped {}",
        result.logs_dropped_bytes
    );
}

#[tokio::test]
async fn sandbox_huge_report_is_capped() {
    let limits = SandboxLimits {
        memory_bytes: 256 << 20,
        ..test_limits()
    };
    let rt = runtime_with(limits.clone());
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "huge-report")]).await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("{:?}", result.failure));
    assert!(report.truncated);
    assert!(report.summary.len() <= limits.report.text_bytes + 32);
    assert_host_still_serves(&rt, &plugin).await;
}

#[tokio::test]
async fn sandbox_unknown_mode_is_a_config_error() {
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "teleport")]).await;
    let failure = result.failure.unwrap();
    assert_eq!(failure.kind, StageFailureKind::InvalidConfig);
    assert_contains(&failure.message, "teleport");
    assert!(
        failure.message.starts_with("plugin hostile"),
        "{}",
        failure.message
    );
}
