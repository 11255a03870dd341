//! The run page's re-run parts: the note on a re-run (which run it repeats, that its
//! config and plugin digests are pinned, what it reused), the marker on reused stage
//! rows, and the button that re-runs a finished run's failed stages (or one of them).

use super::html::{Esc, Seg, badge, short_digest};
use crate::model::{RunRecord, RunStatus, StageRecord, StageState};
use std::fmt::Write as _;

/// The box saying the run re-runs another, with what is pinned and what was reused.
pub fn note(body: &mut String, run: &RunRecord) {
    let Some(rerun) = &run.rerun_of else { return };
    let _ = write!(
        body,
        "<div class=\"box\" id=\"rerun\"><p><strong>Re-run of run \
         <a class=\"mono\" href=\"/runs/{}\">{}</a></strong> ({}), asked by {}, with the \
         original's config <span class=\"mono\">{}</span> and plugin digests pinned: the \
         same commit and trigger, no new read of the repository.</p>",
        Seg(&rerun.run_id),
        Esc(&rerun.run_id),
        match &rerun.stage {
            Some(stage) => format!("stage <span class=\"mono\">{}</span>", Esc(stage)),
            None => "every stage that did not pass".to_string(),
        },
        Esc(&rerun.by),
        Esc(run.config_origin.as_deref().unwrap_or("")),
    );
    body.push_str("<table><tr><th>Runs again</th><th>Pinned plugin</th></tr>");
    for pin in &rerun.pins {
        let plugin = match &pin.plugin {
            Some(p) => format!(
                "{}@{} <span class=\"mono\" title=\"{}\">{}</span>",
                Esc(&p.name),
                Esc(&p.version),
                Esc(&p.digest),
                Esc(&short_digest(&p.digest))
            ),
            None => "<span class=\"muted\">none: its plugin never ran in the original</span>"
                .to_string(),
        };
        let _ = write!(
            body,
            "<tr><td class=\"mono\">{}</td><td>{plugin}</td></tr>",
            Esc(&pin.stage)
        );
    }
    body.push_str("</table>");
    let reused: Vec<String> = (run.stages.iter())
        .filter(|s| s.reused_from.is_some())
        .map(|s| format!("<span class=\"mono\">{}</span>", Esc(&s.name)))
        .collect();
    if !reused.is_empty() {
        let _ = write!(
            body,
            "<p class=\"muted\">Reused from the original, not run again: {}.</p>",
            reused.join(", ")
        );
    }
    body.push_str("</div>");
}

/// After a stage row's summary: that the result is reused, and from which run.
pub fn reused_marker(stage: &StageRecord) -> String {
    match &stage.reused_from {
        Some(from) => format!(
            " {} <span class=\"muted\">from run <a class=\"mono\" href=\"/runs/{}\">{}</a></span>",
            badge("reused"),
            Seg(from),
            Esc(from)
        ),
        None => String::new(),
    }
}

/// The stages a re-run would run again, when one is possible: the run has finished
/// with a config, and some stage did not pass.
fn failed_stages(run: &RunRecord) -> Vec<&StageRecord> {
    if !run.status.is_final() || run.status == RunStatus::ConfigError || run.config_source.is_none()
    {
        return Vec::new();
    }
    run.stages
        .iter()
        .filter(|s| {
            !(s.state == StageState::Success || (s.state == StageState::Skipped && !s.blocked))
        })
        .collect()
}

/// The form that re-runs what failed (or one failed stage) as a new run.
pub fn button(body: &mut String, run: &RunRecord) {
    let failed = failed_stages(run);
    if failed.is_empty() {
        return;
    }
    let _ = write!(
        body,
        "<form class=\"filter\" id=\"rerun-form\" method=\"post\" action=\"/runs/{}/rerun\">\
         <label>Re-run<select name=\"stage\"><option value=\"\">every stage that did not pass</option>",
        Seg(&run.id)
    );
    for stage in failed {
        let _ = write!(
            body,
            "<option value=\"{}\">{} and what needs it</option>",
            Esc(&stage.name),
            Esc(&stage.name)
        );
    }
    body.push_str(
        "</select></label><button type=\"submit\">Re-run failed stages</button>\
         <span class=\"muted\">A new run: stages that passed are reused, the rest run \
         again with this run's config and plugin digests pinned.</span></form>",
    );
}

