//! `/runs/{id}`: one run. Its header, a "why it failed" box (failed tests, blocking
//! findings, policy denials, errored stages) and flaky tests near the top, then the stage
//! timeline in `needs` order; the detail sections are in `run_sections.rs`.

use super::DashboardState;
use super::html::{self, Esc, Nav, Seg, badge, duration, time};
use super::run_sections;
use super::{error_page, ok, read};
use crate::config;
use crate::model::{RunRecord, RunStatus, StageState};
use crate::scheduler::summary;
use crate::service::now_ms;
use crate::store::{ArtifactRow, AttemptRow, EventRow, GateRow, NotificationRow};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bosun_bus::notify::RunSummary;
use std::fmt::Write as _;

/// Everything the run page shows, read in one go.
#[derive(Debug, Clone)]
pub struct RunView {
    /// The run's state.
    pub run: RunRecord,
    /// Its attempts, with reports.
    pub attempts: Vec<AttemptRow>,
    /// Its policy gates.
    pub gates: Vec<GateRow>,
    /// Notifications sent for it.
    pub notifications: Vec<NotificationRow>,
    /// Its audit log.
    pub events: Vec<EventRow>,
    /// The files its stages kept.
    pub artifacts: Vec<ArtifactRow>,
}

/// `GET /runs/{id}`
pub async fn show(State(state): State<DashboardState>, Path(id): Path<String>) -> Response {
    let view = read(&state, |s| {
        let Some(run) = s.run(&id)? else {
            return Ok(None);
        };
        Ok(Some(RunView {
            attempts: s.attempts(&id)?,
            gates: s.gates(&id)?,
            notifications: s.notifications(&id)?,
            events: s.events(&id)?,
            artifacts: s.artifacts(&id)?,
            run,
        }))
    });
    match view {
        Ok(Some(view)) => ok(render(&view, now_ms())),
        Ok(None) => unknown_run(&id),
        Err(failed) => failed.into_response(),
    }
}

/// The 404 page for a run id the store does not know.
pub fn unknown_run(id: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        Nav::Runs,
        "Run not found",
        &format!(
            "There is no run with id {id:?} in this orchestrator's run store. Check the link, \
             or find the run in the runs list by repository and branch."
        ),
    )
}

/// The run page.
pub fn render(view: &RunView, now_ms: u64) -> String {
    let run = &view.run;
    let summary = summary::run_summary(run, &view.attempts, "");
    let mut body = String::new();
    header(&mut body, run, now_ms);
    super::rerun::note(&mut body, run);
    super::rerun::button(&mut body, run);
    super::approvals::waiting(&mut body, view);
    why_it_failed(&mut body, view, &summary);
    flaky(&mut body, &summary);
    timeline(&mut body, run, now_ms);
    run_sections::stages(&mut body, view, now_ms);
    super::artifacts::section(&mut body, &run.id, &view.artifacts);
    run_sections::tests(&mut body, view, &summary);
    run_sections::findings(&mut body, view);
    run_sections::gates(&mut body, view);
    run_sections::notifications(&mut body, view);
    run_sections::events(&mut body, view);
    let live = (!run.status.is_final()).then(|| format!("/runs/{}/live", Seg(&run.id)));
    let title = format!(
        "{} {} {}",
        run.trigger.repository, run.trigger.branch, run.id
    );
    html::page(&title, Nav::Runs, live.as_deref(), &body)
}

fn run_duration(run: &RunRecord, now_ms: u64) -> String {
    match run.finished_ms {
        Some(end) => duration(end.saturating_sub(run.created_ms)),
        None => format!("{} so far", duration(now_ms.saturating_sub(run.created_ms))),
    }
}

