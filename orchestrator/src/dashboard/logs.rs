//! `/runs/{id}/stages/{stage}/attempts/{n}/logs`: one attempt's log lines (tool output
//! and plugin log lines), as the agent masked and capped them; while the attempt runs,
//! the page follows its live stream (`live_logs.rs`) with a small script.

use super::DashboardState;
use super::html::{self, Esc, Nav, Seg, badge, short_digest};
use super::{error_page, ok, read};
use crate::store::AttemptRow;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bosun_bus::{LogLevel, LogLine};
use std::fmt::Write as _;

/// `GET /runs/{id}/stages/{stage}/attempts/{attempt}/logs`
pub async fn show(
    State(state): State<DashboardState>,
    Path((id, stage, attempt)): Path<(String, String, String)>,
) -> Response {
    let missing = || {
        error_page(
            StatusCode::NOT_FOUND,
            Nav::Runs,
            "Attempt not found",
            &format!(
                "Run {id:?} has no attempt {attempt:?} of stage {stage:?}. The run page lists \
                 every attempt with a link to its logs."
            ),
        )
    };
    let Ok(number) = attempt.parse::<u32>() else {
        return missing();
    };
    let found = read(&state, |s| {
        let row = s
            .attempts(&id)?
            .into_iter()
            .find(|a| a.stage == stage && a.attempt == number);
        let logs = s.attempt_logs(&id, &stage, number)?;
        Ok(row.zip(logs))
    });
    match found {
        Ok(Some((row, lines))) => ok(render(&id, &row, &lines)),
        Ok(None) => missing(),
        Err(failed) => failed.into_response(),
    }
}

fn level_word(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// Appends each streamed line to the table as text (never as HTML); the stream's URL
/// comes from an attribute, so no data lands inside the script. The stream ends with
/// the attempt, having sent the rest of its result's log.
const FOLLOW_SCRIPT: &str = "<script>(()=>{const t=document.getElementById('logs');\
const u=t&&t.dataset.follow;const f=document.getElementById('follow-state');if(!u||!window.EventSource)return;\
const s=new EventSource(u);const row=(c,cells,pre)=>{const r=t.insertRow();r.className=c;\
cells.forEach(v=>{r.insertCell().textContent=v;});const p=document.createElement('pre');p.textContent=pre;\
r.insertCell().appendChild(p);};\
s.addEventListener('line',e=>{const l=JSON.parse(e.data);row('lvl-'+l.level,[l.at_ms,l.level,l.source],l.message);});\
s.addEventListener('gap',e=>{const g=JSON.parse(e.data);row('lvl-warn',['','','host'],\
'… '+(g.to-g.from)+' line(s) were not streamed live');});\
s.addEventListener('end',()=>{s.close();f.textContent='The attempt ended: reload the page for its outcome.';});})();</script>";

/// The logs page.
pub fn render(run_id: &str, attempt: &AttemptRow, lines: &[LogLine]) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"muted\"><a href=\"/runs\">Runs</a> › <a href=\"/runs/{}\">{}</a> › \
         <a href=\"/runs/{}#stage-{}\">{}</a></p><h1>Logs of {} attempt {} {}</h1>",
        Seg(run_id),
        Esc(run_id),
        Seg(run_id),
        Seg(&attempt.stage),
        Esc(&attempt.stage),
        Esc(&attempt.stage),
        attempt.attempt,
        badge(attempt.outcome.as_deref().unwrap_or("running")),
    );
    let mut who = Vec::new();
    if let Some(agent) = &attempt.agent_id {
        who.push(format!("agent <span class=\"mono\">{}</span>", Esc(agent)));
    }
    if let Some(name) = &attempt.plugin_name {
        who.push(format!(
            "plugin <span class=\"mono\">{}@{}</span>",
            Esc(name),
            Esc(attempt.plugin_version.as_deref().unwrap_or("?"))
        ));
    }
    if let Some(digest) = &attempt.plugin_digest {
        who.push(format!(
            "<span class=\"mono\" title=\"{}\">{}</span>",
            Esc(digest),
            Esc(&short_digest(digest))
        ));
    }
    if let Some(message) = &attempt.failure_message {
        who.push(format!("failure: {}", Esc(message)));
    }
    if !who.is_empty() {
        let _ = write!(body, "<p>{}</p>", who.join(" · "));
    }
    if attempt.settled_ms.is_none() && attempt.reused_from.is_none() {
        // Still running: the script fills the table from the live stream, from the start.
        let _ = write!(
            body,
            "<p id=\"follow-state\" class=\"muted\">Following the attempt live…</p>\
             <table id=\"logs\" data-follow=\"/runs/{}/stages/{}/attempts/{}/logs/live\">\
             <tr><th>+ms</th><th>Level</th><th>Source</th><th>Line</th></tr></table>{FOLLOW_SCRIPT}",
            Seg(run_id),
            Seg(&attempt.stage),
            attempt.attempt,
        );
    } else if lines.is_empty() {
        body.push_str(
            "<div class=\"box muted\">No log lines were recorded for this attempt.</div>",
        );
    } else {
        body.push_str(
            "<table id=\"logs\"><tr><th>+ms</th><th>Level</th><th>Source</th><th>Line</th></tr>",
        );
        for line in lines {
            let level = level_word(line.level);
            let _ = write!(
                body,
                "<tr class=\"lvl-{level}\"><td class=\"mono\">{}</td><td>{level}</td><td>{}</td>\
                 <td><pre>{}</pre></td></tr>",
                line.at_ms,
                Esc(&line.source),
                Esc(&line.message)
            );
        }
        body.push_str("</table>");
    }
    let title = format!("Logs {} {} #{}", run_id, attempt.stage, attempt.attempt);
    html::page(&title, Nav::Runs, None, &body)
}
