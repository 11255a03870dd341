//! Human-readable and JSON views of plugins and stage results for the terminal.

use bosun_bus::StageResult;
use bosun_host::LoadedPlugin;
use std::path::Path;

/// A plugin as JSON.
pub fn plugin_json(plugin: &LoadedPlugin) -> serde_json::Value {
    serde_json::json!({
        "accepted": true,
        "name": plugin.id.name,
        "version": plugin.id.version,
        "digest": plugin.id.digest,
        "world": plugin.kind.world(),
        "description": plugin.description,
        "source": plugin.source.to_string(),
    })
}

/// A plugin's identity, one field per line.
pub fn print_plugin(plugin: &LoadedPlugin) {
    println!("name      {}", plugin.id.name);
    println!("version   {}", plugin.id.version);
    let (major, minor, _) = bosun_host::bindings::PACKAGE_VERSION;
    println!(
        "world     {} (bosun:agent@{major}.{minor})",
        plugin.kind.world()
    );
    println!("digest    {}", plugin.id.digest);
    if !plugin.description.is_empty() {
        println!("about     {}", plugin.description);
    }
}

/// Loaded plugins as a table.
pub fn print_plugin_table(plugins: &[std::sync::Arc<LoadedPlugin>]) {
    println!(
        "{:<20} {:<10} {:<9} {:<20} SOURCE",
        "NAME", "VERSION", "WORLD", "DIGEST"
    );
    for p in plugins {
        let short = p.id.digest.get(..19).unwrap_or(&p.id.digest);
        println!(
            "{:<20} {:<10} {:<9} {:<20} {}",
            p.id.name,
            p.id.version,
            p.kind.world(),
            short,
            p.source
        );
    }
}

/// A stage result for people: outcome, findings, tests, logs.
pub fn print_result(result: &StageResult, out: &Path) {
    if let Some(plugin) = &result.plugin {
        println!(
            "plugin    {} {} ({})",
            plugin.name, plugin.version, plugin.digest
        );
    }
    println!("task      {}  ({} ms)", result.task_id, result.duration_ms);
    for line in &result.logs {
        println!(
            "  [{:>6} ms] {:<6} {}",
            line.at_ms, line.source, line.message
        );
    }
    if result.logs_dropped_bytes > 0 {
        println!(
            "  … {} log bytes dropped at the cap",
            result.logs_dropped_bytes
        );
    }
    if let Some(failure) = &result.failure {
        println!("error     {:?}: {}", failure.kind, failure.message);
        return;
    }
    let Some(report) = &result.report else {
        return;
    };
    println!("outcome   {:?}: {}", report.outcome, report.summary);
    for f in report.findings.iter().take(50) {
        let place = match (&f.path, f.line) {
            (Some(p), Some(l)) => format!("{p}:{l}"),
            (Some(p), None) => p.clone(),
            _ => "-".into(),
        };
        println!(
            "  {:<8} {:<12} {place}  {}",
            format!("{:?}", f.severity),
            f.rule,
            f.message
        );
    }
    if report.findings.len() > 50 {
        println!("  … and {} more findings", report.findings.len() - 50);
    }
    if let Some(t) = &report.tests {
        println!(
            "tests     {} total, {} passed, {} failed, {} errors, {} skipped",
            t.total, t.passed, t.failed, t.errors, t.skipped
        );
    }
    for f in &report.test_failures {
        println!("  FAILED  {}::{}  {}", f.suite, f.name, f.message);
    }
    if let Some(c) = &report.coverage {
        println!("coverage  {:.1}% of {} lines", c.percent(), c.lines_total);
    }
    for a in &report.artifacts {
        println!("artifact  {} {} {}", a.kind, a.name, a.reference);
    }
    if report.truncated {
        println!("note      the report was cut at the host's size caps");
    }
    println!("out       {}", out.display());
}