#[cfg(test)]
mod tests {
    use super::super::run::{RunView, render};
    use crate::model::{
        Rerun, RunRecord, RunStatus, RunTrigger, StagePin, StageRecord, StageState,
    };
    use bosun_bus::PluginId;

    fn run(id: &str, status: RunStatus, stages: Vec<StageRecord>) -> RunRecord {
        RunRecord {
            id: id.into(),
            trigger: RunTrigger {
                tenant: "acme".into(),
                repository: "acme/shop".into(),
                clone_url: "file:///srv/shop".into(),
                default_branch: "main".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: "main".into(),
                event: "push".into(),
                changed_paths: None,
                pull_request: None,
                sender: "dev".into(),
                message: None,
                fork: false,
            },
            status,
            created_ms: 1_700_000_000_000,
            finished_ms: Some(1_700_000_060_000),
            config_source: Some("pipeline:\n  stages: [lint, test]\n".into()),
            config_origin: Some(".bosun.yml@0123456".into()),
            error: None,
            failures: 0,
            stages,
            denials: vec![],
            warnings: vec![],
            notified: true,
            paths_budget_spent: 0,
            rerun_of: None,
        }
    }

    fn stage(name: &str, state: StageState) -> StageRecord {
        StageRecord {
            state,
            attempt: 1,
            ..StageRecord::pending(name)
        }
    }

    fn page(run: RunRecord) -> String {
        let view = RunView {
            run,
            attempts: vec![],
            gates: vec![],
            notifications: vec![],
            events: vec![],
            artifacts: vec![],
        };
        render(&view, 1_700_000_100_000)
    }

    #[test]
    fn a_failed_run_offers_to_rerun_its_failed_stages() {
        let failed = run(
            "r-1",
            RunStatus::Failure,
            vec![
                stage("lint", StageState::Success),
                stage("test", StageState::Failure),
            ],
        );
        let html = page(failed);
        assert!(html.contains("action=\"/runs/r-1/rerun\""), "{html}");
        assert!(html.contains("<option value=\"test\">"), "{html}");
        assert!(!html.contains("<option value=\"lint\">"), "{html}");
        let passed = run(
            "r-2",
            RunStatus::Success,
            vec![stage("lint", StageState::Success)],
        );
        assert!(!page(passed).contains("rerun-form"));
    }

    #[test]
    fn a_rerun_says_what_it_repeats_and_pins_and_marks_reused_stages() {
        let mut lint = stage("lint", StageState::Success);
        lint.reused_from = Some("r-1".into());
        let mut rerun = run(
            "r-3",
            RunStatus::Success,
            vec![lint, stage("test", StageState::Success)],
        );
        rerun.rerun_of = Some(Rerun {
            run_id: "r-1".into(),
            stage: None,
            by: "<b>octo</b>".into(),
            pins: vec![StagePin {
                stage: "test".into(),
                plugin: Some(PluginId {
                    name: "test".into(),
                    version: "1.0.0".into(),
                    digest: format!("sha256:{}", "ab".repeat(32)),
                }),
                grants: None,
            }],
        });
        let html = page(rerun);
        assert!(html.contains("Re-run of run"), "{html}");
        assert!(html.contains("href=\"/runs/r-1\""), "{html}");
        assert!(html.contains("plugin digests pinned"), "{html}");
        assert!(html.contains(".bosun.yml@0123456"), "{html}");
        assert!(html.contains("sha256:abababababab"), "{html}");
        assert!(html.contains("&lt;b&gt;octo"), "escaped: {html}");
        assert!(html.contains("b-reused"), "the lint row is marked: {html}");
    }
}