fn header(body: &mut String, run: &RunRecord, now_ms: u64) {
    let t = &run.trigger;
    let _ = write!(
        body,
        "<p class=\"muted\"><a href=\"/runs\">Runs</a> › <a href=\"/runs?repo={}\">{}</a></p>\
         <h1>{} {} <span class=\"muted\">·</span> {}</h1><dl class=\"meta box\">",
        Seg(&t.repository),
        Esc(&t.repository),
        badge(run.status.as_str()),
        Esc(&t.repository),
        Esc(&t.branch),
    );
    let mut row = |label: &str, value: String| {
        let _ = write!(body, "<dt>{label}</dt><dd>{value}</dd>");
    };
    row(
        "Run",
        format!("<span class=\"mono\">{}</span>", Esc(&run.id)),
    );
    row(
        "Branch",
        format!("<span class=\"mono\">{}</span>", Esc(&t.branch)),
    );
    row(
        "Commit",
        format!("<span class=\"mono\">{}</span>", Esc(&t.commit)),
    );
    if let Some(message) = &t.message {
        row("Message", Esc(message).to_string());
    }
    let mut trigger = Esc(&t.event).to_string();
    if let Some(number) = t.pull_request {
        let _ = write!(trigger, " #{number}");
    }
    if !t.sender.is_empty() {
        let _ = write!(trigger, " by {}", Esc(&t.sender));
    }
    row("Trigger", trigger);
    row("Started", time(run.created_ms));
    row("Duration", run_duration(run, now_ms));
    if let Some(origin) = &run.config_origin {
        row(
            "Config",
            format!("<span class=\"mono\">{}</span>", Esc(origin)),
        );
    }
    if let Some(reason) = &run.error {
        let label = match run.status {
            RunStatus::Halted => "Halted because",
            RunStatus::Cancelled => "Cancelled because",
            _ => "Reason",
        };
        row(label, format!("<strong>{}</strong>", Esc(reason)));
    }
    body.push_str("</dl>");
}

