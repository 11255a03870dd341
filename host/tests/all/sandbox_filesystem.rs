//! A plugin sees only its read-only `/workspace` and writable `/out`: no escape, no env.

use crate::common::*;
use bosun_test_support::assert_contains;

#[tokio::test]
async fn sandbox_escape_attempts_are_denied() {
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    std::os::unix::fs::symlink("/etc/passwd", d.workspace.join("link-to-passwd")).unwrap();
    std::os::unix::fs::symlink("/etc", d.workspace.join("link-to-etc")).unwrap();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "escape")]).await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("{:?}", result.failure));
    let expected = [
        "etc-passwd",
        "dotdot",
        "relative-dotdot",
        "symlink-file",
        "symlink-dir",
        "write-workspace",
        "list-root",
        "env",
    ];
    for rule in expected {
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no finding for attempt {rule}: {:?}", report.findings));
        assert!(
            finding.message.starts_with("denied:"),
            "attempt {rule} was not denied: {}",
            finding.message
        );
    }
    assert!(!d.workspace.join("new-file").exists());
    assert_host_still_serves(&rt, &plugin).await;
}

#[tokio::test]
async fn sandbox_out_folder_is_writable() {
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = run_mode(&rt, &plugin, &d, &[("mode", "write-out")]).await;
    assert!(result.report.is_some(), "{:?}", result.failure);
    let written = std::fs::read_to_string(d.out.join("result.txt")).unwrap();
    assert_eq!(written, "written by hostile");
}

#[tokio::test]
async fn sandbox_missing_workspace_is_an_infrastructure_error() {
    let rt = runtime();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let mut c = call(&d);
    c.workspace = d.root.path().join("does-not-exist");
    let result = rt.run_stage(&plugin, &task(&[("mode", "echo")]), &c).await;
    let failure = result.failure.unwrap();
    assert_eq!(failure.kind, bosun_bus::StageFailureKind::Infrastructure);
    assert_contains(&failure.message, "does-not-exist");
}

#[tokio::test]
async fn builtin_todo_scan_reports_markers_with_locations() {
    let rt = runtime();
    let builtin = bosun_builtins::BUILTINS
        .iter()
        .find(|b| b.file_name == "todo-scan.wasm")
        .unwrap();
    let plugin = rt
        .load(
            bosun_host::PluginSource::Builtin("todo-scan".into()),
            builtin.bytes,
        )
        .await
        .unwrap();
    assert_eq!(plugin.id.name, "todo-scan");
    assert!(plugin.id.digest.starts_with("sha256:"));
    let d = dirs();
    std::fs::create_dir_all(d.workspace.join("src")).unwrap();
    std::fs::write(d.workspace.join("src/lib.rs"), "fn a() {}\n// FIXME: b\n").unwrap();
    let result = run_mode(&rt, &plugin, &d, &[]).await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("{:?}", result.failure));
    assert_eq!(report.outcome, bosun_bus::Outcome::Success);
    assert_eq!(report.findings.len(), 2);
    let fixme = report.findings.iter().find(|f| f.rule == "FIXME").unwrap();
    assert_eq!(fixme.path.as_deref(), Some("src/lib.rs"));
    assert_eq!(fixme.line, Some(2));
    assert_eq!(result.plugin.unwrap().digest, plugin.id.digest);

    let over = run_mode(&rt, &plugin, &d, &[("max_markers", "1")]).await;
    assert_eq!(over.report.unwrap().outcome, bosun_bus::Outcome::Failure);
    let bad = run_mode(&rt, &plugin, &d, &[("max_markers", "many")]).await;
    assert_eq!(
        bad.failure.unwrap().kind,
        bosun_bus::StageFailureKind::InvalidConfig
    );
}
