//! `/stats`: successes and failures per repository and per stage, day by day over the
//! last 14 days, and the average time each stage's attempts take.

use super::DashboardState;
use super::html::{self, Esc, Nav, date, duration};
use super::{ok, read};
use crate::service::now_ms;
use crate::store::{DailyCount, StageDuration};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Days the page covers, today included.
pub const DAYS: u64 = 14;

const DAY_MS: u64 = 86_400_000;

/// What the stats page shows.
#[derive(Debug, Clone)]
pub struct StatsView {
    /// Runs by day, repository and status.
    pub runs: Vec<DailyCount>,
    /// Attempts by day, stage and outcome.
    pub attempts: Vec<DailyCount>,
    /// Plugin time per stage.
    pub durations: Vec<StageDuration>,
    /// Day number (since the epoch) of the first day shown.
    pub first_day: u64,
}

/// `GET /stats`
pub async fn show(State(state): State<DashboardState>) -> Response {
    let first_day = (now_ms() / DAY_MS).saturating_sub(DAYS - 1);
    let since = first_day * DAY_MS;
    let view = read(&state, |s| {
        Ok(StatsView {
            runs: s.runs_per_day(since)?,
            attempts: s.attempts_per_day(since)?,
            durations: s.stage_durations(since)?,
            first_day,
        })
    });
    match view {
        Ok(view) => ok(render(&view)),
        Err(failed) => failed.into_response(),
    }
}

/// Passed and failed counts of one group (a repository or a stage), per day.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    other: u64,
    by_day: BTreeMap<String, (u64, u64)>,
}

fn tally(counts: &[DailyCount]) -> BTreeMap<&str, Tally> {
    let mut groups: BTreeMap<&str, Tally> = BTreeMap::new();
    for count in counts {
        let tally = groups.entry(count.group.as_str()).or_default();
        let day = tally.by_day.entry(count.day.clone()).or_default();
        match count.outcome.as_str() {
            "success" | "skipped" => {
                tally.passed += count.count;
                day.0 += count.count;
            }
            "failure" | "error" | "halted" | "config-error" => {
                tally.failed += count.count;
                day.1 += count.count;
            }
            _ => tally.other += count.count,
        }
    }
    groups
}

fn table(body: &mut String, id: &str, what: &str, counts: &[DailyCount], days: &[String]) {
    let groups = tally(counts);
    if groups.is_empty() {
        let _ = write!(
            body,
            "<div class=\"box muted\">No {what} in the last {DAYS} days.</div>"
        );
        return;
    }
    let _ = write!(
        body,
        "<table id=\"{id}\"><tr><th>{}</th><th>Passed</th><th>Failed</th><th>Other</th>\
         <th>Success rate</th><th>Per day, oldest first (passed/failed)</th></tr>",
        if id == "per-repository" {
            "Repository"
        } else {
            "Stage"
        }
    );
    for (name, tally) in &groups {
        let settled = tally.passed + tally.failed;
        let rate = if settled == 0 {
            "—".to_string()
        } else {
            format!("{:.0}%", tally.passed as f64 * 100.0 / settled as f64)
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rate}</td><td><div class=\"cells\">",
            Esc(name),
            tally.passed,
            tally.failed,
            tally.other
        );
        for day in days {
            let (passed, failed) = tally.by_day.get(day).copied().unwrap_or_default();
            let class = match (passed, failed) {
                (0, 0) => "none",
                (_, 0) => "ok",
                _ => "ko",
            };
            let text = if passed + failed == 0 {
                "·".to_string()
            } else {
                format!("{passed}/{failed}")
            };
            let _ = write!(
                body,
                "<span class=\"cell {class}\" title=\"{day}: {passed} passed, {failed} failed\">{text}</span>"
            );
        }
        body.push_str("</div></td></tr>");
    }
    body.push_str("</table>");
}

/// The stats page.
pub fn render(view: &StatsView) -> String {
    let days: Vec<String> = (0..DAYS)
        .map(|offset| date((view.first_day + offset) as i64))
        .collect();
    let mut body = format!(
        "<h1>Stats</h1><p class=\"muted\">The last {DAYS} days, {} to {} (UTC).</p>",
        days.first().map(String::as_str).unwrap_or_default(),
        days.last().map(String::as_str).unwrap_or_default()
    );
    body.push_str("<h2>Runs per repository</h2>");
    table(&mut body, "per-repository", "runs", &view.runs, &days);
    body.push_str("<h2>Attempts per stage</h2>");
    table(&mut body, "per-stage", "attempts", &view.attempts, &days);
    body.push_str("<h2>Average stage durations</h2>");
    if view.durations.is_empty() {
        body.push_str("<div class=\"box muted\">No settled attempts yet.</div>");
    } else {
        let longest = view
            .durations
            .iter()
            .map(|d| d.average_ms)
            .fold(1.0_f64, f64::max);
        body.push_str(
            "<table id=\"durations\"><tr><th>Stage</th><th>Attempts</th><th>Average</th><th>Longest</th>\
             <th style=\"width:40%\"></th></tr>",
        );
        for d in &view.durations {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><div class=\"track\">\
                 <div class=\"bar\" style=\"left:0;width:{:.1}%\"></div></div></td></tr>",
                Esc(&d.stage),
                d.attempts,
                duration(d.average_ms.round() as u64),
                duration(d.max_ms),
                d.average_ms / longest * 100.0
            );
        }
        body.push_str("</table>");
    }
    html::page("Stats", Nav::Stats, None, &body)
}