/// The box a user opens a failed run for: what to fix, before any detail.
fn why_it_failed(body: &mut String, view: &RunView, summary: &RunSummary) {
    let run = &view.run;
    if matches!(
        run.status,
        RunStatus::Success | RunStatus::AwaitingApproval | RunStatus::Queued | RunStatus::Running
    ) {
        return;
    }
    body.push_str("<div class=\"box why\" id=\"why\"><h2>Why it failed</h2>");
    if let Some(reason) = &run.error {
        let _ = write!(body, "<p><strong>{}</strong></p>", Esc(reason));
    }
    if !summary.policy_denials.is_empty() {
        body.push_str("<h3>Policy denials</h3><ul>");
        for denial in &summary.policy_denials {
            let _ = write!(body, "<li>{}</li>", Esc(denial));
        }
        body.push_str("</ul>");
    }
    if !summary.failed_tests.is_empty() {
        body.push_str("<h3>Failed tests</h3><table><tr><th>Test</th><th>Message</th></tr>");
        for test in &summary.failed_tests {
            let _ = write!(
                body,
                "<tr><td class=\"mono\">{}</td><td><pre>{}</pre></td></tr>",
                Esc(&run_sections::test_name(test)),
                Esc(&test.message)
            );
        }
        body.push_str("</table>");
    }
    if !summary.blocking_findings.is_empty() {
        body.push_str(
            "<h3>Blocking findings</h3><table><tr><th>Severity</th><th>Id</th>\
             <th>Where</th><th>Fixed in</th><th>Message</th></tr>",
        );
        for finding in &summary.blocking_findings {
            run_sections::finding_row(body, finding);
        }
        body.push_str("</table>");
    }
    let errored: Vec<&AttemptRow> = run
        .stages
        .iter()
        .filter(|s| s.state == StageState::Errored)
        .filter_map(|s| {
            view.attempts
                .iter()
                .filter(|a| a.stage == s.name)
                .max_by_key(|a| a.attempt)
        })
        .collect();
    if !errored.is_empty() {
        body.push_str("<h3>Stages that could not run</h3><ul>");
        for attempt in errored {
            let _ = write!(
                body,
                "<li><a href=\"#stage-{}\">{}</a>: {} — {} (<a href=\"{}\">logs</a>)</li>",
                Seg(&attempt.stage),
                Esc(&attempt.stage),
                Esc(attempt.failure_kind.as_deref().unwrap_or("error")),
                Esc(attempt.failure_message.as_deref().unwrap_or("")),
                run_sections::logs_href(&run.id, attempt),
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("</div>");
}

fn flaky(body: &mut String, summary: &RunSummary) {
    if summary.flaky_tests.is_empty() {
        return;
    }
    body.push_str(
        "<div class=\"box\" id=\"flaky\"><h2>Flaky tests</h2><p class=\"muted\">Failed in an \
         earlier attempt, passed on the retry.</p><ul>",
    );
    for name in &summary.flaky_tests {
        let _ = write!(body, "<li class=\"mono\">{}</li>", Esc(name));
    }
    body.push_str("</ul></div>");
}

/// Stages in parallel waves from the run's own config (`needs`), each with its state,
/// attempts and a bar placed on the run's time span.
fn timeline(body: &mut String, run: &RunRecord, now_ms: u64) {
    let waves: Vec<Vec<String>> = run
        .config_source
        .as_deref()
        .and_then(|text| {
            let origin = run.config_origin.as_deref().unwrap_or(config::CONFIG_FILE);
            config::parse(origin, text).ok()
        })
        .map(|pipeline| {
            pipeline
                .waves()
                .into_iter()
                .map(|wave| wave.into_iter().map(str::to_string).collect())
                .collect()
        })
        // Without a parsable config, one wave per stage in pipeline order.
        .unwrap_or_else(|| run.stages.iter().map(|s| vec![s.name.clone()]).collect());
    body.push_str("<h2>Stages</h2>");
    if run.stages.is_empty() {
        body.push_str("<div class=\"box muted\">No stages yet: the pipeline config is being loaded, or could not be.</div>");
        return;
    }
    let start = run.created_ms;
    let end = run.finished_ms.unwrap_or(now_ms).max(start + 1);
    let span = (end - start) as f64;
    body.push_str(
        "<table id=\"timeline\"><tr><th>Wave</th><th>Stage</th><th>State</th><th>Attempts</th>\
         <th>Duration</th><th style=\"width:30%\">Timeline</th><th>Summary</th></tr>",
    );
    for (index, wave) in waves.iter().enumerate() {
        for name in wave {
            let Some(stage) = run.stage(name) else {
                continue;
            };
            let state = serde_json::to_value(stage.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let (took, bar) = match stage.started_ms {
                Some(began) => {
                    let finished = stage.finished_ms.unwrap_or(end);
                    let left = began.saturating_sub(start) as f64 / span * 100.0;
                    let width = (finished.saturating_sub(began) as f64 / span * 100.0).max(0.5);
                    (
                        duration(finished.saturating_sub(began)),
                        format!(
                            "<div class=\"bar {state}\" style=\"left:{left:.1}%;width:{:.1}%\"></div>",
                            width.min(100.0 - left)
                        ),
                    )
                }
                None => (String::from("—"), String::new()),
            };
            let mut notes = Esc(&stage.summary).to_string();
            if stage.blocked {
                notes.push_str(" <span class=\"muted\">(a stage it needs did not pass)</span>");
            }
            notes.push_str(&super::rerun::reused_marker(stage));
            if let Some(rollback) = stage.rollback {
                let _ = write!(
                    notes,
                    " <span class=\"muted\">rollback: {rollback:?}</span>"
                );
            }
            let _ = write!(
                body,
                "<tr><td class=\"wave\">{}</td><td><a href=\"#stage-{}\">{}</a></td><td>{}</td>\
                 <td>{}</td><td>{took}</td><td><div class=\"track\">{bar}</div></td><td class=\"wrap\">{notes}</td></tr>",
                index + 1,
                Seg(name),
                Esc(name),
                badge(&state),
                stage.attempt,
            );
        }
    }
    body.push_str("</table>");
}
